package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	stdsync "sync"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/sfsync/sfsync"
	sfsyncsync "github.com/sfsync/sfsync/sync"
	"github.com/sfsync/sfsync/sync/synctest"
)

// pausableLeaser is an instance's view of the store, whose lease methods
// report every refused and every granted acquisition on channels and can be
// stalled: a stalled instance stops renewing (its renewals hang until its
// context ends, like a process in a long GC pause or behind a network
// partition) without releasing the lease. It is the engine's store as well
// as its leaser, since the engine fences only commits of the store that
// grants its lease.
type pausableLeaser struct {
	*Store

	mu      stdsync.RWMutex // held for reading by every renewal in flight
	stalled bool

	refused  chan struct{}
	acquired chan sfsync.Lease
}

func newPausableLeaser(s *Store) *pausableLeaser {
	return &pausableLeaser{Store: s, refused: make(chan struct{}, 1), acquired: make(chan sfsync.Lease, 1)}
}

func (l *pausableLeaser) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (sfsync.Lease, error) {
	lease, err := l.Store.AcquireLease(ctx, name, holder, ttl)
	switch {
	case err == nil:
		select {
		case l.acquired <- lease:
		default:
		}
	case errors.Is(err, sfsync.ErrLeaseHeld):
		select {
		case l.refused <- struct{}{}:
		default:
		}
	}
	return lease, err
}

func (l *pausableLeaser) RenewLease(ctx context.Context, lease sfsync.Lease, ttl time.Duration) (sfsync.Lease, error) {
	l.mu.RLock()
	if l.stalled {
		l.mu.RUnlock()
		<-ctx.Done()
		return sfsync.Lease{}, ctx.Err()
	}
	defer l.mu.RUnlock()
	return l.Store.RenewLease(ctx, lease, ttl)
}

func (l *pausableLeaser) ReleaseLease(ctx context.Context, lease sfsync.Lease) error {
	return l.Store.ReleaseLease(ctx, lease)
}

// stall stops renewals; when it returns, no renewal is in flight, so the
// lease expires ttl after the last one by the stores' clock.
func (l *pausableLeaser) stall() {
	l.mu.Lock()
	l.stalled = true
	l.mu.Unlock()
}

// instance is one engine of the scaled-out deployment, running in the
// background.
type instance struct {
	src    *synctest.Source
	leaser *pausableLeaser
	cancel context.CancelFunc
	done   chan error
}

func startInstance(t *testing.T, log *synctest.Log, target *synctest.System, store *Store, clk *clock, holder string, ttl time.Duration) *instance {
	t.Helper()
	in := &instance{src: log.Source(), leaser: newPausableLeaser(store), done: make(chan error, 1)}
	e, err := sfsyncsync.New(in.src, target,
		sfsyncsync.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
		sfsyncsync.WithStore(in.leaser),
		sfsyncsync.WithLease(in.leaser, "contacts", holder, ttl),
		sfsyncsync.WithClock(clk.Now),
		sfsyncsync.WithBackOff(func() backoff.BackOff { return backoff.WithMaxRetries(&backoff.ZeroBackOff{}, 3) }),
	)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	in.cancel = cancel
	go func() { in.done <- e.Run(ctx) }()
	// Registered after the store's Close, so it runs before it.
	t.Cleanup(func() {
		cancel()
		select {
		case <-in.done:
		case <-time.After(30 * time.Second):
			t.Errorf("engine %s did not stop within 30s", holder)
		}
	})
	return in
}

// wait receives from ch or fails the test when ctx ends first.
func wait[T any](t *testing.T, ctx context.Context, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-ctx.Done():
		t.Fatalf("waiting for %s: %v", what, ctx.Err())
		var zero T
		return zero
	}
}

func checkpointIndex(t *testing.T, s *Store, stream string) int {
	t.Helper()
	pos, err := s.LoadCheckpoint(context.Background(), stream)
	if err != nil {
		t.Fatal(err)
	}
	i, err := synctest.Index(pos)
	if err != nil {
		t.Fatal(err)
	}
	return i
}

// TestTakeoverByASecondEngine scales out to two engines on one database:
// the second waits while the first holds the lease, takes over with a
// higher fencing token once the first stalls and its lease expires,
// resumes from the committed checkpoint, and the first, still running,
// can no longer commit. Every change takes effect once and has one
// deciding outcome.
func TestTakeoverByASecondEngine(t *testing.T) {
	name := schema(t)
	clk := &clock{now: time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)}
	storeA := openIn(t, name, WithClock(clk.Now))
	storeB := openIn(t, name, WithClock(clk.Now))
	// Lease expiry follows the stores' clock, which only the test moves;
	// the engines renew and retry every ttl/3 of real time.
	const ttl = 60 * time.Millisecond

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	log := synctest.NewLog("/data/ContactChangeEvent")
	salesforce := synctest.NewSystem(sfsync.Salesforce, synctest.WithFeed(log))
	erp := synctest.NewSystem(sfsync.External("erp")) // idempotent by key
	edit := func(id, phone string, minute int) {
		salesforce.Edit("Contact", id, map[string]any{"Phone": phone}, sfsync.Version{Time: clk.Now().Add(time.Duration(minute) * time.Minute)})
	}
	for i := range 5 {
		edit(fmt.Sprintf("003%03d", i), fmt.Sprintf("555-01%02d", i), i)
	}
	const firstPart = 5

	// A starts alone, takes the lease and processes the first part.
	a := startInstance(t, log, erp, storeA, clk, "A", ttl)
	leaseA := wait(t, ctx, a.leaser.acquired, "A's lease")
	if err := a.src.WaitCommitted(ctx, firstPart); err != nil {
		t.Fatal(err)
	}

	// B starts and is refused while A's lease is live; it keeps retrying.
	b := startInstance(t, log, erp, storeB, clk, "B", ttl)
	wait(t, ctx, b.leaser.refused, "B's first refusal")
	wait(t, ctx, b.leaser.refused, "B's retry")
	if n := b.src.Committed(); n != 0 {
		t.Fatalf("B committed %d deliveries without the lease", n)
	}
	select {
	case l := <-b.leaser.acquired:
		t.Fatalf("B acquired %+v while A's lease was live", l)
	default:
	}
	if got := erp.AppliedKeys(); len(got) != firstPart {
		t.Fatalf("before the takeover the ERP applied %d keys, want %d: %v", len(got), firstPart, got)
	}
	if n := len(ledger(t, storeB)); n != firstPart {
		t.Fatalf("before the takeover the ledger holds %d outcomes, want %d", n, firstPart)
	}
	if i := checkpointIndex(t, storeB, log.Stream()); i != firstPart-1 {
		t.Fatalf("checkpoint at delivery %d, want %d", i, firstPart-1)
	}

	// A stalls: it stops renewing but neither stops nor releases. Once the
	// clock passes its expiry, B takes over.
	a.leaser.stall()
	clk.Add(2 * ttl)
	leaseB := wait(t, ctx, b.leaser.acquired, "B's takeover")
	if leaseB.Token <= leaseA.Token {
		t.Fatalf("B's token %d is not above A's %d", leaseB.Token, leaseA.Token)
	}
	if leaseB.Holder != "B" {
		t.Fatalf("takeover lease = %+v", leaseB)
	}

	// The rest of the log: new contacts and updates of earlier ones. Both
	// instances receive it; A, still running on its old lease, writes
	// (idempotently) but cannot commit.
	for i := 5; i < 9; i++ {
		edit(fmt.Sprintf("003%03d", i), fmt.Sprintf("555-01%02d", i), i)
	}
	edit("003000", "555-0200", 20)
	edit("003001", "555-0201", 21)
	total := log.Len()

	if err := wait(t, ctx, a.done, "A to stop"); !errors.Is(err, sfsync.ErrFenced) {
		t.Fatalf("A's Run = %v, want ErrFenced", err)
	}
	a.done <- nil // for the cleanup
	if err := b.src.WaitCommitted(ctx, total); err != nil {
		t.Fatal(err)
	}
	if i := checkpointIndex(t, storeB, log.Stream()); i != total-1 {
		t.Fatalf("checkpoint at delivery %d after B, want %d", i, total-1)
	}

	// Any later checkpoint commit on A's lease is fenced and moves nothing.
	stale := sfsync.Position{Stream: log.Stream(), Token: make([]byte, 8)} // delivery 0
	err := storeA.CommitState(ctx, sfsync.Commit{
		Outcomes:    []sfsync.Outcome{{Key: "zombie", Object: "Contact", RecordID: "003000", Status: sfsync.StatusApplied, At: clk.Now()}},
		Checkpoints: []sfsync.Position{stale},
		Lease:       &leaseA,
	})
	if !errors.Is(err, sfsync.ErrFenced) {
		t.Fatalf("A's commit after the takeover = %v, want ErrFenced", err)
	}
	if i := checkpointIndex(t, storeA, log.Stream()); i != total-1 {
		t.Fatalf("a fenced commit moved the checkpoint to delivery %d", i)
	}

	b.cancel()
	if err := wait(t, ctx, b.done, "B to stop"); err != nil {
		t.Fatalf("B's Run = %v", err)
	}
	b.done <- nil

	for _, in := range []*instance{a, b} {
		if v := in.src.Violations(); len(v) > 0 {
			t.Errorf("checkpoint moved backwards: %v", v)
		}
	}
	if n := a.src.Committed(); n != firstPart {
		t.Errorf("A's source saw %d deliveries committed, want %d (nothing after the takeover)", n, firstPart)
	}

	// Exactly once, by effect and by outcome.
	keys := map[string]bool{}
	for _, c := range log.Changes() {
		keys[c.Key] = true
	}
	if len(keys) != total {
		t.Fatalf("%d keys in %d deliveries", len(keys), total)
	}
	applied := erp.AppliedKeys()
	for k := range keys {
		if applied[k] != 1 {
			t.Errorf("key %s took effect %d times in the ERP", k, applied[k])
		}
	}
	if len(applied) != len(keys) {
		t.Errorf("the ERP applied %d keys, want %d: %v", len(applied), len(keys), applied)
	}
	deciding := map[string]int{}
	for _, o := range ledger(t, storeB) {
		if o.Status == sfsync.StatusDuplicate {
			continue
		}
		deciding[o.Key]++
		if o.Status != sfsync.StatusApplied && o.Status != sfsync.StatusNoop {
			t.Errorf("outcome of %s = %s (%s)", o.Key, o.Status, o.Reason)
		}
	}
	for k := range keys {
		if deciding[k] != 1 {
			t.Errorf("key %s has %d deciding outcomes, want 1", k, deciding[k])
		}
	}
	if len(deciding) != len(keys) {
		t.Errorf("the ledger decides %d keys, want %d: %v", len(deciding), len(keys), deciding)
	}
	for _, id := range []string{"003000", "003001", "003008"} {
		rec, ok := erp.Record("Contact", id)
		if !ok {
			t.Errorf("the ERP lacks %s", id)
			continue
		}
		want := map[string]string{"003000": "555-0200", "003001": "555-0201", "003008": "555-0108"}[id]
		if rec.Fields["Phone"] != want {
			t.Errorf("ERP %s Phone = %v, want %s", id, rec.Fields["Phone"], want)
		}
	}
}

func ledger(t *testing.T, s *Store) []sfsync.Outcome {
	t.Helper()
	out, err := s.Outcomes(context.Background(), sfsync.OutcomeQuery{Limit: 10000})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
