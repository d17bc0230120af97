package dedup

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// Entries share slabs, so an evicted entry must let go of its key, and
// keys claimed across several slabs keep their own expiry: each is seen
// until it expires, then claimable again.
func TestSlabEntriesAreIndependent(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1_700_000_000, 0)
	m := NewMemory(WithClock(func() time.Time { return now }))
	m.shards = m.shards[:1] // one shard: every entry in its slabs
	s := &m.shards[0]
	n := 3*entrySlab + 5
	for i := range n {
		// Alternating TTLs: neighbours in a slab expire at different times.
		if ok, err := m.Claim(ctx, fmt.Sprint("k", i), time.Duration(1+i%2)*time.Hour); err != nil || !ok {
			t.Fatalf("claim k%d = %v, %v", i, ok, err)
		}
	}
	held := s.keys["k0"]
	now = now.Add(90 * time.Minute) // the even keys expired
	for i := range n {
		seen, err := m.Seen(ctx, fmt.Sprint("k", i))
		if err != nil || seen != (i%2 == 1) {
			t.Fatalf("seen k%d = %v, %v after 90 minutes", i, seen, err)
		}
	}
	// A new claim evicts the expired keys.
	if ok, err := m.Claim(ctx, "new", time.Hour); err != nil || !ok {
		t.Fatalf("claim new = %v, %v", ok, err)
	}
	if _, ok := s.keys["k0"]; ok || held.key != "" {
		t.Fatalf("evicted k0: still held %v, entry key %q", ok, held.key)
	}
	for i := range n {
		ok, err := m.Claim(ctx, fmt.Sprint("k", i), time.Hour)
		if err != nil || ok != (i%2 == 0) {
			t.Fatalf("claim k%d again = %v, %v", i, ok, err)
		}
	}
}
