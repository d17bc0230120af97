package sqlite

import (
	"errors"
	"math"
	"math/rand/v2"
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

// TestMergeFieldsAsDecoded checks that laying new entries over a packed row
// without decoding it gives the row that decoding it, setting each new
// entry and packing it again gives, for rows and updates drawn from a
// fixed seed; and that a cut row is reported.
func TestMergeFieldsAsDecoded(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 1))
	names := []string{"", "Phone", "Name", "Ünïcode\x00field", "Industry", "Rating", "Website"}
	draw := func(n int) []fieldVersion {
		var fs []fieldVersion
		for range n {
			fs = append(fs, fieldVersion{names[rng.IntN(len(names))], sfsync.Version{
				Time: time.Unix(rng.Int64N(1<<40), rng.Int64N(1e9)).UTC(), Commit: rng.Int64() - math.MaxInt64/2, Seq: rng.Int64N(100), Counter: -rng.Int64N(3)}})
		}
		return fs
	}
	for range 2000 {
		var stored versionRow
		for _, f := range draw(rng.IntN(8)) {
			stored.set(f.field, f.v)
		}
		var news versionRow
		for _, f := range draw(rng.IntN(5)) {
			news.set(f.field, f.v)
		}
		packed := appendFields(nil, stored.fields)
		want := stored
		want.fields = append([]fieldVersion(nil), stored.fields...)
		for _, f := range news.fields {
			want.set(f.field, f.v)
		}
		got, err := mergeFields([]byte("prefix"), packed, news.fields)
		if err != nil || string(got) != "prefix"+string(appendFields(nil, want.fields)) {
			t.Fatalf("merging %+v over %+v = %q, %v; want %q", news.fields, stored.fields, got, err, appendFields(nil, want.fields))
		}
		if len(packed) > 0 {
			if _, err := mergeFields(nil, packed[:len(packed)-1], news.fields); !errors.Is(err, errBadFields) {
				t.Fatalf("merging over a cut row: %v, want errBadFields", err)
			}
		}
	}
}
