package salesforce

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/throttle"
)

// pagedQuery answers /query and /queryAll with three pages of two records.
func pagedQuery(t *testing.T) *fakeOrg {
	return newFake(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			t.Errorf("method %s", r.Method)
		}
		page := func(n int, next string) {
			recs := []any{}
			for i := range 2 {
				recs = append(recs, map[string]any{"attributes": map[string]any{"type": "Account"}, "Id": fmt.Sprintf("001%d%d", n, i)})
			}
			body := map[string]any{"totalSize": 6, "done": next == "", "records": recs}
			if next != "" {
				body["nextRecordsUrl"] = next
			}
			writeJSON(w, http.StatusOK, body)
		}
		switch r.URL.Path {
		case dataPath + "/query", dataPath + "/queryAll":
			if r.URL.Query().Get("q") != "SELECT Id FROM Account WHERE Name = 'a b'" {
				writeErr(w, http.StatusBadRequest, "MALFORMED_QUERY", "unexpected token")
				return
			}
			page(0, dataPath+"/query/01gRO0000016PIAYA2-2")
		case dataPath + "/query/01gRO0000016PIAYA2-2":
			page(1, dataPath+"/query/01gRO0000016PIAYA2-4")
		case dataPath + "/query/01gRO0000016PIAYA2-4":
			page(2, "")
		default:
			writeErr(w, http.StatusNotFound, "NOT_FOUND", "no such path "+r.URL.Path)
		}
	})
}

func TestQueryPagination(t *testing.T) {
	f := pagedQuery(t)
	c := f.client()
	for _, all := range []bool{false, true} {
		seq := c.Query(context.Background(), "SELECT Id FROM Account WHERE Name = 'a b'")
		if all {
			seq = c.QueryAll(context.Background(), "SELECT Id FROM Account WHERE Name = 'a b'")
		}
		var ids []string
		for rec, err := range seq {
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, rec["Id"].(string))
		}
		if strings.Join(ids, ",") != "00100,00101,00110,00111,00120,00121" {
			t.Errorf("all=%v: ids %v", all, ids)
		}
	}
	reqs := f.requests()
	if len(reqs) != 6 || reqs[0].Path != dataPath+"/query" || reqs[3].Path != dataPath+"/queryAll" {
		t.Errorf("requests %+v", reqs)
	}
}

func TestQueryStopsEarly(t *testing.T) {
	f := pagedQuery(t)
	n := 0
	for _, err := range f.client().Query(context.Background(), "SELECT Id FROM Account WHERE Name = 'a b'") {
		if err != nil {
			t.Fatal(err)
		}
		if n++; n == 3 {
			break
		}
	}
	if got := f.calls.Load(); got != 2 {
		t.Errorf("%d calls after breaking on the third record, want 2", got)
	}
}

func TestQueryError(t *testing.T) {
	f := pagedQuery(t)
	var errs []error
	for rec, err := range f.client().Query(context.Background(), "SELECT Id FROM Account WHERE Name = 'a") {
		if rec != nil {
			t.Errorf("record %v", rec)
		}
		errs = append(errs, err)
	}
	if len(errs) != 1 || sfsync.KindOf(errs[0]) != sfsync.KindPermanent || !strings.Contains(errs[0].Error(), "MALFORMED_QUERY") {
		t.Errorf("errors %v", errs)
	}
}

func TestQueryRejectsForeignNextURL(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"done": false, "nextRecordsUrl": "https://evil.example/steal", "records": []any{}})
	})
	var err error
	for _, e := range f.client().Query(context.Background(), "SELECT Id FROM Account") {
		err = e
	}
	if err == nil || f.calls.Load() != 1 {
		t.Errorf("err %v after %d calls", err, f.calls.Load())
	}
}

func TestQueryRepeatedNextURL(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"done": false, "nextRecordsUrl": dataPath + "/query/01g-2", "records": []any{}})
	})
	var err error
	for _, e := range f.client().Query(context.Background(), "SELECT Id FROM Account") {
		err = e
	}
	if err == nil || f.calls.Load() != 2 {
		t.Errorf("err %v after %d calls", err, f.calls.Load())
	}
}

func TestQuote(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", `''`},
		{"plain", `'plain'`},
		{"O'Brien", `'O\'Brien'`},
		{`back\slash`, `'back\\slash'`},
		{`say "hi"`, `'say \"hi\"'`},
		{"a\nb\rc\td", `'a\nb\rc\td'`},
		{"\b\f", `'\b\f'`},
		{`\'`, `'\\\''`},
		{"50% _x_", `'50% _x_'`},
		{"日本", `'日本'`},
		{`' OR Name != '`, `'\' OR Name != \''`},
	}
	for _, tt := range tests {
		if got := Quote(tt.in); got != tt.want {
			t.Errorf("Quote(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
	if got := QuoteList([]string{"a", "b'c"}); got != `('a','b\'c')` {
		t.Errorf("QuoteList = %s", got)
	}
	if got := QuoteList(nil); got != "()" {
		t.Errorf("QuoteList(nil) = %s", got)
	}
}

// unquoteSOQL scans a SOQL string literal at the start of s as a SOQL
// parser would and returns its value and the rest of s after the closing
// quote.
func unquoteSOQL(s string) (val, rest string, ok bool) {
	if len(s) == 0 || s[0] != '\'' {
		return "", "", false
	}
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch c := s[i]; c {
		case '\'':
			return b.String(), s[i+1:], true
		case '\n', '\r':
			return "", "", false // raw line breaks are not allowed in literals
		case '\\':
			if i+1 == len(s) {
				return "", "", false
			}
			i++
			esc, ok := map[byte]byte{'n': '\n', 'r': '\r', 't': '\t', 'b': '\b', 'f': '\f', '"': '"', '\'': '\'', '\\': '\\'}[s[i]]
			if !ok {
				return "", "", false
			}
			b.WriteByte(esc)
		default:
			b.WriteByte(c)
		}
	}
	return "", "", false
}

func FuzzQuote(f *testing.F) {
	for _, s := range []string{"", "a", "'", `\`, `\'`, `'\`, "\n", `"`, "' OR Id != '", "\\\\'", "x\x00y", "\xff'"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q := Quote(s)
		val, rest, ok := unquoteSOQL(q + " AND Id != null")
		if !ok || rest != " AND Id != null" || val != s {
			t.Fatalf("Quote(%q) = %s: literal %q ok=%v, rest %q", s, q, val, ok, rest)
		}
	})
}

func TestDateTimes(t *testing.T) {
	ts := time.Date(2024, 5, 1, 2, 3, 4, 500, time.FixedZone("X", 2*3600))
	if got := FormatDateTime(ts); got != "2024-05-01T00:03:04Z" {
		t.Errorf("FormatDateTime = %s", got)
	}
	for in, want := range map[string]time.Time{
		"2013-05-20T20:49:32.000+0000":  time.Date(2013, 5, 20, 20, 49, 32, 0, time.UTC),
		"2013-05-20T22:49:32.123+0200":  time.Date(2013, 5, 20, 20, 49, 32, 123e6, time.UTC),
		"2013-05-20T20:49:32Z":          time.Date(2013, 5, 20, 20, 49, 32, 0, time.UTC),
		"2013-05-20T20:49:32.5+00:00":   time.Date(2013, 5, 20, 20, 49, 32, 5e8, time.UTC),
		"2013-05-20":                    time.Date(2013, 5, 20, 0, 0, 0, 0, time.UTC),
		"2013-05-20T20:49:32.000-0100":  time.Date(2013, 5, 20, 21, 49, 32, 0, time.UTC),
		"2013-05-20T20:49:32.000Z":      time.Date(2013, 5, 20, 20, 49, 32, 0, time.UTC),
		"2013-05-20T20:49:32.000+00:00": time.Date(2013, 5, 20, 20, 49, 32, 0, time.UTC),
	} {
		got, err := ParseDateTime(in)
		if err != nil || !got.Equal(want) || got.Location() != time.UTC {
			t.Errorf("ParseDateTime(%s) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := ParseDateTime("yesterday"); err == nil {
		t.Error("ParseDateTime accepted garbage")
	}
}

func TestGetUpdated(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != dataPath+"/sobjects/Account/updated/" {
			t.Errorf("path %s", r.URL.Path)
		}
		if r.URL.RawQuery != "end=2024-05-02T00%3A00%3A00%2B00%3A00&start=2024-05-01T00%3A00%3A00%2B00%3A00" {
			t.Errorf("query %s", r.URL.RawQuery)
		}
		writeJSON(w, http.StatusOK, map[string]any{"ids": []string{"001A", "001B"}, "latestDateCovered": "2024-05-01T23:55:00.000+0000"})
	})
	start := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	c := f.client()
	ctx := WithPriority(context.Background(), throttle.PriorityLow)
	u, err := c.GetUpdated(ctx, "Account", start, start.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(u.IDs, ",") != "001A,001B" || !u.LatestDateCovered.Equal(time.Date(2024, 5, 1, 23, 55, 0, 0, time.UTC)) {
		t.Errorf("updated %+v", u)
	}
	if _, err := c.GetUpdated(ctx, "Account", start, start); !errors.Is(err, sfsync.ErrInvalid) {
		t.Errorf("empty window: %v", err)
	}
}

func TestGetDeleted(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != dataPath+"/sobjects/Contact/deleted/" {
			t.Errorf("path %s", r.URL.Path)
		}
		if r.URL.Query().Get("start") != "2024-05-01T00:00:00+00:00" {
			t.Errorf("start %q", r.URL.Query().Get("start"))
		}
		writeJSON(w, http.StatusOK, map[string]any{
			"deletedRecords":        []any{map[string]any{"id": "003A", "deletedDate": "2024-05-01T10:00:00.000+0000"}},
			"earliestDateAvailable": "2024-04-20T00:00:00.000+0000",
			"latestDateCovered":     "2024-05-02T00:00:00.000+0000",
		})
	})
	start := time.Date(2024, 5, 1, 2, 0, 0, 0, time.FixedZone("X", 2*3600))
	d, err := f.client().GetDeleted(context.Background(), "Contact", start, start.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Records) != 1 || d.Records[0].ID != "003A" || d.Records[0].DeletedDate.Hour() != 10 ||
		d.EarliestDateAvailable.Day() != 20 || d.LatestDateCovered.Day() != 2 {
		t.Errorf("deleted %+v", d)
	}
}

func TestGetDeletedBadDate(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"deletedRecords": []any{}, "latestDateCovered": "soon"})
	})
	start := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	if _, err := f.client().GetDeleted(context.Background(), "Contact", start, start.Add(time.Hour)); err == nil {
		t.Error("bad date accepted")
	}
}
