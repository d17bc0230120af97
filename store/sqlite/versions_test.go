package sqlite

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
)

// TestPackedFieldsRoundTrip checks the encoding of a packed version row at
// the edges of every number, and that a cut row is reported, not misread.
func TestPackedFieldsRoundTrip(t *testing.T) {
	in := []fieldVersion{
		{"", sfsync.Version{}},
		{"Phone", sfsync.Version{Time: time.Date(2026, 11, 2, 9, 0, 0, 999999999, time.UTC), Commit: math.MaxInt64, Seq: math.MinInt64, Counter: -1}},
		{"Ünïcode\x00field", sfsync.Version{Time: time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC), Counter: math.MinInt64}},
	}
	b := appendFields(nil, in)
	out, err := decodeFields(b, nil)
	if err != nil || len(out) != len(in) {
		t.Fatalf("decode = %d entries, %v; want %d", len(out), err, len(in))
	}
	for i := range in {
		g, w := out[i], in[i]
		if g.field != w.field || !g.v.Time.Equal(w.v.Time) || g.v.Time.IsZero() != w.v.Time.IsZero() ||
			g.v.Commit != w.v.Commit || g.v.Seq != w.v.Seq || g.v.Counter != w.v.Counter {
			t.Errorf("entry %d = %+v, want %+v", i, g, w)
		}
	}
	ends := map[int]bool{}
	for i := range in {
		ends[len(appendFields(nil, in[:i+1]))] = true
	}
	for n := 1; n < len(b); n++ {
		if _, err := decodeFields(b[:n], nil); !ends[n] && !errors.Is(err, errBadFields) {
			t.Fatalf("a row cut to %d of %d bytes, inside an entry, decoded with error %v", n, len(b), err)
		}
	}
}
