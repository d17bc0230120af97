package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	stdsync "sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
)

// Store is a backend holding every kind of engine state.
type Store interface {
	sfsync.DedupStore
	sfsync.CheckpointStore
	sfsync.Ledger
	sfsync.DeadLetterStore
	sfsync.EchoStore
	sfsync.StateCommitter
	sfsync.Leaser
	sfsync.VersionStore
}

// Run runs every part of the suite against stores made by open.
func Run(t *testing.T, open func(t *testing.T) Store) {
	t.Run("Dedup", func(t *testing.T) { RunDedup(t, func(t *testing.T) sfsync.DedupStore { return open(t) }) })
	t.Run("Checkpoints", func(t *testing.T) {
		RunCheckpoints(t, func(t *testing.T) sfsync.CheckpointStore { return open(t) })
	})
	t.Run("Ledger", func(t *testing.T) { RunLedger(t, func(t *testing.T) sfsync.Ledger { return open(t) }) })
	t.Run("DeadLetters", func(t *testing.T) {
		RunDeadLetters(t, func(t *testing.T) sfsync.DeadLetterStore { return open(t) })
	})
	t.Run("Echoes", func(t *testing.T) { RunEchoes(t, func(t *testing.T) sfsync.EchoStore { return open(t) }) })
	t.Run("Leases", func(t *testing.T) { RunLeases(t, func(t *testing.T) sfsync.Leaser { return open(t) }) })
	t.Run("Versions", func(t *testing.T) { RunVersions(t, func(t *testing.T) sfsync.VersionStore { return open(t) }) })
	t.Run("Commit", func(t *testing.T) { RunCommit(t, open) })
	t.Run("Poison", func(t *testing.T) { RunPoison(t, open) })
}

const (
	// shortTTL is long enough that a loaded machine does not expire a key
	// between two calls of one step, and short enough to poll for.
	shortTTL = 60 * time.Millisecond
	longTTL  = time.Hour
	deadline = 10 * time.Second
)

// eventually polls cond until it holds; expiry has no event to wait on.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(deadline)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("%s: not within %s", what, deadline)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// must(f())(t) returns f's value, failing t on f's error.
func must[T any](v T, err error) func(t *testing.T) T {
	return func(t *testing.T) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func noErr(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// RunDedup tests an [sfsync.DedupStore].
func RunDedup(t *testing.T, open func(t *testing.T) sfsync.DedupStore) {
	ctx := context.Background()
	t.Run("ClaimThenSeen", func(t *testing.T) {
		s := open(t)
		if must(s.Seen(ctx, "k1"))(t) {
			t.Error("Seen before any claim")
		}
		if !must(s.Claim(ctx, "k1", longTTL))(t) {
			t.Error("first claim refused")
		}
		if must(s.Claim(ctx, "k1", longTTL))(t) {
			t.Error("second claim of a live key granted")
		}
		if !must(s.Seen(ctx, "k1"))(t) {
			t.Error("claimed key not seen")
		}
		if must(s.Seen(ctx, "k2"))(t) {
			t.Error("unclaimed key seen")
		}
	})
	t.Run("SeenManyAgreesWithSeen", func(t *testing.T) {
		s := open(t)
		b, ok := s.(sfsync.SeenBatcher)
		if !ok {
			t.Skip("the store does not implement sfsync.SeenBatcher")
		}
		var keys []string
		for i := range 1200 { // more than one chunk of a SQL IN list
			keys = append(keys, fmt.Sprintf("batch-%d", i))
			if i%3 == 0 && !must(s.Claim(ctx, keys[i], longTTL))(t) {
				t.Fatalf("claim of %s refused", keys[i])
			}
		}
		seen := must(b.SeenMany(ctx, append(keys, "never")))(t)
		for i, k := range keys {
			if seen[k] != (i%3 == 0) {
				t.Fatalf("SeenMany says %s seen=%v", k, seen[k])
			}
		}
		if seen["never"] || len(seen) != 400 {
			t.Fatalf("SeenMany returned %d keys, want 400", len(seen))
		}
		if got := must(b.SeenMany(ctx, nil))(t); len(got) != 0 {
			t.Fatalf("SeenMany(nil) = %v", got)
		}
	})
	t.Run("ConcurrentClaimsHaveOneWinner", func(t *testing.T) {
		s := open(t)
		// Many goroutines race for a few keys at once, so that a store that
		// serialises per key but not across keys (or the reverse) is caught.
		const keys, racers = 8, 8
		var wins [keys]atomic.Int32
		start := make(chan struct{})
		var wg stdsync.WaitGroup
		for k := range keys {
			for range racers {
				wg.Go(func() {
					<-start
					ok, err := s.Claim(ctx, fmt.Sprintf("race-%d", k), longTTL)
					if err != nil {
						t.Error(err)
					}
					if ok {
						wins[k].Add(1)
					}
				})
			}
		}
		close(start)
		wg.Wait()
		for k := range keys {
			if n := wins[k].Load(); n != 1 {
				t.Errorf("race-%d: %d of %d concurrent claims won, want exactly 1", k, n, racers)
			}
			if !must(s.Seen(ctx, fmt.Sprintf("race-%d", k)))(t) {
				t.Errorf("race-%d: not seen after the race", k)
			}
		}
	})
	t.Run("ExpiredKeyIsClaimableAgain", func(t *testing.T) {
		s := open(t)
		must(s.Claim(ctx, "short", shortTTL))(t)
		must(s.Claim(ctx, "long", longTTL))(t)
		eventually(t, "short key expires", func() bool { return !must(s.Seen(ctx, "short"))(t) })
		if !must(s.Claim(ctx, "short", longTTL))(t) {
			t.Error("expired key could not be claimed again")
		}
		if !must(s.Seen(ctx, "long"))(t) {
			t.Error("long-lived key expired with the short one")
		}
	})
	t.Run("CanceledContext", func(t *testing.T) {
		s := open(t)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := s.Claim(cctx, "k", longTTL); err == nil {
			t.Error("Claim with a canceled context succeeded")
		}
	})
}

// RunCheckpoints tests an [sfsync.CheckpointStore].
func RunCheckpoints(t *testing.T, open func(t *testing.T) sfsync.CheckpointStore) {
	ctx := context.Background()
	s := open(t)
	if _, err := s.LoadCheckpoint(ctx, "/data/ContactChangeEvent"); !errors.Is(err, sfsync.ErrNotFound) {
		t.Fatalf("LoadCheckpoint of a new stream: %v, want ErrNotFound", err)
	}
	a := sfsync.Position{Stream: "/data/ContactChangeEvent", Token: []byte{0, 0, 0, 0, 0, 0, 0, 7}}
	b := sfsync.Position{Stream: "/event/Order__e", Token: []byte{0xff, 0, 1}}
	for _, p := range []sfsync.Position{a, b} {
		if err := s.SaveCheckpoint(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	a.Token[7] = 9 // the store must have copied the token
	if got := must(s.LoadCheckpoint(ctx, a.Stream))(t); !slices.Equal(got.Token, []byte{0, 0, 0, 0, 0, 0, 0, 7}) || got.Stream != a.Stream {
		t.Errorf("stream a = %+v", got)
	}
	if got := must(s.LoadCheckpoint(ctx, b.Stream))(t); !slices.Equal(got.Token, b.Token) {
		t.Errorf("stream b = %+v", got)
	}
	// Every save replaces the stream's checkpoint: the last one written is
	// the one loaded, whatever its bytes (tokens are opaque to the store).
	last := a
	for i := range 5 {
		last = sfsync.Position{Stream: a.Stream, Token: []byte{0, 0, 0, 0, 0, 0, 1, byte(i)}}
		noErr(t, s.SaveCheckpoint(ctx, last))
		if got := must(s.LoadCheckpoint(ctx, a.Stream))(t); !slices.Equal(got.Token, last.Token) {
			t.Fatalf("after save %d, stream a = %v, want %v", i, got.Token, last.Token)
		}
	}
	if got := must(s.LoadCheckpoint(ctx, b.Stream))(t); !slices.Equal(got.Token, b.Token) {
		t.Errorf("advancing a moved b: %+v", got)
	}
	if _, err := s.LoadCheckpoint(ctx, "/data/ContactChangeEvent/other"); !errors.Is(err, sfsync.ErrNotFound) {
		t.Errorf("LoadCheckpoint of a stream never saved: %v, want ErrNotFound", err)
	}
}

// RunLedger tests an [sfsync.Ledger].
func RunLedger(t *testing.T, open func(t *testing.T) sfsync.Ledger) {
	ctx := context.Background()
	s := open(t)
	base := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	var all []sfsync.Outcome
	for i := range 30 {
		o := sfsync.Outcome{
			Key: fmt.Sprintf("003%02d:tx:%d", i%5, i), Tenant: "00D1", Object: []string{"Contact", "Account"}[i%2],
			RecordID: fmt.Sprintf("003%02d", i%5), Source: sfsync.Salesforce, Destination: sfsync.External("erp"),
			Op: sfsync.OpUpdate, Status: []sfsync.Status{sfsync.StatusApplied, sfsync.StatusEcho, sfsync.StatusDeadLettered}[i%3],
			Reason: fmt.Sprintf("reason %d", i), Attempts: i % 4,
			Version:  sfsync.Version{Time: base.Add(time.Duration(i) * time.Second), Commit: int64(i % 3), Seq: int64(i), Counter: int64(i % 2 * i)},
			Position: sfsync.Position{Stream: "s", Token: []byte{byte(i)}},
			At:       base.Add(time.Duration(i) * time.Minute),
		}
		all = append(all, o)
	}
	if err := s.RecordOutcomes(ctx, all[:10]); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordOutcomes(ctx, all[10:]); err != nil {
		t.Fatal(err)
	}
	check := func(name string, q sfsync.OutcomeQuery) {
		t.Helper()
		var want []sfsync.Outcome
		for _, o := range all {
			if q.Matches(o) {
				want = append(want, o)
			}
		}
		if q.Limit > 0 && len(want) > q.Limit {
			want = want[:q.Limit]
		}
		got := must(s.Outcomes(ctx, q))(t)
		if len(got) != len(want) {
			t.Errorf("%s: %d outcomes, want %d", name, len(got), len(want))
			return
		}
		for i := range got {
			if !sameOutcome(got[i], want[i]) {
				t.Errorf("%s: outcome %d = %+v, want %+v", name, i, got[i], want[i])
				return
			}
		}
	}
	check("all, oldest first", sfsync.OutcomeQuery{})
	check("by object", sfsync.OutcomeQuery{Object: "Account"})
	check("by record", sfsync.OutcomeQuery{Object: "Contact", RecordID: "00302"})
	check("by key", sfsync.OutcomeQuery{Key: all[7].Key})
	check("by status", sfsync.OutcomeQuery{Status: sfsync.StatusEcho})
	check("since", sfsync.OutcomeQuery{Since: base.Add(20 * time.Minute)})
	check("limit", sfsync.OutcomeQuery{Status: sfsync.StatusApplied, Limit: 3})
	check("limit with since", sfsync.OutcomeQuery{Since: base.Add(25 * time.Minute), Limit: 2})
	check("nothing", sfsync.OutcomeQuery{Object: "Lead"})

	// Outcomes with the same time come back in the order they were recorded.
	tie := base.Add(time.Hour)
	var tied []sfsync.Outcome
	for i := range 6 {
		tied = append(tied, sfsync.Outcome{Key: fmt.Sprintf("tie-%d", i), Object: "Tie", RecordID: "a0T1", Status: sfsync.StatusApplied, At: tie})
	}
	noErr(t, s.RecordOutcomes(ctx, tied[:3]))
	noErr(t, s.RecordOutcomes(ctx, tied[3:]))
	var keys []string
	for _, o := range must(s.Outcomes(ctx, sfsync.OutcomeQuery{Object: "Tie"}))(t) {
		keys = append(keys, o.Key)
	}
	if !slices.Equal(keys, []string{"tie-0", "tie-1", "tie-2", "tie-3", "tie-4", "tie-5"}) {
		t.Errorf("outcomes of one instant = %v, want the order they were recorded", keys)
	}
}

func sameOutcome(a, b sfsync.Outcome) bool {
	return a.Key == b.Key && a.Tenant == b.Tenant && a.Object == b.Object && a.RecordID == b.RecordID &&
		a.Source == b.Source && a.Destination == b.Destination && a.Op == b.Op && a.Status == b.Status &&
		a.Reason == b.Reason && a.Attempts == b.Attempts && sameVersion(a.Version, b.Version) && a.Position.Stream == b.Position.Stream &&
		slices.Equal(a.Position.Token, b.Position.Token) && a.At.Equal(b.At)
}
