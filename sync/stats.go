package sync

import (
	"errors"
	"sync/atomic"
	"time"

	"github.com/sfsync/sfsync"
)

// Stats are the engine's counters since it was built.
type Stats struct {
	// Received counts changes taken from sources; Processed counts those
	// with a durable outcome.
	Received  int64
	Processed int64
	Applied   int64
	// Duplicates were recognised by idempotency key.
	Duplicates int64
	// Echoes are the engine's own writes coming back, not written again.
	Echoes int64
	// Noops needed no write: the target already held the values.
	Noops int64
	// Conflicts lost to the conflict policy; Stale arrived after newer data.
	Conflicts int64
	Stale     int64
	// Reconciled counts gap and overflow events resolved by re-reading.
	Reconciled  int64
	Skipped     int64
	DeadLetters int64
	// Retries counts write attempts repeated after a retryable failure.
	Retries int64
	// Commits counts state commits (each covers a batch of outcomes).
	Commits int64
	// InFlight is the number of received changes without a durable outcome.
	InFlight int64
	// Background counts the engine's work that no source delivered, which
	// InFlight leaves out: reconciliations and drift checks running,
	// resyncs and backfills queued, running or waiting to run again, and
	// changes waiting in the park for their target's change event (those a
	// source delivered are in flight too). Such work writes, and echoes of
	// its writes come back. With InFlight and Background both zero the
	// engine writes nothing more until a source delivers a change or the
	// host calls Reconcile, CheckDrift or Requeue.
	Background int64
	// Lag is how far behind the event stream the engine is: now minus the
	// commit time of the newest received change.
	Lag time.Duration
}

// DedupHitRate is the share of processed changes that were duplicates.
func (s Stats) DedupHitRate() float64 {
	if s.Processed == 0 {
		return 0
	}
	return float64(s.Duplicates) / float64(s.Processed)
}

type counters struct {
	received, processed, applied, duplicates, echoes, noops, conflicts, stale,
	reconciled, skipped, deadLetters, retries, commits, lastEventNanos, settled atomic.Int64
	// reconciling counts reconciliations and drift checks running.
	reconciling atomic.Int64
}

func (c *counters) count(s sfsync.Status) {
	c.processed.Add(1)
	switch s {
	case sfsync.StatusApplied:
		c.applied.Add(1)
	case sfsync.StatusDuplicate:
		c.duplicates.Add(1)
	case sfsync.StatusEcho:
		c.echoes.Add(1)
	case sfsync.StatusNoop:
		c.noops.Add(1)
	case sfsync.StatusConflictLost:
		c.conflicts.Add(1)
	case sfsync.StatusStale:
		c.stale.Add(1)
	case sfsync.StatusReconciled:
		c.reconciled.Add(1)
	case sfsync.StatusSkipped:
		c.skipped.Add(1)
	case sfsync.StatusDeadLettered:
		c.deadLetters.Add(1)
	}
}

// Stats returns a snapshot of the engine's counters.
func (e *Engine) Stats() Stats {
	c := &e.stats
	s := Stats{
		Received: c.received.Load(), Processed: c.processed.Load(), Applied: c.applied.Load(),
		Duplicates: c.duplicates.Load(), Echoes: c.echoes.Load(), Noops: c.noops.Load(),
		Conflicts: c.conflicts.Load(), Stale: c.stale.Load(), Reconciled: c.reconciled.Load(),
		Skipped: c.skipped.Load(), DeadLetters: c.deadLetters.Load(), Retries: c.retries.Load(),
		Commits: c.commits.Load(),
	}
	s.InFlight = max(0, s.Received-c.settled.Load())
	s.Background = c.reconciling.Load() + e.resync.outstanding.Load() + e.parkedChanges()
	if n := c.lastEventNanos.Load(); n != 0 {
		s.Lag = max(0, e.cfg.clock().Sub(time.Unix(0, n)))
	}
	return s
}

// Health reports what stands in the way of the engine's work now, or nil:
// the error that stopped it (matching [sfsync.ErrFenced] when another
// instance took its lease), a backfill that keeps failing, the lasting
// failures its sources and sinks report through an Err() error method (a
// Salesforce sink whose OAuth grant was rejected, see salesforce.Sink.Err),
// each degraded stream as a [*StreamError] (receives failing and retried,
// or silence beyond the watchdog: [ErrStreamSilent]), and each org whose
// API requests are paused at their limit ([ErrAPIPaused], see
// [WithAPIUsage]), and each destination whose writes fail and are being
// retried, with the last failure ([*RetryError], matching
// [ErrWritesRetrying]), and dead letters growing past the alarm
// ([ErrDeadLettersGrowing], see [WithDeadLetterAlarm]). A readiness endpoint serves it; the errors match with
// errors.Is and As. [Engine.Streams] gives each stream's state, and
// [Engine.Done] tells a stopped engine from a degraded one.
func (e *Engine) Health() error {
	var errs []error
	if err := e.fatalErr(); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, e.backfillErrors()...)
	seen := map[any]bool{}
	report := func(part any) {
		r, ok := part.(interface{ Err() error })
		if !ok || seen[part] {
			return
		}
		seen[part] = true
		if err := r.Err(); err != nil {
			errs = append(errs, err)
		}
	}
	for _, s := range e.sources {
		report(s.src)
	}
	for i := range e.routes {
		report(e.routes[i].Sink)
	}
	errs = append(errs, e.streamErrors()...)
	errs = append(errs, e.usageErrors()...)
	errs = append(errs, e.retryErrors()...)
	errs = append(errs, e.deadLetterErrors()...)
	return errors.Join(errs...)
}

// Lease returns the lease the engine holds, with its fencing token, and
// whether it holds one (see [WithLease]).
func (e *Engine) Lease() (sfsync.Lease, bool) {
	if l := e.lease.Load(); l != nil {
		return *l, true
	}
	return sfsync.Lease{}, false
}

// Done returns a channel that is closed once Run has returned, after its
// last commit: a health endpoint tells a stopped engine from a degraded one.
func (e *Engine) Done() <-chan struct{} { return e.finished }
