package salesforce

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// bulkFake answers describe for Thing__c and serves results pages from
// pages (by locator; "" is the first), with the given next locators.
func bulkFake(t *testing.T, pages map[string]string, next map[string]string) *fakeOrg {
	return newFake(t, func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasSuffix(r.URL.Path, "/describe"):
			writeJSON(w, 200, map[string]any{"name": "Thing__c", "fields": []map[string]any{
				{"name": "Id", "type": "id"}, {"name": "Flag__c", "type": "boolean"}, {"name": "N__c", "type": "int"},
				{"name": "Amount__c", "type": "currency"}, {"name": "Day__c", "type": "date"}, {"name": "At__c", "type": "datetime"},
				{"name": "Note__c", "type": "textarea"},
			}})
		case strings.HasSuffix(r.URL.Path, "/results"):
			if r.Header.Get("Accept") != "text/csv" {
				t.Errorf("Accept %q", r.Header.Get("Accept"))
			}
			loc := r.URL.Query().Get("locator")
			body, ok := pages[loc]
			if !ok {
				writeErr(w, 400, "API_ERROR", "Invalid locator value")
				return
			}
			w.Header().Set("Sforce-Locator", next[loc])
			// Rows start with a quoted id (values with newlines do not).
			w.Header().Set("Sforce-NumberOfRecords", fmt.Sprint(strings.Count(body, "\n\"a01")))
			w.Header().Set("Content-Type", "text/csv; charset=UTF-8")
			fmt.Fprint(w, body)
		default:
			writeErr(w, 404, "NOT_FOUND", "The requested resource does not exist")
		}
	})
}

// Values are typed from describe; null is an empty value, quoted or not;
// NUL bytes are dropped; CRLF and other delimiters are read; a short page
// is not the end, only the literal locator "null" is; relationship
// columns stay strings.
func TestBulkCSVTyping(t *testing.T) {
	f := bulkFake(t, map[string]string{
		"": "\"Id\";\"Flag__c\";\"N__c\";\"Amount__c\";\"Day__c\";\"At__c\";\"Note__c\";\"Owner.Name\"\r\n" +
			"\"a01A\";\"true\";\"42\";\"12.50\";\"2024-02-29\";\"2024-09-24T03:26:07.000Z\";\"x;\"\"y\"\"\r\nz\";\"Ann\"\r\n" +
			"\"a01B\";\"false\";\"7.0\";;\"\";\"\";\"\x00nul\";\r\n",
		"L2": "\"Id\";\"Flag__c\";\"N__c\";\"Amount__c\";\"Day__c\";\"At__c\";\"Note__c\";\"Owner.Name\"\r\n" +
			"\"a01C\";;;;;;;\r\n",
	}, map[string]string{"": "L2", "L2": "null"})
	c := f.client()
	job := QueryJob{ID: "750A", Object: "Thing__c", State: JobComplete, ColumnDelimiter: "SEMICOLON", LineEnding: "CRLF", NumberRecordsProcessed: 3}
	var rows []map[string]any
	for row, err := range c.QueryResults(context.Background(), job, "", WithMaxRecords(2), WithPollInterval(time.Millisecond, time.Millisecond)) {
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, row.Map())
	}
	if len(rows) != 3 {
		t.Fatalf("%d rows: %v", len(rows), rows)
	}
	want0 := map[string]any{"Id": "a01A", "Flag__c": true, "N__c": int64(42), "Amount__c": 12.5,
		"Day__c": time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC), "At__c": time.Date(2024, 9, 24, 3, 26, 7, 0, time.UTC),
		"Note__c": "x;\"y\"\nz", "Owner.Name": "Ann"}
	for k, v := range want0 {
		if got := rows[0][k]; got != v {
			t.Errorf("row 0 %s = %#v, want %#v", k, got, v)
		}
	}
	if rows[1]["N__c"] != 7.0 || rows[1]["Amount__c"] != nil || rows[1]["Day__c"] != nil || rows[1]["Note__c"] != "nul" || rows[1]["Owner.Name"] != nil {
		t.Errorf("row 1 = %#v", rows[1])
	}
	for k, v := range rows[2] {
		if k != "Id" && v != nil {
			t.Errorf("row 2 %s = %#v, want nil", k, v)
		}
	}
	if q := f.requests()[1].RawQuery; q != "maxRecords=2" {
		t.Errorf("first page query %q", q)
	}
}

// A value its column's type does not parse fails the read, names the
// column, and makes the next read describe again.
func TestBulkCSVBadValue(t *testing.T) {
	f := bulkFake(t, map[string]string{"": "\"Id\",\"N__c\"\n\"a01A\",\"many\"\n"}, map[string]string{"": "null"})
	c := f.client()
	job := QueryJob{ID: "750A", Object: "Thing__c", State: JobComplete}
	for _, err := range c.QueryResults(context.Background(), job, "") {
		if err == nil || !strings.Contains(err.Error(), `column N__c: "many" is not a number`) {
			t.Errorf("bad value: %v", err)
		}
	}
	before := len(f.requests())
	for range c.QueryResults(context.Background(), job, "") {
	}
	if n := len(f.requests()) - before; n != 2 {
		t.Errorf("after a bad value: %d requests, want describe and the page", n)
	}
}

func TestFastTime(t *testing.T) {
	for _, s := range []string{"2024-02-29", "2024-09-24T03:26:07.000Z", "2024-09-24T03:26:07.123Z", "1999-12-31T23:59:59.999Z"} {
		got, ok := fastTime(s)
		want, err := ParseDateTime(s)
		if !ok || err != nil || !got.Equal(want) || got.Location() != time.UTC {
			t.Errorf("%s: %v %v, want %v", s, got, ok, want)
		}
	}
	for _, s := range []string{"2023-02-29", "2024-13-01", "2024-09-24T24:00:00.000Z", "2024-09-24T03:26:07Z", "2024-09-24T03:26:07.000+0000", "20x4-01-01"} {
		if _, ok := fastTime(s); ok {
			t.Errorf("%s parsed", s)
		}
	}
}

// Only the locator "null" ends the results: a page without one is an
// error, retried and then returned, never a silent end.
func TestBulkMissingLocator(t *testing.T) {
	f := bulkFake(t, map[string]string{"": "\"Id\"\n\"a01A\"\n"}, map[string]string{})
	c := f.client()
	job := QueryJob{ID: "750A", Object: "Thing__c", State: JobComplete}
	var last error
	for _, err := range c.QueryResults(context.Background(), job, "", WithPageRetries(1), WithPollInterval(time.Millisecond, time.Millisecond)) {
		last = err
	}
	if last == nil || !strings.Contains(last.Error(), "no Sforce-Locator header") {
		t.Errorf("missing locator: %v", last)
	}
	if n := len(f.requests()); n != 3 {
		t.Errorf("%d requests, want describe and two tries", n)
	}
}
