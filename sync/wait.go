package sync

import (
	"context"
	"fmt"

	"github.com/sfsync/sfsync"
)

// WaitCommitted blocks until every delivery the engine has taken from its
// sources so far has a durable outcome and its stream's checkpoint is
// committed, or until ctx ends or Run returns. A host that hands a change
// to a source and needs it synced waits with [Engine.WaitUntil] for its
// outcome instead: what a source has not handed over yet is not known to
// the engine.
func (e *Engine) WaitCommitted(ctx context.Context) error {
	e.obs.mu.Lock()
	target := make([]uint64, len(e.obs.streams))
	for i := range e.obs.streams {
		target[i] = e.obs.streams[i].delivered
	}
	e.obs.mu.Unlock()
	return e.wait(ctx, "WaitCommitted", func() bool {
		e.obs.mu.Lock()
		defer e.obs.mu.Unlock()
		for i := range e.obs.streams {
			if e.obs.streams[i].settled < target[i] {
				return false
			}
		}
		return true
	})
}

// WaitIdle blocks until the engine is idle: it reads every source, each
// waits for more changes, and every delivery taken has a durable outcome
// and a committed checkpoint. It returns when ctx ends or Run returns
// first. Idle describes the engine, not its sources: a change a source has
// not handed over yet (an event still on its way from the server) is not
// known to it. Reconciliations started with Reconcile and backfills are
// not waited for.
func (e *Engine) WaitIdle(ctx context.Context) error {
	return e.wait(ctx, "WaitIdle", func() bool {
		e.obs.mu.Lock()
		defer e.obs.mu.Unlock()
		for i := range e.obs.streams {
			o := &e.obs.streams[i]
			if !o.listening || !o.waiting || o.settled < o.delivered {
				return false
			}
		}
		return true
	})
}

// WaitUntil blocks until cond holds, checking it now and after every
// commit, or until ctx ends or Run returns. cond may read the engine
// (Stats, Streams) and its stores, for example to wait for a change's
// outcome in the ledger.
func (e *Engine) WaitUntil(ctx context.Context, cond func() bool) error {
	return e.wait(ctx, "WaitUntil", cond)
}

func (e *Engine) wait(ctx context.Context, what string, cond func() bool) error {
	e.obs.mu.Lock()
	e.obs.waiters++
	e.obs.mu.Unlock()
	defer func() {
		e.obs.mu.Lock()
		e.obs.waiters--
		e.obs.mu.Unlock()
	}()
	for {
		e.obs.mu.Lock()
		changed := e.obs.changed
		e.obs.mu.Unlock()
		// cond runs unlocked (it may read the engine); a commit after the
		// channel was taken closes it, so nothing is missed.
		if cond() {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("sync: %s: %w", what, ctx.Err())
		case <-e.finished:
			if cond() {
				return nil
			}
			if err := e.fatalErr(); err != nil {
				return fmt.Errorf("sync: %s: the engine stopped: %w", what, err)
			}
			return fmt.Errorf("sync: %s: the engine stopped: %w", what, sfsync.ErrClosed)
		}
	}
}
