package sync

import (
	"context"
	"errors"
	"fmt"
	stdsync "sync"

	"github.com/sfsync/sfsync"
)

// resyncJob is a reconciliation of a whole object: an overflow event's
// (w is the event) or a backfill's (w is nil).
type resyncJob struct {
	scope sfsync.Scope
	w     *work
}

// resyncQueue holds resync jobs until the resync loop takes them. It is
// unbounded, but it only grows by overflow events, which hold capacity of
// the source until they finish, and by one backfill per object and cause.
type resyncQueue struct {
	mu     stdsync.Mutex
	jobs   []resyncJob
	signal chan struct{}
}

func newResyncQueue() *resyncQueue { return &resyncQueue{signal: make(chan struct{}, 1)} }

func (q *resyncQueue) add(j resyncJob) {
	q.mu.Lock()
	q.jobs = append(q.jobs, j)
	q.mu.Unlock()
	select {
	case q.signal <- struct{}{}:
	default:
	}
}

// push queues the resync an overflow event asks for.
func (q *resyncQueue) push(w *work) {
	q.add(resyncJob{scope: sfsync.Scope{Tenant: w.c.Tenant, Object: w.c.Object, Reason: "overflow event " + w.c.Key}, w: w})
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
		err := e.Reconcile(ctx, j.scope)
		if ctx.Err() != nil {
			// Stopping: an overflow event stays without an outcome and is
			// redelivered, so its resync runs again after a restart.
			return
		}
		if j.w == nil {
			if err != nil {
				e.log.Error("sfsync: backfill failed; run it again with Engine.Reconcile", "object", j.scope.Object, "reason", j.scope.Reason, "err", err)
			}
			continue
		}
		if err != nil {
			e.emit(*e.deadLetter(j.w.it, j.w.c, j.w.route.To, fmt.Errorf("resyncing %s after an overflow event: %w", j.scope.Object, err), 1))
			continue
		}
		e.emit(*e.final(j.w.it, j.w.c, j.w.route.To, sfsync.StatusReconciled, "overflow: resynced "+j.scope.Object+" from authoritative state", true))
	}
}

// Reconcile runs the engine's reconciler over scope and feeds what it emits
// through the pipeline like live changes. It returns when every emitted
// change has a durable outcome, when ctx ends, or when the engine stops.
// The engine must be running. It is what a periodic drift check
// (reconcile.Loop) calls.
func (e *Engine) Reconcile(ctx context.Context, scope sfsync.Scope) error {
	if e.cfg.reconciler == nil {
		return errNoReconciler
	}
	if !e.running.Load() {
		return errors.New("sync: Engine.Reconcile needs a running engine; call it while Run is running")
	}
	var wg stdsync.WaitGroup
	var mu stdsync.Mutex
	var failed []string
	emit := func(ctx context.Context, c sfsync.Change) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		wg.Add(1)
		it := &item{c: c, done: func(o sfsync.Outcome) {
			if o.Status == sfsync.StatusDeadLettered {
				mu.Lock()
				failed = append(failed, o.Key)
				mu.Unlock()
			}
			wg.Done()
		}}
		if !e.push(it) {
			wg.Done()
			return fmt.Errorf("sync: engine stopped during reconciliation of %s: %w", scope.Object, sfsync.ErrClosed)
		}
		return nil
	}
	err := e.cfg.reconciler.Reconcile(ctx, scope, emit)
	all := make(chan struct{})
	go func() { wg.Wait(); close(all) }()
	select {
	case <-all:
	case <-ctx.Done():
		return ctx.Err()
	case <-e.finished:
		return fmt.Errorf("sync: engine stopped before reconciliation of %s finished: %w", scope.Object, sfsync.ErrClosed)
	}
	if err != nil {
		return fmt.Errorf("sync: reconciling %s (%s): %w", scope.Object, scope.Reason, err)
	}
	if len(failed) > 0 {
		return fmt.Errorf("sync: reconciling %s: %d record(s) dead-lettered, first %s; see the dead-letter store", scope.Object, len(failed), failed[0])
	}
	return nil
}

// reread handles a gap event: the record is re-read from authoritative
// state and the result goes through the same lane, before any later change
// to the record.
func (e *Engine) reread(ctx context.Context, ls *laneState, w *work) {
	if e.cfg.reconciler == nil {
		e.emit(*e.deadLetter(w.it, w.c, w.route.To, errNoReconciler, 0))
		return
	}
	if err := e.rereadRecord(ctx, ls, w.c, "gap event "+w.c.Key); err != nil {
		if ctx.Err() != nil {
			return
		}
		e.emit(*e.deadLetter(w.it, w.c, w.route.To, fmt.Errorf("re-reading %s after a gap event: %w", w.c.RecordKey(), err), 1))
		return
	}
	e.emit(*e.final(w.it, w.c, w.route.To, sfsync.StatusReconciled, "gap: re-read "+w.c.RecordKey()+" from authoritative state", true))
}

// rereadFields re-reads a record whose change could not carry some values.
func (e *Engine) rereadFields(ctx context.Context, ls *laneState, w *work) {
	if e.cfg.reconciler == nil {
		e.log.Warn("sfsync: change could not carry some field values and there is no reconciler to re-read them; they stay stale until the next reconciliation",
			"key", w.c.Key, "fields", w.c.Reread)
		return
	}
	if err := e.rereadRecord(ctx, ls, w.c, fmt.Sprintf("fields %v of %s need a re-read", w.c.Reread, w.c.Key)); err != nil && ctx.Err() == nil {
		e.log.Error("sfsync: re-reading fields failed; they stay stale until the next reconciliation", "key", w.c.Key, "fields", w.c.Reread, "err", err)
	}
}

func (e *Engine) rereadRecord(ctx context.Context, ls *laneState, c sfsync.Change, reason string) error {
	var children []*item
	scope := sfsync.Scope{Tenant: c.Tenant, Object: c.Object, IDs: []string{c.RecordID}, Reason: reason}
	err := e.cfg.reconciler.Reconcile(ctx, scope, func(ctx context.Context, child sfsync.Change) error {
		children = append(children, &item{c: child})
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
		e.processBatch(ctx, ls, []*item{it})
	}
	return nil
}

// startBackfill queues a resync of every backfill object.
func (e *Engine) startBackfill(reason string) {
	if e.cfg.reconciler == nil || len(e.cfg.backfill) == 0 {
		e.log.Warn("sfsync: a backfill is needed but none is configured (WithReconciler and WithBackfill); changes made meanwhile are not synced until the next reconciliation", "reason", reason)
		return
	}
	for _, object := range e.cfg.backfill {
		e.resync.add(resyncJob{scope: sfsync.Scope{Tenant: e.cfg.tenant, Object: object, Reason: "backfill: " + reason}})
	}
}

// streamer is implemented by sources that know the stream they checkpoint.
type streamer interface{ Stream() string }

// startBackfillIfNew backfills when a source has never committed a position:
// what happened before its first event is only in authoritative state.
func (e *Engine) startBackfillIfNew(ctx context.Context) {
	if e.cfg.reconciler == nil || len(e.cfg.backfill) == 0 {
		return
	}
	for _, s := range e.sources {
		st, ok := s.src.(streamer)
		if !ok {
			continue
		}
		_, err := e.st.checkpoints.LoadCheckpoint(ctx, st.Stream())
		if isNotFound(err) {
			e.startBackfill("first start of stream " + st.Stream())
			return
		}
	}
}
