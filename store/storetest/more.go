package storetest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	stdsync "sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
)

func deadLetter(key, object string, attempts int, at time.Time) sfsync.DeadLetter {
	return sfsync.DeadLetter{
		Change: sfsync.Change{
			Source: sfsync.Salesforce, Tenant: "00D1", Object: object, RecordID: "003A", Op: sfsync.OpUpdate,
			Fields: map[string]any{"Phone": "111", "Count": 3.0, "Active": true}, Nulled: []string{"Fax"},
			Version: sfsync.Version{Time: at, Seq: 2}, Key: key,
			Origin:   sfsync.Origin{ChangeOrigin: "com/salesforce/api/rest/62.0;client=x", Client: "x", User: "005A"},
			Position: sfsync.Position{Stream: "s", Token: []byte{1, 2}},
			Snapshot: true,
		},
		Destination: sfsync.External("erp"), Err: "validation failed", Kind: sfsync.KindPermanent,
		Attempts: attempts, FirstFailed: at, LastFailed: at,
	}
}

// RunDeadLetters tests an [sfsync.DeadLetterStore].
func RunDeadLetters(t *testing.T, open func(t *testing.T) sfsync.DeadLetterStore) {
	ctx := context.Background()
	s := open(t)
	base := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	if _, err := s.DeadLetter(ctx, "none"); !errors.Is(err, sfsync.ErrNotFound) {
		t.Fatalf("DeadLetter of an unknown key: %v, want ErrNotFound", err)
	}
	for i := range 4 {
		d := deadLetter(fmt.Sprintf("k%d", i), []string{"Contact", "Account"}[i%2], 1, base.Add(time.Duration(i)*time.Minute))
		if err := s.PutDeadLetter(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	got := must(s.DeadLetter(ctx, "k1"))(t)
	want := deadLetter("k1", "Account", 1, base.Add(time.Minute))
	if got.Err != want.Err || got.Kind != want.Kind || got.Attempts != 1 || got.Destination != want.Destination ||
		!got.FirstFailed.Equal(want.FirstFailed) || got.Change.Key != "k1" || got.Change.Object != "Account" ||
		!maps.Equal(got.Change.Fields, want.Change.Fields) || !slices.Equal(got.Change.Nulled, want.Change.Nulled) ||
		got.Change.Origin != want.Change.Origin || !slices.Equal(got.Change.Position.Token, want.Change.Position.Token) ||
		!got.Change.Version.Time.Equal(want.Change.Version.Time) || got.Change.Version.Seq != 2 || !got.Change.Snapshot {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, want)
	}

	// Replacing adds the attempts up and keeps the first failure time.
	again := deadLetter("k1", "Account", 2, base.Add(time.Hour))
	again.Err = "still failing"
	noErr(t, s.PutDeadLetter(ctx, again))
	got = must(s.DeadLetter(ctx, "k1"))(t)
	if got.Attempts != 3 || got.Err != "still failing" || !got.FirstFailed.Equal(base.Add(time.Minute)) || !got.LastFailed.Equal(base.Add(time.Hour)) {
		t.Errorf("after replace: attempts %d err %q first %s last %s", got.Attempts, got.Err, got.FirstFailed, got.LastFailed)
	}

	list := must(s.DeadLetters(ctx, sfsync.DeadLetterQuery{Object: "Contact"}))(t)
	if keys := keysOf(list); !slices.Equal(keys, []string{"k0", "k2"}) {
		t.Errorf("Contact dead letters = %v", keys)
	}
	list = must(s.DeadLetters(ctx, sfsync.DeadLetterQuery{Since: base.Add(2 * time.Minute)}))(t)
	if keys := keysOf(list); !slices.Equal(keys, []string{"k2", "k3", "k1"}) {
		t.Errorf("dead letters since 09:02, oldest failure first = %v", keys)
	}
	if list = must(s.DeadLetters(ctx, sfsync.DeadLetterQuery{Limit: 2}))(t); len(list) != 2 {
		t.Errorf("limit 2 gave %d", len(list))
	}
	noErr(t, s.DeleteDeadLetter(ctx, "k1"))
	if _, err := s.DeadLetter(ctx, "k1"); !errors.Is(err, sfsync.ErrNotFound) {
		t.Errorf("after delete: %v", err)
	}
	if err := s.DeleteDeadLetter(ctx, "k1"); err != nil {
		t.Errorf("deleting twice: %v", err)
	}
	if n := len(must(s.DeadLetters(ctx, sfsync.DeadLetterQuery{}))(t)); n != 3 {
		t.Errorf("%d dead letters left, want 3", n)
	}
}

func keysOf(ds []sfsync.DeadLetter) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.Key())
	}
	return out
}

// RunLeases tests an [sfsync.Leaser].
func RunLeases(t *testing.T, open func(t *testing.T) sfsync.Leaser) {
	ctx := context.Background()
	t.Run("Lifecycle", func(t *testing.T) { leaseLifecycle(ctx, t, open(t)) })
	t.Run("ConcurrentAcquireHasOneWinner", func(t *testing.T) {
		s := open(t)
		const racers = 16
		var wg stdsync.WaitGroup
		var won atomic.Int32
		start := make(chan struct{})
		for i := range racers {
			wg.Go(func() {
				<-start
				_, err := s.AcquireLease(ctx, "race", fmt.Sprintf("holder-%d", i), longTTL)
				switch {
				case err == nil:
					won.Add(1)
				case !errors.Is(err, sfsync.ErrLeaseHeld):
					t.Errorf("holder-%d: %v, want nil or ErrLeaseHeld", i, err)
				}
			})
		}
		close(start)
		wg.Wait()
		if n := won.Load(); n != 1 {
			t.Errorf("%d of %d concurrent holders got the lease, want exactly 1", n, racers)
		}
	})
	t.Run("TokensIncreaseAcrossHolders", func(t *testing.T) {
		s := open(t)
		var last int64
		for i := range 6 {
			l := must(s.AcquireLease(ctx, "rotating", fmt.Sprintf("holder-%d", i), longTTL))(t)
			if l.Token <= last {
				t.Fatalf("holder-%d got token %d after %d; tokens must strictly increase", i, l.Token, last)
			}
			last = l.Token
			noErr(t, s.ReleaseLease(ctx, l))
		}
	})
}

func leaseLifecycle(ctx context.Context, t *testing.T, s sfsync.Leaser) {
	a := must(s.AcquireLease(ctx, "sub", "a", longTTL))(t)
	if a.Holder != "a" || a.Name != "sub" || a.Token <= 0 || !a.Expires.After(time.Now().Add(longTTL/2)) {
		t.Fatalf("lease = %+v", a)
	}
	if _, err := s.AcquireLease(ctx, "sub", "b", longTTL); !errors.Is(err, sfsync.ErrLeaseHeld) {
		t.Fatalf("second holder: %v, want ErrLeaseHeld", err)
	}
	if again := must(s.AcquireLease(ctx, "sub", "a", longTTL))(t); again.Token != a.Token {
		t.Errorf("re-acquiring by the holder changed the token %d → %d", a.Token, again.Token)
	}
	// Leases of other names are independent.
	must(s.AcquireLease(ctx, "other", "b", longTTL))(t)
	renewed := must(s.RenewLease(ctx, a, 2*longTTL))(t)
	if renewed.Token != a.Token || renewed.Holder != "a" || !renewed.Expires.After(a.Expires) {
		t.Errorf("renewed %+v from %+v: want the same token and a later expiry", renewed, a)
	}

	// Expiry hands the lease over with a higher token; the old holder is fenced.
	short := must(s.AcquireLease(ctx, "short", "a", shortTTL))(t)
	var b sfsync.Lease
	eventually(t, "expired lease taken over", func() bool {
		l, err := s.AcquireLease(ctx, "short", "b", longTTL)
		if errors.Is(err, sfsync.ErrLeaseHeld) {
			return false
		}
		b = must(l, err)(t)
		return true
	})
	if b.Token <= short.Token {
		t.Errorf("takeover token %d is not above %d", b.Token, short.Token)
	}
	if _, err := s.RenewLease(ctx, short, longTTL); !errors.Is(err, sfsync.ErrFenced) {
		t.Errorf("renewing a taken-over lease: %v, want ErrFenced", err)
	}
	// The stale holder releasing must not free the new holder's lease.
	noErr(t, s.ReleaseLease(ctx, short))
	if _, err := s.AcquireLease(ctx, "short", "c", longTTL); !errors.Is(err, sfsync.ErrLeaseHeld) {
		t.Errorf("after a stale release, a third holder: %v, want ErrLeaseHeld", err)
	}

	// Release lets another holder in at once.
	noErr(t, s.ReleaseLease(ctx, b))
	c := must(s.AcquireLease(ctx, "short", "c", longTTL))(t)
	if c.Token <= b.Token {
		t.Errorf("token after release %d is not above %d", c.Token, b.Token)
	}
	if _, err := s.RenewLease(ctx, b, longTTL); !errors.Is(err, sfsync.ErrFenced) {
		t.Errorf("renewing a released lease: %v, want ErrFenced", err)
	}
}

// RunCommit tests [sfsync.StateCommitter] together with the other parts.
func RunCommit(t *testing.T, open func(t *testing.T) Store) {
	ctx := context.Background()
	t.Run("AllPartsAndFencing", func(t *testing.T) { commitAndFence(ctx, t, open(t)) })
	t.Run("Versions", func(t *testing.T) { commitVersions(ctx, t, open(t)) })
	t.Run("WithoutLease", func(t *testing.T) {
		s := open(t)
		must(s.Claim(ctx, "old", longTTL))(t)
		noErr(t, s.CommitState(ctx, sfsync.Commit{}))
		noErr(t, s.CommitState(ctx, sfsync.Commit{
			Claims:      []string{"old", "new", "brief"},
			ClaimTTL:    longTTL,
			Checkpoints: []sfsync.Position{{Stream: "a", Token: []byte{1}}, {Stream: "b", Token: []byte{2}}},
		}))
		if !must(s.Seen(ctx, "old"))(t) || !must(s.Seen(ctx, "new"))(t) {
			t.Error("claims of a commit not seen (a key claimed before must stay claimed)")
		}
		if must(s.Claim(ctx, "new", longTTL))(t) {
			t.Error("a key claimed by a commit was claimed again")
		}
		for _, p := range []sfsync.Position{{Stream: "a", Token: []byte{1}}, {Stream: "b", Token: []byte{2}}} {
			if got := must(s.LoadCheckpoint(ctx, p.Stream))(t); !slices.Equal(got.Token, p.Token) {
				t.Errorf("checkpoint %s = %v, want %v", p.Stream, got.Token, p.Token)
			}
		}
		// Claims take the commit's TTL.
		noErr(t, s.CommitState(ctx, sfsync.Commit{Claims: []string{"short"}, ClaimTTL: shortTTL}))
		eventually(t, "a commit's short claim expires", func() bool { return !must(s.Seen(ctx, "short"))(t) })
		if !must(s.Seen(ctx, "new"))(t) {
			t.Error("long claim expired with the short one")
		}
	})
	t.Run("ReadersSeeWholeCommits", func(t *testing.T) {
		s := open(t)
		const batches, size = 20, 10
		done := make(chan struct{})
		var wg stdsync.WaitGroup
		wg.Go(func() {
			defer close(done)
			for b := range batches {
				c := sfsync.Commit{ClaimTTL: longTTL, Checkpoints: []sfsync.Position{{Stream: "atomic", Token: []byte{byte(b)}}}}
				for i := range size {
					key := fmt.Sprintf("b%02d-%d", b, i)
					c.Outcomes = append(c.Outcomes, sfsync.Outcome{Key: key, Object: "Atomic", RecordID: key, Status: sfsync.StatusApplied, At: time.Unix(int64(b), 0)})
					c.Claims = append(c.Claims, key)
				}
				if err := s.CommitState(ctx, c); err != nil {
					t.Error(err)
					return
				}
			}
		})
		count := func() int {
			got, err := s.Outcomes(ctx, sfsync.OutcomeQuery{Object: "Atomic"})
			if err != nil {
				t.Error(err)
			}
			return len(got)
		}
		for reading := true; reading && !t.Failed(); {
			select {
			case <-done:
				reading = false
			default:
			}
			n := count()
			if n%size != 0 {
				t.Errorf("a reader saw %d outcomes: part of a commit", n)
			}
			if n == 0 {
				continue
			}
			// The checkpoint of a commit is never ahead of its outcomes.
			p, err := s.LoadCheckpoint(ctx, "atomic")
			if err != nil || len(p.Token) != 1 {
				t.Errorf("checkpoint after %d outcomes: %v, %v", n, p.Token, err)
			} else if batch := int(p.Token[0]); (batch+1)*size > count() {
				t.Errorf("checkpoint of batch %d visible before its outcomes", batch)
			}
		}
		wg.Wait()
		if n := len(must(s.Outcomes(ctx, sfsync.OutcomeQuery{Object: "Atomic"}))(t)); n != batches*size {
			t.Errorf("%d outcomes after %d commits of %d", n, batches, size)
		}
	})
}

func commitAndFence(ctx context.Context, t *testing.T, s Store) {
	at := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	lease := must(s.AcquireLease(ctx, "sub", "a", longTTL))(t)
	c := sfsync.Commit{
		Outcomes: []sfsync.Outcome{
			{Key: "k1", Object: "Contact", RecordID: "003A", Status: sfsync.StatusApplied, At: at},
			{Key: "k2", Object: "Contact", RecordID: "003B", Status: sfsync.StatusDeadLettered, At: at},
		},
		DeadLetters: []sfsync.DeadLetter{deadLetter("k2", "Contact", 1, at)},
		Claims:      []string{"k1"},
		ClaimTTL:    longTTL,
		Checkpoints: []sfsync.Position{{Stream: "sub", Token: []byte{1}}},
		Lease:       &lease,
	}
	if err := s.CommitState(ctx, c); err != nil {
		t.Fatal(err)
	}
	if n := len(must(s.Outcomes(ctx, sfsync.OutcomeQuery{}))(t)); n != 2 {
		t.Errorf("%d outcomes after commit", n)
	}
	if _, err := s.DeadLetter(ctx, "k2"); err != nil {
		t.Errorf("dead letter: %v", err)
	}
	if !must(s.Seen(ctx, "k1"))(t) || must(s.Seen(ctx, "k2"))(t) {
		t.Error("claims: k1 should be seen, k2 (dead-lettered, not claimed) not")
	}
	if p := must(s.LoadCheckpoint(ctx, "sub"))(t); !slices.Equal(p.Token, []byte{1}) {
		t.Errorf("checkpoint = %v", p.Token)
	}

	// A former holder is fenced and writes nothing.
	short := must(s.AcquireLease(ctx, "short", "a", shortTTL))(t)
	noErr(t, s.CommitState(ctx, sfsync.Commit{Checkpoints: []sfsync.Position{{Stream: "short", Token: []byte{1}}}, Lease: &short}))
	eventually(t, "lease taken over", func() bool {
		_, err := s.AcquireLease(ctx, "short", "b", longTTL)
		return err == nil
	})
	stale := sfsync.Commit{
		Outcomes:    []sfsync.Outcome{{Key: "stale", Object: "Contact", RecordID: "003C", Status: sfsync.StatusApplied, At: at}},
		Claims:      []string{"stale"},
		ClaimTTL:    longTTL,
		Checkpoints: []sfsync.Position{{Stream: "short", Token: []byte{9}}},
		Lease:       &short,
	}
	if err := s.CommitState(ctx, stale); !errors.Is(err, sfsync.ErrFenced) {
		t.Fatalf("commit under a taken-over lease: %v, want ErrFenced", err)
	}
	if p := must(s.LoadCheckpoint(ctx, "short"))(t); !slices.Equal(p.Token, []byte{1}) {
		t.Errorf("a fenced commit moved the checkpoint to %v", p.Token)
	}
	if n := len(must(s.Outcomes(ctx, sfsync.OutcomeQuery{Key: "stale"}))(t)); n != 0 {
		t.Error("a fenced commit recorded outcomes")
	}
	if must(s.Seen(ctx, "stale"))(t) {
		t.Error("a fenced commit claimed keys")
	}
}
