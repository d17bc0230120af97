package sync

import (
	"context"
	"fmt"
	stdsync "sync"
	"sync/atomic"
	"time"

	"github.com/sfsync/sfsync"
)

// resyncJob is a reconciliation of a whole object: an overflow event's
// (w is the event) or a backfill's (w is nil).
type resyncJob struct {
	scope sfsync.Scope
	w     *work
	// backfill: the job runs the object's owed backfill.
	backfill bool
	// attempt counts the runs of a backfill.
	attempt int
}

// resyncQueue holds resync jobs until the resync loop takes them. It is
// unbounded, but it only grows by overflow events, which hold capacity of
// the source until they finish, and by one backfill per object and cause.
type resyncQueue struct {
	mu     stdsync.Mutex
	jobs   []resyncJob
	signal chan struct{}
	// outstanding counts the jobs added and not finished by the resync
	// loop, and the backfills waiting to run again (Stats.Background).
	outstanding atomic.Int64
}

func newResyncQueue() *resyncQueue { return &resyncQueue{signal: make(chan struct{}, 1)} }

func (q *resyncQueue) add(j resyncJob) {
	q.outstanding.Add(1)
	q.mu.Lock()
	q.jobs = append(q.jobs, j)
	q.mu.Unlock()
	select {
	case q.signal <- struct{}{}:
	default:
	}
}

// push queues the resync an overflow event asks for: the object's records
// modified since the event's commit, less the window margin (the
// transaction's records were modified before it committed).
func (q *resyncQueue) push(w *work, margin time.Duration) {
	scope := sfsync.Scope{Tenant: w.c.Tenant, Object: w.c.Object, Reason: "overflow event " + w.c.Key}
	if t := w.c.Version.Time; !t.IsZero() {
		scope.Since = t.Add(-margin)
	}
	q.add(resyncJob{scope: scope, w: w})
}

func (q *resyncQueue) take() (resyncJob, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.jobs) == 0 {
		return resyncJob{}, false
	}
	j := q.jobs[0]
	q.jobs = q.jobs[1:]
	return j, true
}

// resyncLoop runs queued resyncs one at a time: they are background work
// and must not crowd out live changes.
func (e *Engine) resyncLoop(ctx context.Context) {
	for {
		j, ok := e.resync.take()
		if !ok {
			select {
			case <-ctx.Done():
				return
			case <-e.resync.signal:
				continue
			}
		}
		e.runResync(ctx, j)
		// Only now: a failed backfill has counted its next run, so the
		// count never drops to zero in between (Stats.Background).
		e.resync.outstanding.Add(-1)
		if ctx.Err() != nil {
			return
		}
	}
}

// runResync runs one resync job and hands on how it ended.
func (e *Engine) runResync(ctx context.Context, j resyncJob) {
	var err error
	if j.backfill {
		err = e.runBackfill(ctx, j)
	} else {
		err = e.Reconcile(ctx, j.scope)
	}
	if ctx.Err() != nil {
		// Stopping: an overflow event stays without an outcome and is
		// redelivered, and a backfill stays owed in the checkpoint
		// store, so either runs again after a restart.
		return
	}
	if j.backfill {
		e.backfillDone(ctx, j, err)
		return
	}
	if err != nil {
		e.emit(*e.deadLetter(j.w.it, j.w.c, j.w.route.To, fmt.Errorf("resyncing %s after an overflow event: %w", j.scope.Object, err), 1))
		return
	}
	e.emit(*e.final(j.w.it, j.w.c, j.w.route.To, sfsync.StatusReconciled, "overflow: resynced "+j.scope.Object+" from authoritative state", true))
}

// Reconcile runs the engine's reconciler over scope and feeds what it emits
// through the pipeline like live changes. It returns when every emitted
// change has a durable outcome, when ctx ends, or when the engine stops.
// It waits for [Engine.Run] to start taking changes. It is what a
// periodic drift check (reconcile.Loop) calls.
func (e *Engine) Reconcile(ctx context.Context, scope sfsync.Scope) error {
	return e.reconcile(ctx, scope, nil, time.Time{}, nil)
}

// pinnedBound is the time a backfill's row takes the data that no later
// commit changed as set before (see item.pinned): pinned, or the sources'
// GapFreeSince when they know it and it is earlier (a subscription that
// started from the oldest retained event delivers every commit since its
// first, which may arrive after the row was read). Zero pinned (not a
// backfill's row) stays zero.
func (e *Engine) pinnedBound(pinned time.Time) time.Time {
	if pinned.IsZero() {
		return pinned
	}
	if since, ok := e.gapFreeSince(); ok && since.Before(pinned) {
		return since
	}
	return pinned
}

// reconcile runs the reconciler over scope, from resume when it is a
// [sfsync.ResumableReconciler] and progress is set. pinned, when set, is
// when a backfill pinned its stream (see item.pinned). progress is called
// with each report once every change emitted before it has an outcome.
func (e *Engine) reconcile(ctx context.Context, scope sfsync.Scope, resume []byte, pinned time.Time, progress func(context.Context, sfsync.ReconcileProgress) error) error {
	if e.cfg.reconciler == nil {
		return errNoReconciler
	}
	e.stats.reconciling.Add(1)
	defer e.stats.reconciling.Add(-1)
	if err := e.waitStarted(ctx, "Engine.Reconcile"); err != nil {
		return fmt.Errorf("sync: %w", err)
	}
	out := newOutstanding()
	var mu stdsync.Mutex
	var failed []string
	emit := func(ctx context.Context, c sfsync.Change) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		out.add()
		c.Snapshot = true
		it := &item{c: c, snapshot: true, pinned: pinned, done: func(o sfsync.Outcome) {
			if o.Status == sfsync.StatusDeadLettered {
				mu.Lock()
				failed = append(failed, o.Key)
				mu.Unlock()
			}
			out.done()
		}}
		if !e.push(it) {
			out.done()
			return fmt.Errorf("sync: engine stopped during reconciliation of %s: %w", scope.Object, sfsync.ErrClosed)
		}
		return nil
	}
	// settled waits until every change emitted so far has an outcome.
	settled := func(ctx context.Context) error {
		select {
		case <-out.zero():
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-e.finished:
			return fmt.Errorf("sync: engine stopped before reconciliation of %s finished: %w", scope.Object, sfsync.ErrClosed)
		}
	}
	var err error
	if rr, ok := e.cfg.reconciler.(sfsync.ResumableReconciler); ok && progress != nil {
		err = rr.ReconcileFrom(ctx, scope, resume, emit, func(ctx context.Context, p sfsync.ReconcileProgress) error {
			if err := settled(ctx); err != nil {
				return err
			}
			return progress(ctx, p)
		})
	} else {
		err = e.cfg.reconciler.Reconcile(ctx, scope, emit)
	}
	if serr := settled(ctx); serr != nil {
		return serr
	}
	if err != nil {
		return fmt.Errorf("sync: reconciling %s (%s): %w", scope.Object, scope.Reason, err)
	}
	if len(failed) > 0 {
		return &deadLettered{object: scope.Object, n: len(failed), first: failed[0]}
	}
	return nil
}

// deadLettered: a reconciliation ran through, but some of its records
// were dead-lettered.
type deadLettered struct {
	object, first string
	n             int
}

func (d *deadLettered) Error() string {
	return fmt.Sprintf("sync: reconciling %s: %d record(s) dead-lettered, first %s; see the dead-letter store", d.object, d.n, d.first)
}

// outstanding counts changes without an outcome yet, and tells when there
// are none.
type outstanding struct {
	mu   stdsync.Mutex
	n    int
	none chan struct{} // closed while n == 0
}

func newOutstanding() *outstanding {
	o := &outstanding{none: make(chan struct{})}
	close(o.none)
	return o
}

func (o *outstanding) add() {
	o.mu.Lock()
	if o.n == 0 {
		o.none = make(chan struct{})
	}
	o.n++
	o.mu.Unlock()
}

func (o *outstanding) done() {
	o.mu.Lock()
	if o.n--; o.n == 0 {
		close(o.none)
	}
	o.mu.Unlock()
}

func (o *outstanding) zero() <-chan struct{} {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.none
}

// reread handles a gap event: the record is re-read from authoritative
// state and the result goes through the same lane, before any later change
// to the record.
func (e *Engine) reread(ctx context.Context, vc *versionCache, w *work) {
	if e.cfg.reconciler == nil {
		e.emit(*e.deadLetter(w.it, w.c, w.route.To, errNoReconciler, 0))
		return
	}
	if err := e.rereadRecord(ctx, vc, w.c, "gap event "+w.c.Key); err != nil {
		if ctx.Err() != nil {
			return
		}
		e.emit(*e.deadLetter(w.it, w.c, w.route.To, fmt.Errorf("re-reading %s after a gap event: %w", w.c.RecordKey(), err), 1))
		return
	}
	e.emit(*e.final(w.it, w.c, w.route.To, sfsync.StatusReconciled, "gap: re-read "+w.c.RecordKey()+" from authoritative state", true))
}

// rereadFields re-reads a record whose change could not carry some values
// (CDC diffFields). The re-read is part of the change: its outcome, held
// until now, is handed on only when the re-read succeeds; a re-read that
// keeps failing ends the change in a dead letter, like a failed write, and
// a stopping engine leaves the change without an outcome, to be redelivered.
func (e *Engine) rereadFields(ctx context.Context, vc *versionCache, w *work) {
	held := *w.it.hold
	w.it.hold = nil
	if len(held) == 0 {
		return // stopped before the write had an outcome
	}
	for _, r := range held {
		if r.outcome.Status == sfsync.StatusDeadLettered {
			e.emitAll(held)
			return
		}
	}
	fields := w.it.c.Reread
	fail := func(err error, attempts int) {
		// The held outcomes are replaced by the dead letter.
		e.uncountDeciding(held)
		dead := e.deadLetter(w.it, w.c, w.route.To, fmt.Errorf("re-reading fields %v of %s: %w", fields, w.c.RecordKey(), err), attempts)
		for _, r := range held {
			// What was written stays recorded as written.
			dead.versions = append(dead.versions, r.versions...)
		}
		e.emit(*dead)
	}
	if e.cfg.reconciler == nil {
		fail(errNoReconciler, 0)
		return
	}
	bo := e.cfg.newBackOff()
	for attempt := 1; ; attempt++ {
		err := e.rereadRecord(ctx, vc, w.c, fmt.Sprintf("fields %v of %s need a re-read", fields, w.c.Key))
		if err == nil {
			for i := range held {
				held[i].outcome.Reason += fmt.Sprintf("; re-read %v", fields)
			}
			e.emitAll(held)
			return
		}
		if ctx.Err() != nil {
			return
		}
		wait := bo.NextBackOff()
		if wait < 0 || sfsync.IsPermanent(err) {
			fail(err, attempt)
			return
		}
		e.stats.retries.Add(1)
		e.log.Debug("sfsync: retrying a re-read", "key", w.c.Key, "wait", wait, "err", err)
		if !sleep(ctx, max(wait, sfsync.RetryAfter(err))) {
			return
		}
	}
}

func (e *Engine) emitAll(rs []result) {
	for _, r := range rs {
		e.emit(r)
	}
}

func (e *Engine) rereadRecord(ctx context.Context, vc *versionCache, c sfsync.Change, reason string) error {
	var children []*item
	scope := sfsync.Scope{Tenant: c.Tenant, Object: c.Object, IDs: []string{c.RecordID}, Reason: reason}
	err := e.cfg.reconciler.Reconcile(ctx, scope, func(ctx context.Context, child sfsync.Change) error {
		child.Snapshot = true
		children = append(children, &item{c: child, snapshot: true, settled: true})
		return ctx.Err()
	})
	if err != nil {
		return err
	}
	for _, it := range children {
		// A re-read that says "gap" again would loop; the authority's answer
		// is final.
		if it.c.Op.NeedsReread() {
			return fmt.Errorf("%w: reconciler answered a re-read of %s with a %s change", sfsync.ErrInvalid, c.RecordKey(), it.c.Op)
		}
	}
	for _, it := range children {
		e.processBatch(ctx, vc, []*item{it})
	}
	return nil
}
