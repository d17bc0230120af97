package sqlite

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
)

// noFilterBuilds builds a claim filter only when the test does.
func noFilterBuilds(c *config) { c.noFilterBuilds = true }

// TestClaimFilterAnswers: every hash added is held, and at its limit the
// filter lets through under 1% of hashes never added.
func TestClaimFilterAnswers(t *testing.T) {
	f := newClaimFilter(0)
	for i := range f.limit {
		f.add(ledgerHash(fmt.Sprintf("001%015d:tx-%d:1", i, i)))
	}
	for i := range f.limit {
		if !f.mayHold(ledgerHash(fmt.Sprintf("001%015d:tx-%d:1", i, i))) {
			t.Fatalf("hash %d added and not held", i)
		}
	}
	if !f.full() {
		t.Errorf("a filter with %d of %d hashes is not full", f.keys, f.limit)
	}
	const probes = 100000
	passed := 0
	for i := range probes {
		if f.mayHold(ledgerHash(fmt.Sprintf("003%015d:tx-%d:2", i, i))) {
			passed++
		}
	}
	if rate := float64(passed) / probes; rate > 0.01 {
		t.Errorf("false-positive rate %.4f at the limit, want under 0.01", rate)
	}
}

func commitClaims(t *testing.T, s *Store, ttl time.Duration, keys ...string) {
	t.Helper()
	if err := s.CommitState(context.Background(), sfsync.Commit{Claims: keys, ClaimTTL: ttl}); err != nil {
		t.Fatal(err)
	}
}

func buildFilter(t *testing.T, s *Store) {
	t.Helper()
	if err := s.keepClaimFilter(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s.claimFilterDue() {
		t.Fatal("no filter after a build")
	}
}

func hasFilter(s *Store) bool {
	s.claims.mu.Lock()
	defer s.claims.mu.Unlock()
	return s.claims.filter != nil
}

// TestClaimFilterScreensNewKeys: with a filter, a key never claimed is
// answered without a search, and every claim is found wherever it is: in
// dedup when the filter was built, in the log, and moved by the store
// itself after the filter was built (which leaves no gap).
func TestClaimFilterScreensNewKeys(t *testing.T) {
	s := open(t, WithCompactionInterval(0), noBackgroundIndexing, noFilterBuilds)
	commitClaims(t, s, time.Hour, "in-dedup")
	if err := s.indexClaims(context.Background()); err != nil {
		t.Fatal(err)
	}
	commitClaims(t, s, time.Hour, "in-log")
	buildFilter(t, s)
	before := s.screened.Load()
	wantSeen(t, s, "built", "in-dedup", "in-log")
	if s.screened.Load() == before {
		t.Fatal("a key never claimed was searched for: the filter is not used")
	}

	commitClaims(t, s, time.Hour, "after-build")
	wantSeen(t, s, "claimed after the build", "in-dedup", "in-log", "after-build")
	commitClaims(t, s, time.Hour, "moved-unread")
	if err := s.indexClaims(context.Background()); err != nil {
		t.Fatal(err)
	}
	wantSeen(t, s, "moved by the store itself", "in-dedup", "in-log", "after-build", "moved-unread")
	if !hasFilter(s) {
		t.Error("the store's own move was taken for a gap: the filter was dropped")
	}
	if first, err := s.Claim(context.Background(), "moved-unread", time.Hour); err != nil || first {
		t.Errorf("Claim of a moved key = %v, %v; want not first", first, err)
	}
}

// TestClaimFilterGap: claims another store on the file committed and moved
// while this one read nothing are not in its filter; its next lookup
// notices, drops the filter and searches dedup, and a new build holds them.
func TestClaimFilterGap(t *testing.T) {
	ctx := context.Background()
	a, b, _ := twoStoresOnOneFile(t, noFilterBuilds)
	commitClaims(t, a, time.Hour, "early")
	buildFilter(t, a)
	buildFilter(t, b)
	commitClaims(t, a, time.Hour, "unseen-1", "unseen-2")
	if err := a.indexClaims(ctx); err != nil {
		t.Fatal(err)
	}
	wantSeen(t, b, "moved by another store", "early", "unseen-1", "unseen-2")
	if hasFilter(b) {
		t.Fatal("the gap was not noticed: the filter stayed")
	}
	if first, err := b.Claim(ctx, "unseen-2", time.Hour); err != nil || first {
		t.Errorf("Claim of a key moved by another store = %v, %v; want not first", first, err)
	}
	buildFilter(t, b)
	before := b.screened.Load()
	wantSeen(t, b, "rebuilt", "early", "unseen-1", "unseen-2")
	if b.screened.Load() == before {
		t.Error("the rebuilt filter is not used")
	}
}

// TestClaimFilterRebuiltWhenFull: a full filter asks for a new one, which
// holds the live claims and drops the expired.
func TestClaimFilterRebuiltWhenFull(t *testing.T) {
	c := &clock{now: time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)}
	s := open(t, WithClock(c.Now), WithCompactionInterval(0), noBackgroundIndexing, noFilterBuilds)
	commitClaims(t, s, time.Minute, "brief")
	commitClaims(t, s, time.Hour, "long")
	buildFilter(t, s)
	s.claims.mu.Lock()
	s.claims.filter.limit = s.claims.filter.keys + 1
	s.claims.mu.Unlock()
	commitClaims(t, s, time.Hour, "fills-it")
	wantSeen(t, s, "full", "brief", "long", "fills-it")
	if !s.claimFilterDue() {
		t.Fatal("a full filter is not due for a rebuild")
	}
	c.Add(2 * time.Minute)
	if err := s.indexClaims(context.Background()); err != nil {
		t.Fatal(err)
	}
	buildFilter(t, s)
	s.claims.mu.Lock()
	keys, limit := s.claims.filter.keys, s.claims.filter.limit
	s.claims.mu.Unlock()
	if keys != 2 || limit != filterMinKeys {
		t.Errorf("rebuilt filter: %d keys, limit %d; want the 2 live claims, limit %d", keys, limit, filterMinKeys)
	}
	wantSeen(t, s, "rebuilt", "long", "fills-it")
}

// TestClaimFilterGapInAMove: a store about to move claims past what its
// filter covers (another store moved the claims before them, unread here)
// drops the filter and asks for a new one.
func TestClaimFilterGapInAMove(t *testing.T) {
	ctx := context.Background()
	a, b, _ := twoStoresOnOneFile(t, noFilterBuilds)
	buildFilter(t, a)
	commitClaims(t, b, time.Hour, "moved-by-b")
	if err := b.indexClaims(ctx); err != nil {
		t.Fatal(err)
	}
	commitClaims(t, b, time.Hour, "moved-by-a")
	select {
	case <-a.filterWake:
	default:
	}
	if err := a.indexClaims(ctx); err != nil {
		t.Fatal(err)
	}
	if hasFilter(a) {
		t.Fatal("a move past a gap kept the filter")
	}
	select {
	case <-a.filterWake:
	default:
		t.Fatal("the filter was dropped and no new one asked for")
	}
	wantSeen(t, a, "after the move", "moved-by-b", "moved-by-a")
}
