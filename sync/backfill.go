package sync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sfsync/sfsync"
)

// A backfill's state is kept in the checkpoint store, under a stream name
// of its own per object. It is recorded as owed before anything lets live
// checkpoints move on, so a restart at any point finds it and continues:
// from the same pinned stream position and, with a resumable reconciler,
// from the last page whose records all have outcomes.
const backfillStreamPrefix = "sfsync/backfill/"

func backfillStream(object string) string { return backfillStreamPrefix + object }

// Backfill phases, in order.
const (
	// PhaseOwed: the backfill is recorded and waits to run.
	PhaseOwed = "owed"
	// PhasePinned: the sources' stream positions are pinned: every commit
	// after them is delivered by the stream, every one before is visible
	// to the query.
	PhasePinned = "pinned"
	// PhaseQuerying: the authority prepares the records (a Bulk API job
	// runs).
	PhaseQuerying = "querying"
	// PhaseReading: records are read and applied.
	PhaseReading = "reading"
	// PhaseDone: the backfill finished.
	PhaseDone = "done"
)

// backfillState is what the checkpoint store keeps of one object's
// backfill (JSON in the position's token).
type backfillState struct {
	Phase  string `json:"phase"`
	Reason string `json:"reason,omitempty"`
	// Since starts the window the backfill covers; zero: the whole object.
	Since time.Time `json:"since,omitzero"`
	// Pinned are the positions of the pinned sources.
	Pinned  []sfsync.Position `json:"pinned,omitempty"`
	Resume  []byte            `json:"resume,omitempty"`
	Read    int64             `json:"read"`
	Total   int64             `json:"total"`
	Started time.Time         `json:"started,omitzero"`
	// Owed counts the times the backfill was owed: a run started for one
	// count does not finish a backfill owed again since.
	Owed int64 `json:"owed,omitempty"`
	// StreamedFrom is when the run that owed the backfill found its
	// stream's position lost, and the stream began delivering every
	// commit again: the end of the span whose changes may be lost, which
	// a later run that resumes the stream from a stored position cannot
	// tell otherwise (see lostSpan). The latest, when owed again.
	StreamedFrom time.Time `json:"streamedFrom,omitzero"`
}

func decodeBackfill(token []byte) backfillState {
	s := string(token)
	switch {
	case s == PhaseDone:
		return backfillState{Phase: PhaseDone, Total: -1}
	case strings.HasPrefix(s, "owed:"):
		// The format of earlier releases.
		return backfillState{Phase: PhaseOwed, Reason: strings.TrimPrefix(s, "owed:"), Total: -1}
	}
	var st backfillState
	if err := json.Unmarshal(token, &st); err != nil || st.Phase == "" {
		// Unreadable: owe a whole backfill rather than skip one.
		return backfillState{Phase: PhaseOwed, Reason: "unreadable backfill state", Total: -1}
	}
	return st
}

func (s backfillState) position(object string) sfsync.Position {
	b, _ := json.Marshal(s) // plain fields: cannot fail
	return sfsync.Position{Stream: backfillStream(object), Token: b}
}

// owe records that every backfill object owes a backfill of what changed
// since since (zero: everything) for reason, and queues the backfills. It
// returns only once the record is durable. A backfill owed again before an
// earlier one finished starts again (its job may predate what was lost),
// over the wider of the two windows.
func (e *Engine) owe(ctx context.Context, reason string, since time.Time) error {
	if e.cfg.reconciler == nil || len(e.cfg.backfill) == 0 {
		e.log.Warn("sfsync: a backfill is needed but none is configured (WithReconciler and WithBackfill); changes made meanwhile are not synced until the next reconciliation", "reason", reason)
		return nil
	}
	e.backfillMu.Lock()
	defer e.backfillMu.Unlock()
	// The stream missed commits until now at the latest; the source
	// streams every later one (see item.pinned).
	e.streamedSince = e.cfg.clock()
	for _, object := range e.cfg.backfill {
		st := backfillState{Phase: PhaseOwed, Reason: reason, Since: since, Total: -1}
		old, err := e.loadBackfill(ctx, object)
		if err == nil && old.Phase != PhaseDone && (old.Since.IsZero() || old.Since.Before(since)) {
			st.Since = old.Since
		}
		st.Owed = max(old.Owed, e.backfillOwed[object]) + 1
		st.StreamedFrom = e.streamedSince
		if err := e.saveWithRetry(ctx, st.position(object)); err != nil {
			return fmt.Errorf("sync: recording the backfill of %s owed for %s: %w", object, reason, err)
		}
		e.backfillOwed[object] = st.Owed
		e.owedAt[object] = e.streamedSince
		e.setBackfill(object, st, nil)
	}
	for _, object := range e.cfg.backfill {
		e.resync.add(resyncJob{scope: sfsync.Scope{Tenant: e.cfg.tenant, Object: object, Reason: "backfill: " + reason}, backfill: true})
	}
	return nil
}

// loadBackfill reads object's backfill state; ErrNotFound when none was
// ever owed.
func (e *Engine) loadBackfill(ctx context.Context, object string) (backfillState, error) {
	pos, err := e.st.checkpoints.LoadCheckpoint(ctx, backfillStream(object))
	if err != nil {
		return backfillState{}, err
	}
	return decodeBackfill(pos.Token), nil
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

// Pinner is implemented by sources that can pin their stream for a
// backfill. Pin returns the source's position once every commit after it
// is sure to be delivered: for a subscription without a stored position,
// the position of its first delivery or keepalive after subscribing. A
// backfill queries authoritative state only after every Pinner source
// pinned, so a commit is either in the stream or visible to the query: no
// gap between the two.
type Pinner interface {
	Pin(ctx context.Context) (sfsync.Position, error)
}

// GapFree is implemented by Pinner sources that know since when their
// stream has delivered every commit: a subscription that started from the
// oldest retained event, or from the tip, since the commit time of its
// first event. A backfill's row holds data that no commit since then
// changed, or whose commit the stream delivers with its own version; the
// engine takes that data as set before the earliest of that time and the
// pin, instead of at the row's version (the time of the record's last
// change, which may be much later).
type GapFree interface {
	// GapFreeSince returns the commit time since which every commit is
	// delivered, and false when it is not known. A source that holds
	// nothing back from a backfill (it pins nothing) returns the zero
	// time and true. A source resumed from a stored position may return
	// false: the engine stores the time its stream told with the stream's
	// checkpoint, and takes that for it.
	GapFreeSince() (time.Time, bool)
}

// gapFreeSince is the latest of the GapFreeSince times of the Pinner
// sources that may deliver Salesforce's changes (a source that says it
// delivers another system's carries no commit a backfill reads): every
// commit since is delivered by whichever source carries it. It reports
// false when such a source does not know its own.
func (e *Engine) gapFreeSince() (time.Time, bool) {
	var since time.Time
	any := false
	for _, s := range e.sources {
		if !pinsSalesforce(s) {
			continue
		}
		g, ok := s.src.(GapFree)
		if !ok {
			return time.Time{}, false
		}
		t, known := s.gapFreeOf(g)
		if !known {
			return time.Time{}, false
		}
		if !any || since.Before(t) {
			since, any = t, true
		}
	}
	return since, any
}

// pinsSalesforce reports whether s is a source a backfill pins that may
// deliver Salesforce's changes (one that says it delivers another system's
// carries no commit a backfill reads).
func pinsSalesforce(s *sourceState) bool {
	if _, pins := s.src.(Pinner); !pins {
		return false
	}
	ss, ok := s.src.(SystemSource)
	return !ok || ss.System() == "" || ss.System().IsSalesforce()
}

// backfilling reports whether a backfill of object from target is owed or
// running: some of target's changes of it may be lost with their events.
func (e *Engine) backfilling(target sfsync.System, object string) bool {
	if !target.IsSalesforce() {
		return false
	}
	e.progressMu.Lock()
	p, ok := e.progress[object]
	e.progressMu.Unlock()
	if ok && p.Phase != "" && p.Phase != PhaseDone {
		return true
	}
	e.backfillMu.Lock()
	_, owed := e.owedAt[object]
	e.backfillMu.Unlock()
	return owed
}

// changesLost reports whether target's changes of object made up to at
// never reach the engine: the stream missed them (a backfill of object is
// owed or running, and at is inside its window and before the stream
// delivered every commit). Only the backfill's snapshot tells of them, a
// record at a time.
//
// Every commit after the backfill's pin is delivered. Before the pin, a
// source that lost its position in this run delivers every commit since it
// began again from its fallback: the oldest retained event or the tip,
// which it tells once it has delivered its first event (GapFree). Until
// then, the window ends at the pin; before the pin, and at a first start,
// nothing is taken as lost: too early a bound only waits for an event, as
// without a backfill, where too late a one takes a change the stream
// brings for a lost one. A backfill an earlier run owed for a lost
// position and never pinned ends the window where that run's stream began
// delivering every commit again (StreamedFrom): this run's stream resumed
// from where that one stopped, and cannot tell.
func (e *Engine) changesLost(target sfsync.System, object string, at sfsync.Version) bool {
	if at.IsZero() {
		return false
	}
	since, bound, ok := e.lostSpan(target, object)
	return ok && at.Time.Before(bound) && !at.Time.Before(since)
}

// lostSpan returns the times between which target's changes of object
// may have been lost with their events (see changesLost): ok is false
// when none may have been, or when the bound is not known yet.
func (e *Engine) lostSpan(target sfsync.System, object string) (since, bound time.Time, ok bool) {
	if !target.IsSalesforce() {
		return since, bound, false
	}
	e.progressMu.Lock()
	p, ok := e.progress[object]
	e.progressMu.Unlock()
	if !ok || p.Phase == "" || p.Phase == PhaseDone {
		return since, bound, false
	}
	bound = p.Started
	// from is an earlier run's bound, recorded with the backfill it owed
	// and did not pin: its stream began delivering every commit then, and
	// this run's resumed from where it stopped (see StreamedFrom).
	var from time.Time
	if bound.IsZero() {
		e.backfillMu.Lock()
		owed, owedHere := e.owedAt[object]
		from = e.streamedFrom[object]
		e.backfillMu.Unlock()
		switch {
		case owedHere:
			bound = owed
		case !from.IsZero():
			bound = from
		default:
			return since, bound, false
		}
	}
	for _, s := range e.sources {
		if !pinsSalesforce(s) {
			continue
		}
		g, ok := s.src.(GapFree)
		if !ok {
			continue
		}
		// A source that pins nothing (the zero time) holds nothing back:
		// it does not bound the span.
		if gapFree, known := s.gapFreeOf(g); known && !gapFree.IsZero() && gapFree.Before(bound) {
			bound = gapFree
		} else if !known && (p.Since.IsZero() || p.Started.IsZero()) {
			// At a first start (no window start) the source's fallback
			// streams every retained commit: until it tells from when,
			// a commit it has not delivered yet is not lost. Before the
			// pin, the same holds for this run's own fallback. A stream
			// resumed from where an earlier run's stopped, with no time
			// stored for it (see gapfree.go), never tells: that run's
			// record bounds the span (the changes it lost came before it;
			// any this run lost, after).
			if p.Since.IsZero() || from.IsZero() {
				return since, bound, false
			}
			if from.Before(bound) {
				bound = from
			}
		}
	}
	return p.Since, bound, true
}

// resumeBackfills queues the backfills a previous run owed and did not
// finish, and owes one when a source has never committed a position: what
// happened before its first event is only in authoritative state.
func (e *Engine) resumeBackfills(ctx context.Context) error {
	if e.cfg.reconciler == nil || len(e.cfg.backfill) == 0 {
		return nil
	}
	first := ""
	for _, s := range e.sources {
		st, ok := s.src.(streamer)
		if !ok {
			continue
		}
		_, err := e.st.checkpoints.LoadCheckpoint(ctx, st.Stream())
		if isNotFound(err) {
			s.fromFallback.Store(true)
			if first == "" {
				first = st.Stream()
			}
			continue
		}
		e.loadGapFree(ctx, s)
	}
	if first != "" {
		return e.owe(ctx, "first start of stream "+first, time.Time{})
	}
	for _, object := range e.cfg.backfill {
		st, err := e.loadBackfill(ctx, object)
		if isNotFound(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("sync: reading whether a backfill of %s is owed: %w", object, err)
		}
		e.setBackfill(object, st, nil)
		if st.Phase != PhaseDone && !st.StreamedFrom.IsZero() {
			e.backfillMu.Lock()
			e.streamedFrom[object] = st.StreamedFrom
			e.backfillMu.Unlock()
		}
		if st.Phase != PhaseDone {
			e.log.Info("sfsync: resuming a backfill an earlier run did not finish", "object", object, "reason", st.Reason,
				"phase", st.Phase, "read", st.Read, "total", st.Total)
			e.resync.add(resyncJob{scope: sfsync.Scope{Tenant: e.cfg.tenant, Object: object, Reason: "backfill (resumed): " + st.Reason}, backfill: true})
		}
	}
	return nil
}

// runBackfill runs object's owed backfill from where its state says.
func (e *Engine) runBackfill(ctx context.Context, j resyncJob) error {
	object := j.scope.Object
	st, err := e.loadBackfill(ctx, object)
	if isNotFound(err) || (err == nil && st.Phase == PhaseDone) {
		return errNothingOwed // queued twice; the other run finished it
	}
	if err != nil {
		return fmt.Errorf("reading the backfill state of %s: %w", object, err)
	}
	e.backfillMu.Lock()
	e.backfillOwed[object] = max(e.backfillOwed[object], st.Owed)
	e.backfillRun[object] = st.Owed
	streamedSince := e.streamedSince
	e.backfillMu.Unlock()
	if st.Phase == PhaseOwed {
		// The time before pinning: a source streams every commit from
		// when it was asked to pin at the latest (a subscription at the
		// tip starts then, and pins at its first event or keepalive,
		// which may come much later).
		started := e.cfg.clock()
		if st.Pinned, err = e.pin(ctx); err != nil {
			return err
		}
		st.Phase, st.Started, st.Resume, st.Read = PhasePinned, started, nil, 0
		if err := e.saveBackfillRun(ctx, object, st); err != nil {
			return err
		}
		e.log.Info("sfsync: backfill pinned the stream", "object", object, "positions", len(st.Pinned))
	} else if st.Read > 0 || len(st.Resume) > 0 {
		e.log.Info("sfsync: backfill resumes", "object", object, "phase", st.Phase, "read", st.Read, "total", st.Total)
	}
	e.setBackfill(object, st, nil)
	scope := j.scope
	scope.Since = st.Since
	rate := newRateMeter(e.cfg.clock(), st.Read)
	progress := func(ctx context.Context, p sfsync.ReconcileProgress) error {
		st.Phase, st.Resume, st.Read, st.Total = p.Phase, p.Resume, p.Read, p.Total
		if err := e.saveBackfillRun(ctx, object, st); err != nil {
			return err
		}
		e.reportBackfill(object, st, rate)
		return nil
	}
	// Every commit since the pin, or since the sources began streaming
	// whole if that is earlier (a run that resumes an earlier run's
	// backfill streams from where that run's commits stopped), is
	// delivered by the stream or applied already: a row's data that no
	// such commit changed was set before (see item.pinned).
	streamed := st.Started
	if streamedSince.Before(streamed) {
		streamed = streamedSince
	}
	e.awaitGapFree(ctx)
	return e.reconcile(ctx, scope, st.Resume, streamed, progress)
}

// gapFreeWait bounds how long a backfill waits for its sources to tell
// since when they are whole: a stream from the tip of a quiet topic tells
// nothing until its first event.
const gapFreeWait = 2 * time.Second

// awaitGapFree waits, up to gapFreeWait, until every source that may
// deliver Salesforce's changes and began streaming from its fallback in
// this run says since when it delivers every commit (GapFree), and every
// one resumed from a stored position with such a time stored has delivered
// from it (see gapfree.go). It does at
// its first event, and until then a row's data is bounded by the pin alone
// (see pinnedBound): a value the version map never saw would be taken for
// one set by a change lost with its event, at the row's version, where the
// stream is about to deliver that change (or the echo of a write of ours
// whose outcome a crash lost) with its own, older version.
func (e *Engine) awaitGapFree(ctx context.Context) {
	deadline := time.Now().Add(gapFreeWait)
	for !e.gapFreeTold() && time.Now().Before(deadline) {
		if !sleep(ctx, 5*time.Millisecond) {
			return
		}
	}
}

// gapFreeTold reports whether every Salesforce source that began streaming
// from its fallback in this run knows since when it is whole, and every
// one with a time stored for its resumed stream has delivered from it.
func (e *Engine) gapFreeTold() bool {
	for _, s := range e.sources {
		if !pinsSalesforce(s) {
			continue
		}
		if s.gapFreePending() {
			return false
		}
		if !s.fromFallback.Load() {
			continue
		}
		if g, ok := s.src.(GapFree); ok {
			if _, known := g.GapFreeSince(); !known {
				return false
			}
		}
	}
	return true
}

var errNothingOwed = errors.New("sync: no backfill owed")

// errBackfillOwedAgain stops a run whose backfill was owed again since it
// started: the run queued by that owes it whole.
var errBackfillOwedAgain = errors.New("sync: the backfill was owed again while it ran")

// saveBackfillRun is saveBackfill for a run of the backfill owed st.Owed
// times: once it was owed again, the run's state is not stored over the
// owed one, and the run stops.
func (e *Engine) saveBackfillRun(ctx context.Context, object string, st backfillState) error {
	e.backfillMu.Lock()
	defer e.backfillMu.Unlock()
	if e.backfillOwed[object] != st.Owed {
		return errBackfillOwedAgain
	}
	return e.saveBackfill(ctx, object, st)
}

// pin waits until every Pinner source has pinned its stream.
func (e *Engine) pin(ctx context.Context) ([]sfsync.Position, error) {
	var pins []sfsync.Position
	for _, s := range e.sources {
		p, ok := s.src.(Pinner)
		if !ok {
			continue
		}
		pos, err := p.Pin(ctx)
		if err != nil {
			return nil, fmt.Errorf("pinning the stream position of source %d: %w", s.index, err)
		}
		pins = append(pins, pos)
	}
	return pins, nil
}

// saveBackfill stores st through the commit loop, so that it is fenced
// like every other commit, and returns once it is durable.
func (e *Engine) saveBackfill(ctx context.Context, object string, st backfillState) error {
	committed := make(chan struct{})
	// Safe: backfills run on the resync loop, which ends before the
	// results channel closes.
	e.emit(result{it: &item{}, empty: true, checkpoints: []sfsync.Position{st.position(object)}, onCommit: func() { close(committed) }})
	select {
	case <-committed:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-e.finished:
		return fmt.Errorf("sync: engine stopped before the progress of the backfill of %s was stored: %w", object, sfsync.ErrClosed)
	}
}

// backfillDone records how a backfill run ended. A finished backfill is no
// longer owed, through the next (fenced) commit; a failed one shows in the
// ledger and runs again after a backoff, from where it stopped.
func (e *Engine) backfillDone(ctx context.Context, j resyncJob, err error) {
	if errors.Is(err, errNothingOwed) {
		return
	}
	if errors.Is(err, errBackfillOwedAgain) {
		e.log.Info("sfsync: backfill owed again while it ran; it runs again", "object", j.scope.Object)
		return
	}
	now := e.cfg.clock()
	o := sfsync.Outcome{
		Key:    fmt.Sprintf("backfill:%s:%s", j.scope.Object, now.UTC().Format(time.RFC3339Nano)),
		Tenant: j.scope.Tenant, Object: j.scope.Object, Source: sfsync.Salesforce, Op: sfsync.OpOverflow,
		Attempts: j.attempt + 1, At: now,
	}
	var dead *deadLettered
	if err == nil || errors.As(err, &dead) {
		// Records that could not be applied are dead letters with their
		// own outcomes: the backfill itself is finished.
		// Owed again while it ran: the run queued by that does it again,
		// and the state stays owed. Otherwise it is done, through a
		// commit that a new owe cannot overtake.
		e.backfillMu.Lock()
		defer e.backfillMu.Unlock()
		if e.backfillOwed[j.scope.Object] != e.backfillRun[j.scope.Object] {
			e.log.Info("sfsync: backfill owed again while it ran; it runs again", "object", j.scope.Object)
			return
		}
		delete(e.streamedFrom, j.scope.Object)
		st := e.backfillSnapshot(j.scope.Object)
		st.Phase, st.Resume, st.Owed = PhaseDone, nil, e.backfillRun[j.scope.Object]
		e.setBackfill(j.scope.Object, st, nil)
		o.Status, o.Reason = sfsync.StatusReconciled, fmt.Sprintf("%s: finished, %d records read", j.scope.Reason, st.Read)
		if dead != nil {
			o.Reason += fmt.Sprintf(", %d dead-lettered", dead.n)
		}
		e.log.Info("sfsync: backfill finished", "object", j.scope.Object, "read", st.Read)
		committed := make(chan struct{})
		e.emit(result{it: &item{}, outcome: o, checkpoints: []sfsync.Position{st.position(j.scope.Object)}, onCommit: func() { close(committed) }})
		select {
		case <-committed:
		case <-ctx.Done():
		case <-e.finished:
		}
		return
	}
	e.setBackfill(j.scope.Object, e.backfillSnapshot(j.scope.Object), err)
	o.Status, o.Reason = sfsync.StatusRetrying, fmt.Sprintf("%s: failed, runs again: %v", j.scope.Reason, err)
	e.emit(result{it: &item{}, outcome: o})
	e.stats.retries.Add(1)
	e.log.Error("sfsync: backfill failed; it runs again", "object", j.scope.Object, "attempt", j.attempt+1, "err", err)
	j.attempt++
	wait := backfillRetryWait(j.attempt)
	// Background work until it is queued again.
	e.resync.outstanding.Add(1)
	go func() {
		if sleep(ctx, wait) {
			e.resync.add(j)
		}
		e.resync.outstanding.Add(-1)
	}()
}

// backfillRetryWait doubles from a second up to ten minutes: a backfill is
// expensive, and what fails it (limits, an outage) takes time to pass.
func backfillRetryWait(attempt int) time.Duration {
	d := time.Second << min(attempt-1, 10)
	return min(d, 10*time.Minute)
}
