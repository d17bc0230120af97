package sync

import (
	"context"
	"errors"
	"fmt"

	"github.com/sfsync/sfsync"
)

// Requeue sends the dead-lettered change with idempotency key key through
// the pipeline again, with the same key, so that a change that had partly
// succeeded is not applied twice. It returns the new outcome; unless the
// change is dead-lettered again its dead letter is deleted. The engine must
// be running.
func (e *Engine) Requeue(ctx context.Context, key string) (sfsync.Outcome, error) {
	if !e.running.Load() {
		return sfsync.Outcome{}, errors.New("sync: Engine.Requeue needs a running engine; call it while Run is running")
	}
	d, err := e.st.deadLetters.DeadLetter(ctx, key)
	if err != nil {
		return sfsync.Outcome{}, fmt.Errorf("sync: requeue %q: %w", key, err)
	}
	done := make(chan sfsync.Outcome, 1)
	it := &item{c: d.Change.Clone(), requeue: &d, done: func(o sfsync.Outcome) { done <- o }}
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
