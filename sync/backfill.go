package sync

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/sfsync/sfsync"
)

// A backfill owed is recorded in the checkpoint store, under a stream name
// of its own per object, before anything lets live checkpoints move on:
// a restart at any point finds it and runs it again until it finishes.
const (
	backfillStreamPrefix = "sfsync/backfill/"
	backfillOwed         = "owed:"
	backfillDone         = "done"
)

func backfillStream(object string) string { return backfillStreamPrefix + object }

// owe records that every backfill object owes a backfill for reason and
// queues the backfills. It returns only once the record is durable.
func (e *Engine) owe(ctx context.Context, reason string) error {
	if e.cfg.reconciler == nil || len(e.cfg.backfill) == 0 {
		e.log.Warn("sfsync: a backfill is needed but none is configured (WithReconciler and WithBackfill); changes made meanwhile are not synced until the next reconciliation", "reason", reason)
		return nil
	}
	for _, object := range e.cfg.backfill {
		pos := sfsync.Position{Stream: backfillStream(object), Token: []byte(backfillOwed + reason)}
		if err := e.saveWithRetry(ctx, pos); err != nil {
			return fmt.Errorf("sync: recording the backfill of %s owed for %s: %w", object, reason, err)
		}
	}
	for _, object := range e.cfg.backfill {
		e.resync.add(resyncJob{scope: sfsync.Scope{Tenant: e.cfg.tenant, Object: object, Reason: "backfill: " + reason}})
	}
	return nil
}

func (e *Engine) saveWithRetry(ctx context.Context, pos sfsync.Position) error {
	bo := e.cfg.newBackOff()
	for {
		err := e.st.checkpoints.SaveCheckpoint(ctx, pos)
		if err == nil {
			return nil
		}
		wait := bo.NextBackOff()
		if wait < 0 || sfsync.IsPermanent(err) || !sleep(ctx, wait) {
			return err
		}
	}
}

// streamer is implemented by sources that know the stream they checkpoint.
type streamer interface{ Stream() string }

// resumeBackfills queues the backfills a previous run owed and did not
// finish, and owes one when a source has never committed a position: what
// happened before its first event is only in authoritative state.
func (e *Engine) resumeBackfills(ctx context.Context) error {
	if e.cfg.reconciler == nil || len(e.cfg.backfill) == 0 {
		return nil
	}
	for _, object := range e.cfg.backfill {
		pos, err := e.st.checkpoints.LoadCheckpoint(ctx, backfillStream(object))
		if isNotFound(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("sync: reading whether a backfill of %s is owed: %w", object, err)
		}
		if reason, owed := strings.CutPrefix(string(pos.Token), backfillOwed); owed {
			e.log.Info("sfsync: resuming a backfill an earlier run did not finish", "object", object, "reason", reason)
			e.resync.add(resyncJob{scope: sfsync.Scope{Tenant: e.cfg.tenant, Object: object, Reason: "backfill (resumed): " + reason}})
		}
	}
	for _, s := range e.sources {
		st, ok := s.src.(streamer)
		if !ok {
			continue
		}
		_, err := e.st.checkpoints.LoadCheckpoint(ctx, st.Stream())
		if isNotFound(err) {
			return e.owe(ctx, "first start of stream "+st.Stream())
		}
	}
	return nil
}

// backfillDone records how a backfill run ended. A finished backfill is no
// longer owed, through the next (fenced) commit; a failed one shows in the
// ledger and runs again after a backoff.
func (e *Engine) backfillDone(ctx context.Context, j resyncJob, err error) {
	now := e.cfg.clock()
	o := sfsync.Outcome{
		Key:    fmt.Sprintf("backfill:%s:%s", j.scope.Object, now.UTC().Format(time.RFC3339Nano)),
		Tenant: j.scope.Tenant, Object: j.scope.Object, Source: sfsync.Salesforce, Op: sfsync.OpOverflow,
		Attempts: j.attempt + 1, At: now,
	}
	e.backfillMu.Lock()
	if err == nil {
		delete(e.backfillErrs, j.scope.Object)
	} else {
		e.backfillErrs[j.scope.Object] = err
	}
	e.backfillMu.Unlock()
	if err == nil {
		o.Status, o.Reason = sfsync.StatusReconciled, j.scope.Reason+": finished"
		done := sfsync.Position{Stream: backfillStream(j.scope.Object), Token: []byte(backfillDone)}
		e.emit(result{it: &item{}, outcome: o, checkpoints: []sfsync.Position{done}})
		return
	}
	o.Status, o.Reason = sfsync.StatusRetrying, fmt.Sprintf("%s: failed, runs again: %v", j.scope.Reason, err)
	e.emit(result{it: &item{}, outcome: o})
	e.stats.retries.Add(1)
	e.log.Error("sfsync: backfill failed; it runs again", "object", j.scope.Object, "attempt", j.attempt+1, "err", err)
	j.attempt++
	wait := backfillRetryWait(j.attempt)
	go func() {
		if sleep(ctx, wait) {
			e.resync.add(j)
		}
	}()
}

// backfillRetryWait doubles from a second up to ten minutes: a backfill is
// expensive, and what fails it (limits, an outage) takes time to pass.
func backfillRetryWait(attempt int) time.Duration {
	d := time.Second << min(attempt-1, 10)
	return min(d, 10*time.Minute)
}
