package sync_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/conflict"
	"github.com/sfsync/sfsync/reconcile"
	sfsyncsync "github.com/sfsync/sfsync/sync"
	"github.com/sfsync/sfsync/sync/synctest"
)

// gatedReconciler fails its first fail reconciliations, then holds each
// one until release is closed, as an authority that is down and then slow.
type gatedReconciler struct {
	fail    atomic.Int32
	release chan struct{}
	inner   sfsync.Reconciler
}

func (g *gatedReconciler) Reconcile(ctx context.Context, scope sfsync.Scope, emit func(context.Context, sfsync.Change) error) error {
	if g.fail.Add(-1) >= 0 {
		return errors.New("injected: the authority is unavailable")
	}
	select {
	case <-g.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	return g.inner.Reconcile(ctx, scope, emit)
}

// backfillOf returns the progress of object's backfill.
func backfillOf(e *sfsyncsync.Engine, object string) sfsyncsync.BackfillProgress {
	for _, p := range e.Backfills() {
		if p.Object == object {
			return p
		}
	}
	return sfsyncsync.BackfillProgress{}
}

// A backfill's records are no source's deliveries: InFlight leaves them
// out, and Background counts the backfill from when it is owed, through a
// failed run and the wait before the next, until it is done. A host (the
// simulator) that took InFlight at zero for an idle engine saw the
// backfill's writes, and their echoes, come after it.
func TestBackgroundCountsABackfillUntilItIsDone(t *testing.T) {
	b := newBidi(t)
	// Only the backfill carries it: it changed before the first start.
	b.sf.EditSilently("Contact", "003A", map[string]any{"LastName": "Old"}, at(0))
	g := &gatedReconciler{release: make(chan struct{}), inner: reconcile.New(b.sf, reconcile.WithTenant(org), reconcile.WithLogger(quiet()))}
	g.fail.Store(1)
	src := b.sfLog.Source()
	// The first start of a stream owes a backfill.
	e := oneWay(t, b, src, sfsyncsync.WithReconciler(g), sfsyncsync.WithBackfill("Contact"))
	start(t, e)
	b.sf.Edit("Contact", "003B", map[string]any{"LastName": "Live"}, at(time.Minute))
	settle(t, b.sfLog, src)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The first run fails, and the next waits its backoff (a second).
	waitUntil(ctx, t, "the backfill's first run to fail", func() bool { return backfillOf(e, "Contact").Err != nil })
	if s := e.Stats(); s.InFlight != 0 || s.Background < 1 {
		t.Errorf("while a failed backfill waits to run again: InFlight %d, Background %d; want 0 and at least 1", s.InFlight, s.Background)
	}
	// The second run is held until released.
	waitUntil(ctx, t, "the backfill's second run", func() bool {
		p := backfillOf(e, "Contact")
		return p.Err == nil && p.Phase == sfsyncsync.PhasePinned
	})
	if s := e.Stats(); s.InFlight != 0 || s.Background < 1 {
		t.Errorf("while the backfill runs: InFlight %d, Background %d; want 0 and at least 1", s.InFlight, s.Background)
	}
	if _, ok := b.ext.Record("Contact", "003A"); ok {
		t.Fatal("003A reached the external system before its backfill ran")
	}
	close(g.release)
	waitUntil(ctx, t, "no background work", func() bool { return e.Stats().Background == 0 })
	if p := backfillOf(e, "Contact"); p.Phase != sfsyncsync.PhaseDone {
		t.Errorf("Background is 0 with the backfill %s", p.Phase)
	}
	if _, ok := b.ext.Record("Contact", "003A"); !ok {
		t.Error("Background is 0 before the backfill wrote its record")
	}
}

// A change waiting in the park for its target's event is background work
// too, whether or not a delivery's outcome waits for it.
func TestBackgroundCountsParkedChanges(t *testing.T) {
	b := newBidi(t)
	b.salesforceByRecord()
	r, settled := b.startBoth(t, conflict.ExternalWins())
	b.ext.Edit("Contact", "P-2", map[string]any{"LastName": "n5"}, at(6*time.Second))
	settled()
	if s := r.e.Stats(); s.Background != 0 {
		t.Fatalf("settled: Background %d, want 0", s.Background)
	}
	// The repair of the losing rename waits for the event of Salesforce's
	// later change, which has not come.
	lost := b.sf.EditSilently("Contact", "P-2", map[string]any{"LastName": "n16"}, at(12*time.Second))
	later := b.sf.EditSilently("Contact", "P-2", map[string]any{"Email": "e17"}, at(13*time.Second))
	b.sfLog.Append(lost)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	waitParked(ctx, t, r.e, 1)
	if s := r.e.Stats(); s.Background < 1 {
		t.Errorf("with a change in the park: Background %d, want at least 1", s.Background)
	}
	b.sfLog.Append(later)
	settled()
	waitUntil(ctx, t, "the park to empty", func() bool { return r.e.Parked() == 0 })
	if s := r.e.Stats(); s.Background != 0 {
		t.Errorf("with the park empty: Background %d, want 0", s.Background)
	}
}

// countingSource counts the deliveries its source hands over.
type countingSource struct {
	sfsync.EventSource
	handed atomic.Int64
}

func (c *countingSource) Receive(ctx context.Context) ([]sfsync.Change, error) {
	cs, err := c.EventSource.Receive(ctx)
	if err == nil {
		c.handed.Add(1)
	}
	return cs, err
}

// A stream's Delivered counts what its source handed over once the engine
// has taken it: with InFlight it tells a host whether a delivery its
// source returned is still on its way into the engine, where no counter
// shows it yet.
func TestStreamsCountTheDeliveriesTaken(t *testing.T) {
	b := newBidi(t)
	src := &countingSource{EventSource: b.sfLog.Source(synctest.DeliverTwice())}
	e := oneWay(t, b, src)
	start(t, e)
	for i := range 3 {
		b.sf.Edit("Contact", "003A", map[string]any{"LastName": fmt.Sprint("n", i)}, at(time.Duration(i)*time.Second))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	waitUntil(ctx, t, "every entry handed over twice", func() bool { return src.handed.Load() == 6 })
	waitUntil(ctx, t, "the engine to take and settle what was handed over", func() bool {
		st := e.Streams()[0]
		if st.Delivered > src.handed.Load() {
			t.Fatalf("Delivered %d, more than the %d deliveries handed over", st.Delivered, src.handed.Load())
		}
		return st.Delivered == 6 && st.InFlight == 0
	})
	if s := e.Stats(); s.InFlight != 0 || s.Received != 6 {
		t.Errorf("Stats: InFlight %d, Received %d; want 0 and 6", s.InFlight, s.Received)
	}
}

// statsAtCommit is a source that reads the engine's stats each time the
// engine tells it a checkpoint moved.
type statsAtCommit struct {
	sfsync.EventSource
	engine   atomic.Pointer[sfsyncsync.Engine]
	inFlight atomic.Int64 // the largest InFlight seen at a Commit
}

func (s *statsAtCommit) Commit(ctx context.Context, pos sfsync.Position) error {
	if e := s.engine.Load(); e != nil {
		if n := e.Stats().InFlight; n > s.inFlight.Load() {
			s.inFlight.Store(n)
		}
	}
	return s.EventSource.Commit(ctx, pos)
}

// A host that waits for a source's checkpoint and then reads the stats
// must see that change settled: the outcome is durable before the source
// hears of it, and so is its count.
func TestStatsCountAChangeSettledBeforeItsSourceCommits(t *testing.T) {
	b := newBidi(t)
	inner := b.sfLog.Source()
	src := &statsAtCommit{EventSource: inner}
	e := oneWay(t, b, src)
	src.engine.Store(e)
	start(t, e)
	// One change at a time, so that none is in flight at its commit but
	// the one committed.
	for i := range 3 {
		b.sf.Edit("Contact", fmt.Sprintf("003S%d", i), map[string]any{"LastName": "Live"}, at(time.Duration(i)*time.Minute))
		settle(t, b.sfLog, inner)
	}
	if n := src.inFlight.Load(); n != 0 {
		t.Errorf("a source heard of its checkpoint while the stats counted %d changes in flight; want 0", n)
	}
}
