package sync

import (
	"testing"
	"time"

	"github.com/sfsync/sfsync"
)

// TestPackedVersionKeepsOrderAndValue: a version packed into a cache entry
// comes back equal (as Compare sees it) with the same fields, whatever its
// time's location, and the zero version stays zero.
func TestPackedVersionKeepsOrderAndValue(t *testing.T) {
	at := time.Date(2026, 12, 5, 8, 30, 0, 123456789, time.FixedZone("X", 3600))
	versions := []sfsync.Version{
		{},
		{Counter: 7},
		{Time: at},
		{Time: at.In(time.UTC), Commit: 42, Seq: 3},
		{Time: at.Add(time.Nanosecond), Commit: 1},
		{Time: at, Commit: 42, Seq: 3, Counter: 9},
		{Time: time.Unix(0, 0)},
	}
	for _, v := range versions {
		got := packVersion(v).version()
		if got.Compare(v) != 0 || !got.Time.Equal(v.Time) || got.Commit != v.Commit || got.Seq != v.Seq || got.Counter != v.Counter || got.IsZero() != v.IsZero() {
			t.Errorf("packed %v came back as %v", v, got)
		}
		for _, w := range versions {
			if c := packVersion(v).version().Compare(packVersion(w).version()); c != v.Compare(w) {
				t.Errorf("packed %v against %v compares %d, want %d", v, w, c, v.Compare(w))
			}
		}
	}
}
