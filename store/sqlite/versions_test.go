package sqlite

import (
	"database/sql"
	"errors"
	"maps"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
)

// TestPackedFieldsRoundTrip checks the encoding of a packed version row at
// the edges of every number, and that a cut row is reported, not misread.
func TestPackedFieldsRoundTrip(t *testing.T) {
	in := []fieldVersion{
		{"", sfsync.Version{}, 0},
		{"Phone", sfsync.Version{Time: time.Date(2026, 11, 2, 9, 0, 0, 999999999, time.UTC), Commit: math.MaxInt64, Seq: math.MinInt64, Counter: -1}, math.MaxUint64},
		{"Ünïcode\x00field", sfsync.Version{Time: time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC), Counter: math.MinInt64}, 1},
	}
	b := appendFields(nil, in)
	out, err := decodeFields(b, nil)
	if err != nil || len(out) != len(in) {
		t.Fatalf("decode = %d entries, %v; want %d", len(out), err, len(in))
	}
	for i := range in {
		g, w := out[i], in[i]
		if g.field != w.field || !g.v.Time.Equal(w.v.Time) || g.v.Time.IsZero() != w.v.Time.IsZero() ||
			g.v.Commit != w.v.Commit || g.v.Seq != w.v.Seq || g.v.Counter != w.v.Counter || g.hash != w.hash {
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
				Time: time.Unix(rng.Int64N(1<<40), rng.Int64N(1e9)).UTC(), Commit: rng.Int64() - math.MaxInt64/2, Seq: rng.Int64N(100), Counter: -rng.Int64N(3)},
				rng.Uint64() >> rng.IntN(64)})
		}
		return fs
	}
	for range 2000 {
		var stored versionRow
		for _, f := range draw(rng.IntN(8)) {
			stored.set(f.field, f.v, f.hash)
		}
		var news versionRow
		for _, f := range draw(rng.IntN(5)) {
			news.set(f.field, f.v, f.hash)
		}
		packed := appendFields(nil, stored.fields)
		want := stored
		want.fields = append([]fieldVersion(nil), stored.fields...)
		for _, f := range news.fields {
			want.set(f.field, f.v, f.hash)
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

// TestKeptVersionRowsFollowOtherWriters: a store overlays new entries on
// the version rows it kept in memory from its own last commit; once
// another connection wrote to the file (another store on it, or a person
// deleting a row), it reads them again instead of writing back rows the
// other writer replaced.
func TestKeptVersionRowsFollowOtherWriters(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "state.db")
	a, err := Open(ctx, path, WithCompactionInterval(0))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Open(ctx, path, WithCompactionInterval(0))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	at := func(sec int64) sfsync.Version { return sfsync.Version{Time: time.Unix(sec, 0).UTC()} }
	put := func(s *Store, field string, v sfsync.Version) {
		t.Helper()
		err := s.CommitState(ctx, sfsync.Commit{Versions: []sfsync.AppliedVersion{{Record: "001A", Source: sfsync.Salesforce, Field: field, Version: v}}})
		if err != nil {
			t.Fatal(err)
		}
	}
	fields := func(s *Store) map[string]int64 {
		t.Helper()
		got, err := s.AppliedVersions(ctx, []string{"001A"})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]int64{}
		for _, v := range got {
			out[v.Field] = v.Version.Time.Unix()
		}
		return out
	}
	put(a, "Name", at(1))
	put(b, "Phone", at(2)) // b reads a's row, and adds to it
	put(a, "Email", at(3)) // a's kept row lacks Phone: it must read b's
	if got, want := fields(a), map[string]int64{"Name": 1, "Phone": 2, "Email": 3}; !maps.Equal(got, want) {
		t.Fatalf("after a second store wrote the row: %v, want %v", got, want)
	}

	// Another connection deletes the row: the next put starts afresh.
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `DELETE FROM record_versions`); err != nil {
		t.Fatal(err)
	}
	put(a, "Industry", at(4))
	if got, want := fields(a), map[string]int64{"Industry": 4}; !maps.Equal(got, want) {
		t.Fatalf("after the row was deleted by another connection: %v, want %v", got, want)
	}
	// And the store's own puts build on what it kept.
	put(a, "Name", at(5))
	if got, want := fields(a), map[string]int64{"Industry": 4, "Name": 5}; !maps.Equal(got, want) {
		t.Fatalf("after the store's own put: %v, want %v", got, want)
	}
}
