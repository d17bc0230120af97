package sync_test

import (
	"fmt"
	"testing"

	sfsyncsync "github.com/sfsync/sfsync/sync"
)

// A backfill or reconciliation passes every record of an object through
// the version cache once; WithVersionCache bounds what it holds in memory,
// and the version map stays whole in the store.
func TestVersionCacheIsBounded(t *testing.T) {
	const records, bound = 400, 32
	for _, limit := range []int{0, bound} {
		t.Run(fmt.Sprintf("limit %d", limit), func(t *testing.T) {
			b := newBidi(t)
			for i := range records {
				b.sf.Edit("Contact", fmt.Sprintf("003%03d", i), map[string]any{"LastName": "N"}, at(0))
			}
			src := b.sfLog.Source()
			var opts []sfsyncsync.Option
			if limit > 0 {
				opts = append(opts, sfsyncsync.WithVersionCache(limit))
			}
			r := start(t, oneWay(t, b, src, opts...))
			settle(t, b.sfLog, src)
			got := r.e.CachedVersions()
			r.stop(t)
			switch {
			case limit == 0 && got != records:
				t.Errorf("default cache holds %d records, want all %d", got, records)
			case limit > 0 && got > 2*limit:
				// Records whose entries are not committed yet are kept
				// beyond the bound until they are.
				t.Errorf("cache bounded at %d holds %d records", limit, got)
			}
			// The store has every record's version all the same.
			first, last := "Contact/003000", fmt.Sprintf("Contact/003%03d", records-1)
			applied, err := b.store.AppliedVersions(t.Context(), []string{first, last})
			if err != nil {
				t.Fatal(err)
			}
			held := map[string]bool{}
			for _, av := range applied {
				held[av.Record] = true
			}
			if !held[first] || !held[last] {
				t.Errorf("version map in the store holds %v of %s and %s, want both", held, first, last)
			}
		})
	}
}
