package sync_test

import (
	"context"
	stdsync "sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	sfsyncsync "github.com/sfsync/sfsync/sync"
	"github.com/sfsync/sfsync/sync/synctest"
)

// losingSource is a synctest source that loses its stream position once
// lose is closed: the Receive in progress then (or the next one) fails with
// ErrPositionUnavailable, as a subscription does whose replay id expired
// while it was away. Closing, not sending, tells every Receive: a send could
// be taken by the watcher of a Receive that had just returned, and the
// position would never be lost.
type losingSource struct {
	*synctest.Source
	lose chan struct{}
	lost atomic.Bool
}

func (s *losingSource) Receive(ctx context.Context) ([]sfsync.Change, error) {
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-s.lose:
			if !s.lost.Load() {
				cancel()
			}
		case <-rctx.Done():
		}
	}()
	changes, err := s.Source.Receive(rctx)
	select {
	case <-s.lose:
		if s.lost.CompareAndSwap(false, true) {
			return nil, sfsync.ErrPositionUnavailable
		}
	default:
	}
	return changes, err
}

// heldReconciler counts its runs; the first waits for release.
type heldReconciler struct {
	mu      stdsync.Mutex
	runs    int
	started chan struct{}
	release chan struct{}
}

func (g *heldReconciler) Reconcile(ctx context.Context, scope sfsync.Scope, emit func(context.Context, sfsync.Change) error) error {
	g.mu.Lock()
	g.runs++
	first := g.runs == 1
	g.mu.Unlock()
	if first {
		g.started <- struct{}{}
		select {
		case <-g.release:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func (g *heldReconciler) count() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.runs
}

// lateBackfillRead is a state store whose reads of a backfill's state,
// once armed, are slow: they answer once the state is no longer owed, or
// after half a second, as a store slower to read than the commit loop is
// to write. The next run then reads its state after the first run's last
// commit.
type lateBackfillRead struct {
	stateStore
	armed atomic.Bool
}

func (s *lateBackfillRead) LoadCheckpoint(ctx context.Context, stream string) (sfsync.Position, error) {
	if stream == "sfsync/backfill/Contact" && s.armed.Load() {
		slow := time.After(500 * time.Millisecond)
		for {
			cp, err := s.stateStore.LoadCheckpoint(ctx, stream)
			if err != nil || sfsyncsync.BackfillPhaseOf(cp.Token) != sfsyncsync.PhaseOwed || ctx.Err() != nil {
				return cp, err
			}
			select {
			case <-ctx.Done():
				return cp, ctx.Err()
			case <-slow:
				return cp, err
			case <-time.After(time.Millisecond):
			}
		}
	}
	return s.stateStore.LoadCheckpoint(ctx, stream)
}

// A backfill owed again while one runs (the stream position was lost once
// more) is not taken as done when the running one finishes: what was lost
// the second time may postdate that run's query, so it runs again.
func TestBackfillOwedAgainWhileRunningRunsAgain(t *testing.T) {
	b := newBidi(t)
	rec := &heldReconciler{started: make(chan struct{}, 1), release: make(chan struct{})}
	src := &losingSource{Source: b.sfLog.Source(synctest.PositionUnavailable()), lose: make(chan struct{})}
	store := &lateBackfillRead{stateStore: b.store}
	e := oneWay(t, b, src, sfsyncsync.WithReconciler(rec), sfsyncsync.WithBackfill("Contact"), sfsyncsync.WithStore(store))
	r := start(t, e)
	<-rec.started
	close(src.lose)
	waitFor(t, func() bool {
		cp, err := b.store.LoadCheckpoint(context.Background(), "sfsync/backfill/Contact")
		return err == nil && sfsyncsync.BackfillPhaseOf(cp.Token) == sfsyncsync.PhaseOwed
	})
	store.armed.Store(true)
	close(rec.release)
	waitFor(t, func() bool { return rec.count() >= 2 })
	waitFor(t, func() bool {
		cp, err := b.store.LoadCheckpoint(context.Background(), "sfsync/backfill/Contact")
		return err == nil && sfsyncsync.BackfillPhaseOf(cp.Token) == sfsyncsync.PhaseDone
	})
	r.stop(t)
}
