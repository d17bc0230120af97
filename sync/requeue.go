package sync

import (
	"context"
	"fmt"

	"github.com/sfsync/sfsync"
)

// Requeue sends the dead-lettered change with idempotency key key through
// the pipeline again, with the same key, so that a change that had partly
// succeeded is not applied twice. It returns the new outcome; unless the
// change is dead-lettered again its dead letter is deleted. It waits for
// [Engine.Run] to start taking changes, so it may be called right after
// starting Run in another goroutine.
func (e *Engine) Requeue(ctx context.Context, key string) (sfsync.Outcome, error) {
	if err := e.waitStarted(ctx, "Requeue"); err != nil {
		return sfsync.Outcome{}, fmt.Errorf("sync: requeue %q: %w", key, err)
	}
	d, err := e.st.deadLetters.DeadLetter(ctx, key)
	if err != nil {
		return sfsync.Outcome{}, fmt.Errorf("sync: requeue %q: %w", key, err)
	}
	done := make(chan sfsync.Outcome, 1)
	// A row read from authoritative state is read again (see handOff).
	it := &item{c: d.Change.Clone(), requeue: &d, snapshot: d.Change.Snapshot, done: func(o sfsync.Outcome) { done <- o },
		beforeDelete: d.Change.Op == sfsync.OpUpdate && beforeDeleteKey(d.Change.Key)}
	if !e.push(it) {
		return sfsync.Outcome{}, fmt.Errorf("sync: requeue %q: engine is stopping: %w", key, sfsync.ErrClosed)
	}
	var o sfsync.Outcome
	select {
	case o = <-done:
	case <-ctx.Done():
		return sfsync.Outcome{}, fmt.Errorf("sync: requeue %q: waiting for the outcome: %w", key, ctx.Err())
	case <-e.finished:
		return sfsync.Outcome{}, fmt.Errorf("sync: requeue %q: engine stopped before the change had an outcome; it is still dead-lettered: %w", key, sfsync.ErrClosed)
	}
	if o.Status != sfsync.StatusDeadLettered {
		if err := e.st.deadLetters.DeleteDeadLetter(ctx, key); err != nil {
			return o, fmt.Errorf("sync: requeue %q succeeded (%s) but deleting its dead letter failed: %w", key, o.Status, err)
		}
	}
	return o, nil
}

// waitStarted waits until Run takes changes.
func (e *Engine) waitStarted(ctx context.Context, what string) error {
	select {
	case <-e.started:
		return nil
	case <-e.finished:
		return fmt.Errorf("%s needs a running engine, and Run has returned: %w", what, sfsync.ErrClosed)
	case <-ctx.Done():
		return fmt.Errorf("%s waited for Run to start: %w", what, ctx.Err())
	}
}
