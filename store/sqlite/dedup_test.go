package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	stdsync "sync"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/store/internal/codec"
)

// noBackgroundIndexing leaves claims and outcomes where the commit put
// them until a test moves them.
var noBackgroundIndexing = withLedgerIndexing(1<<30, time.Hour)

// twoStoresOnOneFile opens two stores on one new file (an instance taking
// over from another), claims and outcomes left where the commit put them,
// with opts besides; it returns them and the file's path.
func twoStoresOnOneFile(t *testing.T, opts ...Option) (a, b *Store, path string) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "state.db")
	var stores [2]*Store
	for i := range stores {
		s, err := Open(context.Background(), path, append([]Option{WithCompactionInterval(0), noBackgroundIndexing}, opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		stores[i] = s
	}
	return stores[0], stores[1], path
}

func claimsIn(t *testing.T, s *Store, table string) int {
	t.Helper()
	var n int
	if err := s.r.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM `+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func wantSeen(t *testing.T, s *Store, when string, keys ...string) {
	t.Helper()
	ctx := context.Background()
	many, err := s.SeenMany(ctx, append(keys, "never-claimed"))
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		one, err := s.Seen(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		if !one || !many[k] {
			t.Errorf("%s: key %q: Seen %v, SeenMany %v; want claimed", when, k, one, many[k])
		}
	}
	if many["never-claimed"] {
		t.Errorf("%s: a key never claimed is seen", when)
	}
}

// TestClaimsFoundInTheLogAndInDedup follows claims from the commit's log
// into dedup: they are found, and not claimed again, at every step.
func TestClaimsFoundInTheLogAndInDedup(t *testing.T) {
	ctx := context.Background()
	s := open(t, WithCompactionInterval(0), noBackgroundIndexing)
	if err := s.CommitState(ctx, sfsync.Commit{Claims: []string{"a", "b", "a"}, ClaimTTL: time.Hour}); err != nil {
		t.Fatal(err)
	}
	if first, err := s.Claim(ctx, "c", time.Hour); err != nil || !first {
		t.Fatalf("Claim of a new key = %v, %v; want first", first, err)
	}
	if got := claimsIn(t, s, "dedup_log"); got != 4 {
		t.Fatalf("%d claims in the log, want 4 (the commit appends, the index waits)", got)
	}
	wantSeen(t, s, "in the log", "a", "b", "c")
	if first, err := s.Claim(ctx, "b", time.Hour); err != nil || first {
		t.Errorf("Claim of a key claimed in the log = %v, %v; want not first", first, err)
	}

	if err := s.indexClaims(ctx); err != nil {
		t.Fatal(err)
	}
	if log, keyed := claimsIn(t, s, "dedup_log"), claimsIn(t, s, "dedup"); log != 0 || keyed != 3 {
		t.Fatalf("after indexing: %d claims in the log and %d in dedup, want 0 and 3", log, keyed)
	}
	wantSeen(t, s, "in dedup", "a", "b", "c")
	if first, err := s.Claim(ctx, "a", time.Hour); err != nil || first {
		t.Errorf("Claim of a key claimed in dedup = %v, %v; want not first", first, err)
	}
	// The log's seqs go on after it was emptied, so a store that read it
	// up to some seq misses none of the next claims.
	if err := s.CommitState(ctx, sfsync.Commit{Claims: []string{"d"}, ClaimTTL: time.Hour}); err != nil {
		t.Fatal(err)
	}
	wantSeen(t, s, "in both", "a", "b", "c", "d")
}

// TestClaimsExpireInTheLog: an expired claim, in the log or in dedup, is
// not seen and may be claimed again; the new claim keeps the key.
func TestClaimsExpireInTheLog(t *testing.T) {
	ctx := context.Background()
	c := &clock{now: time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)}
	s := open(t, WithClock(c.Now), WithCompactionInterval(0), noBackgroundIndexing)
	if err := s.CommitState(ctx, sfsync.Commit{Claims: []string{"brief"}, ClaimTTL: time.Minute}); err != nil {
		t.Fatal(err)
	}
	c.Add(2 * time.Minute)
	if seen, err := s.Seen(ctx, "brief"); err != nil || seen {
		t.Fatalf("expired claim in the log: Seen = %v, %v", seen, err)
	}
	if first, err := s.Claim(ctx, "brief", time.Hour); err != nil || !first {
		t.Fatalf("Claim of an expired key = %v, %v; want first", first, err)
	}
	wantSeen(t, s, "claimed again in the log", "brief")
	if err := s.indexClaims(ctx); err != nil {
		t.Fatal(err)
	}
	// Both claims met in dedup: the later expiry stands.
	c.Add(30 * time.Minute)
	wantSeen(t, s, "claimed again, in dedup", "brief")
	c.Add(time.Hour)
	if seen, err := s.Seen(ctx, "brief"); err != nil || seen {
		t.Fatalf("expired claim in dedup: Seen = %v, %v", seen, err)
	}
}

// TestClaimsOfAnotherStoreOnTheFile: two stores on one file (an instance
// taking over from another) see each other's claims wherever they are, and
// either may move them.
func TestClaimsOfAnotherStoreOnTheFile(t *testing.T) {
	ctx := context.Background()
	a, b, path := twoStoresOnOneFile(t)
	if err := a.CommitState(ctx, sfsync.Commit{Claims: []string{"a1", "a2"}, ClaimTTL: time.Hour}); err != nil {
		t.Fatal(err)
	}
	wantSeen(t, a, "a's claims, by a", "a1", "a2")
	wantSeen(t, b, "a's claims, by b", "a1", "a2")
	if err := b.indexClaims(ctx); err != nil {
		t.Fatal(err)
	}
	// a's index of the log still names the moved claims: their rows are
	// gone, and dedup answers.
	wantSeen(t, a, "moved by b, by a", "a1", "a2")
	if first, err := b.Claim(ctx, "b1", time.Hour); err != nil || !first {
		t.Fatalf("b's Claim = %v, %v", first, err)
	}
	if first, err := a.Claim(ctx, "b1", time.Hour); err != nil || first {
		t.Errorf("a's Claim of b's key = %v, %v; want not first", first, err)
	}
	wantSeen(t, a, "b's claim, by a", "a1", "a2", "b1")

	// Reopened, a store reads the log from its start.
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	c, err := Open(ctx, path, WithCompactionInterval(0), noBackgroundIndexing)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	wantSeen(t, c, "reopened", "a1", "a2", "b1")
}

// TestSharedHashIsConfirmed: a key whose hash the log index holds for
// another key's claim is answered by the rows themselves.
func TestSharedHashIsConfirmed(t *testing.T) {
	ctx := context.Background()
	s := open(t, WithCompactionInterval(0), noBackgroundIndexing)
	if err := s.CommitState(ctx, sfsync.Commit{Claims: []string{"x", "y"}, ClaimTTL: time.Hour}); err != nil {
		t.Fatal(err)
	}
	wantSeen(t, s, "before", "x", "y")
	// Pretend "x", "y" and "z" share one hash, the newest claim of which
	// is y's: its row is read and does not match x or z.
	s.claims.mu.Lock()
	ySeq := s.claims.seqs[ledgerHash(codec.Key("y"))]
	s.claims.seqs[ledgerHash(codec.Key("x"))] = ySeq
	s.claims.seqs[ledgerHash(codec.Key("z"))] = ySeq
	s.claims.mu.Unlock()
	wantSeen(t, s, "sharing y's seq", "x", "y")
	if seen, err := s.Seen(ctx, "z"); err != nil || seen {
		t.Errorf("a key never claimed, sharing a claim's hash: Seen = %v, %v", seen, err)
	}
	if first, err := s.Claim(ctx, "z", time.Hour); err != nil || !first {
		t.Errorf("Claim of a key never claimed, sharing a claim's hash = %v, %v; want first", first, err)
	}
}

// TestLookupsWhileClaimsMove: every committed claim is seen at every
// moment while the background loop moves claims after each commit, with
// and without a claim filter.
func TestLookupsWhileClaimsMove(t *testing.T) {
	t.Run("filter", func(t *testing.T) {
		s := open(t, WithCompactionInterval(0), withLedgerIndexing(1, time.Millisecond))
		buildFilter(t, s)
		lookupsWhileClaimsMove(t, s)
	})
	t.Run("no_filter", func(t *testing.T) {
		lookupsWhileClaimsMove(t, open(t, WithCompactionInterval(0), withLedgerIndexing(1, time.Millisecond), noFilterBuilds))
	})
}

func lookupsWhileClaimsMove(t *testing.T, s *Store) {
	ctx := context.Background()
	var mu stdsync.Mutex
	var committed []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 200 {
			keys := []string{fmt.Sprintf("k%d.a", i), fmt.Sprintf("k%d.b", i)}
			if err := s.CommitState(ctx, sfsync.Commit{Claims: keys, ClaimTTL: time.Hour}); err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			committed = append(committed, keys...)
			mu.Unlock()
		}
	}()
	var wg stdsync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				mu.Lock()
				keys := append([]string(nil), committed...)
				mu.Unlock()
				seen, err := s.SeenMany(ctx, keys)
				if err != nil {
					t.Error(err)
					return
				}
				for _, k := range keys {
					if !seen[k] {
						t.Errorf("committed claim %q not seen while claims move", k)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	<-done
	if t.Failed() {
		return
	}
	if err := s.indexClaims(ctx); err != nil {
		t.Fatal(err)
	}
	if got := claimsIn(t, s, "dedup"); got != 400 {
		t.Errorf("%d claims in dedup after the run, want 400", got)
	}
}

// TestClaimTailGivesBackTheRoomOfABurst: once the log's claims read into
// the tail moved on and few are left, the tail's map is made again at
// its present size, with every entry it held.
func TestClaimTailGivesBackTheRoomOfABurst(t *testing.T) {
	tail := claimTail{seqs: map[int64]int64{}}
	for seq := int64(1); seq <= 2*minShrunkSeqs; seq++ {
		tail.seqs[seq*7919] = seq
		tail.seqsPeak = max(tail.seqsPeak, len(tail.seqs))
	}
	before := tail.seqs
	tail.shrinkSeqs()
	if len(tail.seqs) != 2*minShrunkSeqs {
		t.Fatalf("a full map lost entries: %d, want %d", len(tail.seqs), 2*minShrunkSeqs)
	}
	for h, seq := range tail.seqs {
		if seq <= 2*minShrunkSeqs-10 {
			delete(tail.seqs, h)
		}
	}
	tail.shrinkSeqs()
	if len(tail.seqs) != 10 || tail.seqsPeak != 10 {
		t.Fatalf("after the burst moved on: %d entries, peak %d; want 10 and 10", len(tail.seqs), tail.seqsPeak)
	}
	for seq := int64(2*minShrunkSeqs - 9); seq <= 2*minShrunkSeqs; seq++ {
		if got := tail.seqs[seq*7919]; got != seq {
			t.Errorf("hash of seq %d holds %d", seq, got)
		}
	}
	before[1] = -1 // the old map is no longer the tail's
	if _, ok := tail.seqs[1]; ok {
		t.Error("the tail still shares the map of the burst")
	}
}
