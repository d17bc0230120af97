package sync

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/sfsync/sfsync"
)

// commitLoop is the single writer of engine state. It groups the outcomes
// that are ready into one commit, advances each source's checkpoint to its
// contiguous watermark (the last delivery before which every delivery has
// an outcome), and only then tells the source and releases capacity.
func (e *Engine) commitLoop(ctx context.Context) {
	batch := make([]result, 0, e.cfg.commitBatch)
	for r := range e.results {
		batch = append(batch[:0], r)
	fill:
		for len(batch) < e.cfg.commitBatch {
			select {
			case r, ok := <-e.results:
				if !ok {
					break fill
				}
				batch = append(batch, r)
			default:
				break fill
			}
		}
		if err := e.flush(ctx, batch); err != nil {
			e.fail(err)
			// Keep draining so that workers never block; nothing more is
			// committed, and the source redelivers from the last checkpoint.
			for range e.results {
			}
			return
		}
	}
}

func (e *Engine) flush(ctx context.Context, batch []result) error {
	// The batch is walked by pointer: a result is over 300 bytes, and
	// copying every one in each loop below showed in the commit's profile.
	// Sized once per commit, not grown as the batch is walked.
	nv := 0
	for i := range batch {
		r := &batch[i]
		nv += len(r.versions)
	}
	c := sfsync.Commit{
		ClaimTTL: e.cfg.dedupTTL,
		Outcomes: make([]sfsync.Outcome, 0, len(batch)),
		Claims:   make([]string, 0, len(batch)),
		Versions: make([]sfsync.AppliedVersion, 0, nv),
	}
	completed := make([]*delivery, 0, len(batch))
	for i := range batch {
		r := &batch[i]
		if !r.empty {
			c.Outcomes = append(c.Outcomes, r.outcome)
			if r.dead != nil {
				c.DeadLetters = append(c.DeadLetters, *r.dead)
			}
			if r.claim {
				c.Claims = append(c.Claims, r.outcome.Key)
			}
		}
		c.Versions = append(c.Versions, r.versions...)
		c.Checkpoints = append(c.Checkpoints, r.checkpoints...)
		if d := r.it.d; d != nil && d.remaining.Add(-1) == 0 {
			d.src.done.put(d.seq-d.src.next, d.pos, d.at)
			completed = append(completed, d)
		}
	}
	type advance struct {
		s   *sourceState
		pos sfsync.Position
	}
	// Room for the usual few sources on the stack: a commit advances
	// most of them, and growing a slice for it cost an allocation per
	// commit.
	var room [4]advance
	advanced := room[:0]
	for _, s := range e.sources {
		var last sfsync.Position
		var at time.Time
		moved := false
		for {
			pos, t, ok := s.done.pop()
			if !ok {
				break
			}
			if !t.IsZero() {
				at = t
			}
			s.next++
			if !pos.IsZero() {
				last, moved = pos, true
			}
		}
		if moved {
			if p, ok := s.gapFreePosition(); ok {
				c.Checkpoints = append(c.Checkpoints, p)
			}
			c.Checkpoints = append(c.Checkpoints, last)
			advanced = append(advanced, advance{s, last})
			if p, ok := s.seenPosition(at); ok {
				c.Checkpoints = append(c.Checkpoints, p)
			}
		}
	}
	if l := e.lease.Load(); l != nil {
		lease := *l
		c.Lease = &lease
	}
	if err := e.commitWithRetry(ctx, c); err != nil {
		return err
	}

	e.pendingMu.Lock()
	for i := range batch {
		r := &batch[i]
		if !r.empty && r.outcome.Key != "" && r.outcome.Status != sfsync.StatusDeadLettered {
			e.settleKeyLocked(r.outcome.Key, true, r.deciding)
		}
		for i, v := range r.versions {
			if i > 0 && v.Record == r.versions[i-1].Record {
				continue // counted once per run of one record (see emit)
			}
			if e.unsaved[v.Record]--; e.unsaved[v.Record] <= 0 {
				delete(e.unsaved, v.Record)
			}
		}
	}
	e.pendingMu.Unlock()
	for _, d := range completed {
		e.sem.Release(d.tokens)
	}
	// The outcomes are durable: count them before the sources hear of
	// their checkpoints, so that a host that saw a checkpoint move never
	// reads the stats from before it (InFlight counts a committed change).
	for i := range batch {
		if r := &batch[i]; !r.empty {
			e.stats.count(r.outcome.Status)
			if r.it.d != nil {
				e.stats.settled.Add(1)
			}
		}
	}
	for _, a := range advanced {
		if err := a.s.src.Commit(ctx, a.pos); err != nil {
			// The checkpoint is durable in the store; the source only
			// releases buffers or acknowledges a managed subscription.
			e.log.Warn("sfsync: source commit failed", "source", a.s.index, "stream", a.pos.Stream, "err", err)
		}
	}
	for i := range batch {
		r := &batch[i]
		if r.onCommit != nil {
			r.onCommit()
		}
		if !r.empty && r.it.done != nil {
			r.it.done(r.outcome)
		}
	}
	e.stats.commits.Add(1)
	e.observeCommit(ctx, batch)
	return nil
}

// finished holds a source's deliveries that have their outcomes, from its
// watermark on: slot i is the delivery i after the first one without an
// outcome. Deliveries finish nearly in order, so the slots are few; a
// slice indexed by that offset costs no hashing, where a map by sequence
// number cost two updates per delivery.
type finished struct {
	slots []finishedSlot
	head  int // slots before head are taken
}

type finishedSlot struct {
	pos sfsync.Position
	at  time.Time
	ok  bool
}

// put records the delivery at offset i from the watermark as finished at
// pos, its last change made at at (zero when unknown).
func (f *finished) put(i uint64, pos sfsync.Position, at time.Time) {
	n := f.head + int(i)
	if n >= len(f.slots) {
		if f.head > 0 && f.head >= len(f.slots)/2 {
			// Reuse the room taken slots leave at the front.
			k := copy(f.slots, f.slots[f.head:])
			clear(f.slots[k:])
			f.slots, f.head, n = f.slots[:k], 0, int(i)
		}
		if n >= len(f.slots) {
			f.slots = append(f.slots, make([]finishedSlot, n+1-len(f.slots))...)
		}
	}
	f.slots[n] = finishedSlot{pos: pos, at: at, ok: true}
}

// pop takes the delivery at the watermark when it is finished.
func (f *finished) pop() (sfsync.Position, time.Time, bool) {
	if f.head >= len(f.slots) || !f.slots[f.head].ok {
		return sfsync.Position{}, time.Time{}, false
	}
	s := f.slots[f.head]
	f.slots[f.head] = finishedSlot{}
	f.head++
	if f.head == len(f.slots) {
		f.slots, f.head = f.slots[:0], 0
	}
	return s.pos, s.at, true
}

// lazyBackOff is a retry policy made on the first failure: most calls of
// the per-batch paths that retry need none, and making one costs several
// allocations.
type lazyBackOff struct{ bo backoff.BackOff }

// next returns the wait before the next attempt, or a negative duration to
// stop retrying.
func (l *lazyBackOff) next(e *Engine) time.Duration {
	if l.bo == nil {
		l.bo = e.cfg.newBackOff()
	}
	return l.bo.NextBackOff()
}

func (e *Engine) commitWithRetry(ctx context.Context, c sfsync.Commit) error {
	var bo lazyBackOff
	for {
		err := e.st.commit(ctx, c)
		if err == nil {
			return nil
		}
		if errors.Is(err, sfsync.ErrFenced) {
			return fmt.Errorf("sync: another instance holds the lease; stopping without committing: %w", err)
		}
		wait := bo.next(e)
		if wait < 0 || sfsync.IsPermanent(err) || ctx.Err() != nil {
			return fmt.Errorf("sync: committing %d outcomes and %d checkpoints failed; unfinished changes will be redelivered: %w",
				len(c.Outcomes), len(c.Checkpoints), err)
		}
		e.log.Warn("sfsync: state commit failed; retrying", "err", err, "wait", wait)
		if !sleep(ctx, wait) {
			return fmt.Errorf("sync: state commit interrupted: %w", err)
		}
	}
}
