package sfsync_test

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
)

func TestVersionCompare(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name string
		a, b sfsync.Version
		want int
	}{
		{"time orders", sfsync.Version{Time: t0}, sfsync.Version{Time: t0.Add(time.Millisecond)}, -1},
		{"seq breaks time tie", sfsync.Version{Time: t0, Seq: 2}, sfsync.Version{Time: t0, Seq: 1}, 1},
		{"equal", sfsync.Version{Time: t0, Seq: 1}, sfsync.Version{Time: t0, Seq: 1}, 0},
		{"counters win over clocks", sfsync.Version{Time: t0.Add(time.Hour), Counter: 1}, sfsync.Version{Time: t0, Counter: 2}, -1},
		{"one counter falls back to time", sfsync.Version{Time: t0, Counter: 9}, sfsync.Version{Time: t0.Add(time.Second)}, -1},
		{"zero is oldest", sfsync.Version{}, sfsync.Version{Time: t0}, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.a.Compare(tt.b); got != tt.want {
				t.Fatalf("Compare = %d, want %d", got, tt.want)
			}
			if got := tt.b.Compare(tt.a); got != -tt.want {
				t.Fatalf("reverse Compare = %d, want %d", got, -tt.want)
			}
			if tt.a.Before(tt.b) != (tt.want < 0) {
				t.Fatalf("Before disagrees with Compare")
			}
		})
	}
}

func TestClientFromChangeOrigin(t *testing.T) {
	tests := map[string]string{
		"com/salesforce/api/rest/62.0;client=sfsync":                      "sfsync",
		"com/salesforce/api/soap/60.0;client=SfdcInternalAPI/":            "SfdcInternalAPI/",
		"com/salesforce/api/rest/62.0;client=a; defaultNamespace=battle":  "a",
		"com/salesforce/api/rest/40.0;defaultNamespace=battle,client=old": "old",
		"com/salesforce/api/rest/62.0":                                    "",
		"x;;,client=empty-parts-skipped":                                  "empty-parts-skipped",
		"x;a=1, client=spaced ,b=2":                                       "spaced",
		"x;client":                                                        "",
		"x;":                                                              "",
		"":                                                                "",
	}
	for in, want := range tests {
		if got := sfsync.ClientFromChangeOrigin(in); got != want {
			t.Errorf("ClientFromChangeOrigin(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestChangeValueTouchedClone(t *testing.T) {
	c := sfsync.Change{Fields: map[string]any{"Phone": "333", "Email": "a@b"}, Nulled: []string{"Fax"}}
	if v, ok := c.Value("Phone"); !ok || v != "333" {
		t.Fatalf("Value(Phone) = %v, %v", v, ok)
	}
	if v, ok := c.Value("Fax"); !ok || v != nil {
		t.Fatalf("Value(Fax) = %v, %v; want nil, true (explicit null)", v, ok)
	}
	if _, ok := c.Value("Title"); ok {
		t.Fatal("Value(Title) reported an untouched field as set")
	}
	if got, want := c.Touched(), []string{"Email", "Fax", "Phone"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Touched = %v, want %v", got, want)
	}
	cl := c.Clone()
	cl.Fields["Phone"] = "999"
	cl.Nulled[0] = "X"
	if c.Fields["Phone"] != "333" || c.Nulled[0] != "Fax" {
		t.Fatal("Clone shares maps or slices with the original")
	}
}

// TestTouchedAllocatesOnce guards the engine's per-change cost: Touched is
// called several times per change, and a 43-field change must not grow its
// result a doubling at a time. A field both set and nulled counts once; an
// empty change touches nothing.
func TestTouchedAllocatesOnce(t *testing.T) {
	c := sfsync.Change{Fields: map[string]any{}, Nulled: []string{"Fax", "Phone"}}
	for i := range 43 {
		c.Fields["F"+string(rune('A'+i%26))+string(rune('a'+i/26))] = i
	}
	c.Fields["Phone"] = "333"
	got := c.Touched()
	if len(got) != 45 || !slices.IsSorted(got) || !slices.Contains(got, "Fax") {
		t.Fatalf("Touched = %v: want the 44 set fields and Fax, sorted", got)
	}
	if n := testing.AllocsPerRun(100, func() { c.Touched() }); n != 1 {
		t.Errorf("Touched of 45 fields allocates %v times, want 1", n)
	}
	if got := (&sfsync.Change{}).Touched(); got != nil {
		t.Errorf("Touched of an empty change = %#v, want nil", got)
	}
}

func TestRecordFieldVersion(t *testing.T) {
	t0 := time.Unix(100, 0)
	r := sfsync.Record{Version: sfsync.Version{Time: t0}, FieldVersions: map[string]sfsync.Version{"Phone": {Time: t0.Add(time.Second)}}}
	if got := r.FieldVersion("Phone"); !got.Time.Equal(t0.Add(time.Second)) {
		t.Fatalf("FieldVersion(Phone) = %v", got)
	}
	if got := r.FieldVersion("Email"); !got.Time.Equal(t0) {
		t.Fatalf("FieldVersion(Email) = %v, want record version", got)
	}
}

func TestSameID(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"00D000000000001AAA", "00D000000000001AAA", true},
		{"00D000000000001", "00D000000000001AAA", true},
		{"00D000000000001AAA", "00D000000000001", true},
		{"00D000000000001", "00D000000000001", true},
		{"00d000000000001", "00D000000000001AAA", false}, // the 15-character form is case-sensitive
		{"00D000000000002", "00D000000000001AAA", false},
		{"00D000000000001AAB", "00D000000000001AAA", false},
		{"", "00D000000000001AAA", false},
	} {
		if got := sfsync.SameID(tc.a, tc.b); got != tc.want {
			t.Errorf("SameID(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}
