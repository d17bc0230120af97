package codec

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/sfsync/sfsync"
)

func TestTextRoundTrips(t *testing.T) {
	for _, s := range []string{"", "plain", "nul\x00", "\xff\xfe", marker, marker + "x", marker + `"q"`, marker + cutTag + "1", "ünïcödé", strings.Repeat("x", KeyLimit)} {
		enc := Key(s)
		if !Clean(enc) || len(enc) > KeyLimit {
			t.Errorf("Key(%q) = %q: not clean or too long", s, enc)
		}
		if got := FromText(enc); got != s {
			t.Errorf("FromText(Key(%q)) = %q", s, got)
		}
	}
}

func TestTextCutsWhatIsTooLong(t *testing.T) {
	long := strings.Repeat("\xff", 3*KeyLimit)
	a, b := Key(long), Key(long[:len(long)-1])
	if !IsCut(a) || !Clean(a) || len(a) > KeyLimit || a == b {
		t.Errorf("Key of %d bytes = %q (%d bytes); want a clean description of at most %d bytes, distinct from a shorter text's", len(long), a, len(a), KeyLimit)
	}
	if FromText(a) != a {
		t.Error("a description does not decode to itself")
	}
}

func FuzzText(f *testing.F) {
	f.Add("a\x00b", 200)
	f.Fuzz(func(t *testing.T, s string, limit int) {
		limit = min(max(limit, 0), 1<<16)
		enc := Text(s, limit)
		if !utf8.ValidString(enc) || strings.IndexByte(enc, 0) >= 0 || len(enc) > max(limit, 128) {
			t.Fatalf("Text(%q, %d) = %q", s, limit, enc)
		}
		if !IsCut(enc) && FromText(enc) != s {
			t.Fatalf("FromText(Text(%q)) = %q", s, FromText(enc))
		}
	})
}

func TestDecodesPlainJSONOfOlderStores(t *testing.T) {
	c := sfsync.Change{Source: sfsync.Salesforce, Object: "Contact", RecordID: "003A", Op: sfsync.OpUpdate, Key: "k",
		Fields: map[string]any{"Phone": "1", "N": 2.0, "Nested": map[string]any{"a": []any{true}}}, Nulled: []string{"Fax"},
		Version:  sfsync.Version{Time: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC), Seq: 7},
		Position: sfsync.Position{Stream: "s", Token: []byte{1}}}
	old, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeChange(old)
	if err != nil {
		t.Fatal(err)
	}
	if got.Key != "k" || got.Fields["Phone"] != "1" || got.Fields["N"] != 2.0 || !got.Version.Time.Equal(c.Version.Time) ||
		!bytes.Equal(got.Position.Token, []byte{1}) || got.Nulled[0] != "Fax" {
		t.Errorf("decoded %+v", got)
	}
}

func TestEncodedChangeIsJSONBSafe(t *testing.T) {
	c := sfsync.Change{Key: "k\x00", RecordID: "\xff", Fields: map[string]any{"a\x00": "b\x00", "f": math.NaN(), "t": time.Date(20000, 1, 1, 0, 0, 0, 0, time.UTC)},
		Version: sfsync.Version{Time: time.Date(-5, 1, 1, 0, 0, 0, 3, time.UTC)}}
	b := EncodeChange(c)
	if !utf8.Valid(b) || bytes.Contains(b, []byte(`\u0000`)) {
		t.Errorf("encoded change is not valid UTF-8 without NUL escapes (PostgreSQL's jsonb refuses them): %s", b)
	}
	got, err := DecodeChange(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.Key != c.Key || got.RecordID != c.RecordID || got.Fields["a\x00"] != "b\x00" || !math.IsNaN(got.Fields["f"].(float64)) ||
		!got.Version.Time.Equal(c.Version.Time) {
		t.Errorf("decoded %+v", got)
	}
}
