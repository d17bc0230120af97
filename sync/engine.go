package sync

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	stdsync "sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/sfsync/sfsync"
)

// Engine moves changes from event sources to sinks. Build one with [New]
// and start it with [Engine.Run]; an Engine runs once.
type Engine struct {
	cfg     config
	log     *slog.Logger
	sources []*sourceState
	routes  []Route
	maps    mappings
	st      state

	lanes   []chan *item
	laneMu  stdsync.RWMutex
	closed  bool
	results chan result
	sem     *semaphore.Weighted
	seed    maphash.Seed

	pendingMu stdsync.Mutex
	// keys counts, per idempotency key, the outcomes on their way to the
	// store (see keyCounts).
	keys map[string]keyCounts
	// unsaved counts, per record, results carrying version map entries that
	// are not committed yet.
	unsaved map[string]int

	resync *resyncQueue
	// delivered is the set of systems the sources deliver, nil when not
	// every source says (SystemSource).
	sourceSystems map[sfsync.System]bool
	// observers are told of new schema ids (schema.go).
	observers []SchemaObserver
	versions  *versionCache

	// backfillMu orders the owing of backfills with the state their runs
	// store; backfillOwed counts, per object, the times its backfill was
	// owed, and backfillRun the count the running backfill was started for.
	backfillMu   stdsync.Mutex
	backfillOwed map[string]int64
	backfillRun  map[string]int64
	// streamedSince is when the sources last began to stream every
	// commit: when Run started them, or when one last missed commits
	// (a lost position), after which it streams again from the tip.
	// Guarded by backfillMu.
	streamedSince time.Time
	// owedAt is when this run owed each object's backfill (see
	// changesLost). Guarded by backfillMu.
	owedAt map[string]time.Time
	// streamedFrom is, for a backfill an earlier run owed and did not pin,
	// when that run's stream began delivering every commit again (see
	// lostSpan). Guarded by backfillMu.
	streamedFrom map[string]time.Time

	// queuedMu guards queued: per source system and record id as
	// received, the changes handed to a lane whose batch has not ended
	// (see queuedFrom).
	queuedMu stdsync.Mutex
	queued   map[queuedID]int
	// writesTo holds the systems some route writes to: only their changes
	// can be waited for by a decision, and are counted in queued.
	writesTo map[sfsync.System]bool

	parkMu stdsync.Mutex
	parked map[parkID][]*work // record and source → changes waiting, oldest first
	// parkedN is the number of changes in parked, read without parkMu: a
	// decision asks the park what it holds of the target's changes only
	// when it holds any.
	parkedN     atomic.Int64
	lanesClosed chan struct{}
	// leftPark counts the changes the park has decided (under parkMu): a
	// change whose dedup lookup came before one of them asks again.
	leftPark uint64

	lease atomic.Pointer[sfsync.Lease]

	running  atomic.Bool
	started  chan struct{} // closed when Run's workers take changes
	finished chan struct{} // closed when Run has returned its last commit
	fatalMu  stdsync.Mutex
	fatal    error
	// stop ends the intake; halt also cancels the work in flight.
	stop, halt context.CancelFunc

	stats counters
	links links
	// crossing marks our writes whose echo has not arrived.
	crossing crossings
	// gates keeps a record decided and written in one lane at a time.
	gates recordGates
	obs   observer // streams, outcomes per minute, waits (streams.go)

	progressState
	retries retryState
}

type sourceState struct {
	src   sfsync.EventSource
	index int
	// Owned by the committer goroutine: next is the first delivery
	// without an outcome, done the deliveries finished from next on.
	next uint64
	done finished
	// seen: see seen.go.
	seen time.Time
	// schemas is the last schema id delivered per object (intake only).
	schemas map[string]string
	// fromFallback: the source's stream began again from its fallback in
	// this run (it had no stored position, or the stored one was past
	// retention); a GapFree one tells since when it is whole at its first
	// event (see awaitGapFree).
	fromFallback atomic.Bool
	// gapFreeStored is since when the stream it resumed from its stored
	// position is whole, as an earlier run stored it (see gapfree.go);
	// set before the source's intake starts. gapFreeSaved is the time
	// this run stored last (committer only).
	gapFreeStored, gapFreeSaved time.Time
	// resumed: the source has delivered in this run (a stored position
	// it resumed from was within retention).
	resumed atomic.Bool
}

type delivery struct {
	src       *sourceState
	seq       uint64
	pos       sfsync.Position
	at        time.Time // commit time of the delivery's last change
	tokens    int64
	remaining atomic.Int32
}

// keyCounts are one key's outcomes on their way to the store: pending
// counts those handed to the committer, deciding those that decide their
// change (not a redelivery's duplicate), held ones included. Both counts
// live in one entry, so that handing an outcome over and committing it
// each cost one map update per key, not one per count.
type keyCounts struct{ pending, deciding int32 }

// inFlight reports whether the key has an outcome on its way: handed to
// the committer, or decided and held.
func (k keyCounts) inFlight() bool { return k.pending > 0 || k.deciding > 0 }

// item is one change on its way through a worker.
type item struct {
	c       sfsync.Change // as received; dead letters keep this form
	d       *delivery
	requeue *sfsync.DeadLetter
	// repair marks a change the engine made to bring the losing side of a
	// conflict to the winner's state: canonical already, and never repaired
	// in turn.
	repair bool
	// after, for a repair, holds the results of the change that lost,
	// emitted once the repair has its outcome.
	after *[]result
	// lostAt is, for a repair, the version of the change that lost: the
	// loser's own data from before it is what the repair overwrites.
	lostAt sfsync.Version
	// beforeDelete marks a part of a repair written before the repair
	// deletes the loser's record (see repairPart).
	beforeDelete bool
	// claim, for a repair, is the version the version map takes its data
	// at, the winner's own; nil for the change's version.
	claim *sfsync.Version
	// fieldsAt is, for a repair that brings a record back whole from the
	// winner's live record, the version of each field's data there and
	// its system, where the record shows them: the version map takes each
	// field at its own, not all at the record's newest version, which
	// would make a later change of the loser's look older than data the
	// field never had. For a repair of fields that lost, it holds those
	// whose data the winner shows as another system's (see
	// lostFieldsRepair).
	fieldsAt []fieldData
	// snapshot marks a record read from authoritative state (a backfill,
	// reconciliation or re-read): its version is the record's, not its
	// fields', so the fields the target already holds are no news.
	snapshot bool
	// pinned is, for a backfill's row, when the backfill pinned its
	// stream: every commit after the pin is delivered by the stream, so a
	// field no event changes after it was set before it. The row's version
	// is its record's last change, which may be one after the pin; its
	// data is decided at that version, but written and remembered at the
	// pin's (see work.claim), so that the other system's edit made since
	// is not taken as older than a value set before the pin, and the
	// events after the pin are not taken as older than the row.
	pinned time.Time
	// settled marks a record re-read by id in its lane: it holds every
	// change applied before, and is decided as newer than them (see
	// handOff).
	settled bool
	// settledOver, when set, is the newest version of the record's
	// Salesforce data the map held before a re-read made outside the
	// record's lane (a drift check's): the re-read is settled only if
	// nothing was applied since; otherwise its order is unclear again.
	settledOver *sfsync.Version
	// eventFields, for a change event re-read in place (see handOff),
	// lists the fields it set that the record read holds with its values,
	// and eventAt is its own version: those fields changed at that
	// version, not at some unknown time before the record's (see decide).
	eventFields []string
	eventAt     sfsync.Version
	// rereadAs is such a change's record as read, before its transform: a
	// dead letter of the change keeps it (see Engine.deadLetter).
	rereadAs *sfsync.Change
	// tombstoned is such a change of its record's data (see tombstoned),
	// as transformed, whose record was read deleted: its system's own
	// later delete superseded it before it was decided. Its data is that
	// system's all the same, in the tombstone, which an undelete restores:
	// the version map keeps it so with the outcome of the delete read
	// (see work.rememberTombstoned).
	tombstoned *sfsync.Change
	// hold, when set, collects the item's results instead of handing them
	// to the committer: the change is not finished yet (a re-read is due).
	hold *[]result
	// done, when set, is called once the item's outcome is durable.
	done func(sfsync.Outcome)
	// record caches c's record key (see recordKey).
	record string
	// queuedAs is the id it counts under in Engine.queued while in its
	// lane (see queuedAs).
	queuedAs string
	// crossing lists the writes of ours to the change's own system, of
	// its record and fields, that had no echo when it arrived: they landed
	// after it (see crossings).
	crossing []*openWrite
	// resync marks a repair that writes back to its system a change that
	// a crossing write of ours overwrote there (see planResync).
	resync bool
	// resyncFrom is, for a resync, the winner's own data of each field
	// that the resynced change was decided against (see planResync).
	resyncFrom map[string]sfsync.Version
	// undoesDelete marks a repair that carries the resync of a change that
	// a delete of ours removed with the record (see deleteCrossed), or a
	// part of one, whatever else it carries: the tombstone it meets is
	// that delete's, which the change beat, not a delete of the losing
	// side's own that decides.
	undoesDelete bool
	// work is room for the item's work (see newWork).
	work work
}

// recordKey is it.c.RecordKey(), built once: the worker looks it up
// several times per change.
func (it *item) recordKey() string {
	if it.record == "" {
		it.record = it.c.RecordKey()
	}
	return it.record
}

// result is the finished work of one item.
type result struct {
	it      *item
	outcome sfsync.Outcome
	dead    *sfsync.DeadLetter
	claim   bool
	// deciding is set once the outcome counts in Engine.deciding.
	deciding bool
	// versions are the version map entries the outcome moved.
	versions []sfsync.AppliedVersion
	// checkpoints are positions committed with the outcome, not behind
	// any source's watermark (a finished backfill).
	checkpoints []sfsync.Position
	// empty marks the completion of a delivery without changes.
	empty bool
	// onCommit, when set, is called once the result is durable.
	onCommit func()
}

// New assembles an engine that reads changes from source and writes them to
// sink, for every object, unless a route given with [WithRoute] matches
// first. sink may be nil when routes cover every change.
func New(source sfsync.EventSource, sink sfsync.Sink, opts ...Option) (*Engine, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	e := &Engine{cfg: cfg, log: cfg.logger, seed: maphash.MakeSeed(), keys: map[string]keyCounts{}, unsaved: map[string]int{}, progressState: progressState{progress: map[string]BackfillProgress{}, logged: map[string]time.Time{}}, parked: map[parkID][]*work{}, backfillOwed: map[string]int64{}, backfillRun: map[string]int64{}, owedAt: map[string]time.Time{}, streamedFrom: map[string]time.Time{}, lanesClosed: make(chan struct{}), started: make(chan struct{}), finished: make(chan struct{})}
	if source != nil {
		e.sources = append(e.sources, &sourceState{src: source})
	}
	for _, s := range cfg.sources {
		e.sources = append(e.sources, &sourceState{src: s})
	}
	if len(e.sources) == 0 {
		return nil, errors.New("sync: no event source; pass one to New or WithSource")
	}
	for i, s := range e.sources {
		s.index = i
	}
	e.initObserver()
	e.sourceSystems = deliveredSystems(e.sources)
	e.routes = append(e.routes, cfg.routes...)
	if sink != nil {
		e.routes = append(e.routes, Route{Sink: sink})
	}
	if len(e.routes) == 0 {
		return nil, errors.New("sync: no sink; pass one to New or add routes with WithRoute")
	}
	e.writesTo = map[sfsync.System]bool{}
	for i := range e.routes {
		if err := e.routes[i].prepare(cfg.policy); err != nil {
			return nil, err
		}
		e.writesTo[e.routes[i].To] = true
	}
	e.observers = e.schemaObservers()
	var err error
	if e.cfg.clientID, err = resolveClientID(e.routes, cfg.clientID); err != nil {
		return nil, fmt.Errorf("sync: %w", err)
	}
	if e.maps, err = newMappings(cfg.mappings); err != nil {
		return nil, err
	}
	if e.st, err = resolveState(cfg.stateOpts, cfg.lease); err != nil {
		return nil, fmt.Errorf("sync: %w", err)
	}
	if !e.st.durable {
		e.log.Warn("sfsync: engine state is in memory; a restart forgets checkpoints, dedup keys, outcomes and dead letters. Use a durable store (store/sqlite, store/postgres) with WithStore in production")
	}
	e.sem = semaphore.NewWeighted(int64(cfg.maxInFlight))
	e.lanes = make([]chan *item, cfg.workers)
	for i := range e.lanes {
		e.lanes[i] = make(chan *item, cfg.maxBatch)
	}
	e.results = make(chan result, cfg.commitBatch)
	e.resync = newResyncQueue()
	e.versions = newVersionCache(cfg.versionCache, e.st.versions, e.isUnsaved)
	return e, nil
}

// Run processes changes until ctx ends or a fatal error occurs (a lost
// lease, a state store that keeps failing, a source that fails
// permanently). When ctx ends, Run stops pulling, drains the work in
// flight for up to the drain timeout, commits, and returns nil.
func (e *Engine) Run(ctx context.Context) error {
	if !e.running.CompareAndSwap(false, true) {
		return errors.New("sync: Engine.Run called twice; build a new engine")
	}
	defer close(e.finished)
	// Both contexts are made before anything can fail, so that a fatal
	// error at any point stops the intake and cancels the work in flight.
	intakeCtx, stopIntake := context.WithCancel(ctx)
	defer stopIntake()
	workCtx, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	e.fatalMu.Lock()
	e.stop, e.halt = stopIntake, cancelWork
	e.fatalMu.Unlock()
	if err := e.acquireLease(intakeCtx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	defer e.releaseLease()
	if err := e.checkMappings(intakeCtx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	for _, s := range e.sources {
		if r, ok := s.src.(sfsync.Resumer); ok {
			if err := r.Resume(intakeCtx, e.st.checkpoints); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return fmt.Errorf("sync: resuming source %d from its checkpoint: %w", s.index, err)
			}
		}
	}

	// The final commits must outlive the drain timeout: what finished is
	// recorded even when the rest is abandoned.
	commitCtx := context.WithoutCancel(ctx)
	var committer, workers, intake stdsync.WaitGroup
	committer.Go(func() { e.commitLoop(commitCtx) })
	for lane := range e.lanes {
		workers.Go(func() { e.worker(workCtx, lane) })
	}
	workers.Go(func() { e.parkLoop(workCtx) })
	close(e.started)
	intake.Go(func() { e.resyncLoop(intakeCtx) })
	if e.cfg.lease != nil {
		intake.Go(func() { e.renewLease(intakeCtx) })
	}
	e.backfillMu.Lock()
	e.streamedSince = e.cfg.clock()
	e.backfillMu.Unlock()
	if err := e.resumeBackfills(intakeCtx); err != nil {
		e.fail(err)
	}
	for _, s := range e.sources {
		intake.Go(func() { e.intake(intakeCtx, s) })
	}

	<-intakeCtx.Done()
	intake.Wait()
	e.laneMu.Lock()
	e.closed = true
	for _, l := range e.lanes {
		close(l)
	}
	// Parked changes stay without an outcome and are redelivered.
	close(e.lanesClosed)
	e.laneMu.Unlock()
	drained := make(chan struct{})
	go func() { workers.Wait(); close(drained) }()
	timer := time.NewTimer(e.cfg.drainTimeout)
	select {
	case <-drained:
	case <-timer.C:
		e.log.Warn("sfsync: drain timeout; unfinished changes will be redelivered from the last checkpoint", "timeout", e.cfg.drainTimeout)
		cancelWork()
		<-drained
	}
	timer.Stop()
	close(e.results)
	committer.Wait()
	return e.fatalErr()
}

// fail stops the engine for err: the intake stops, and the work in flight
// is cancelled at once, since its outcomes could not be committed (a
// fenced engine must not write beside the new lease holder). Nothing is
// lost: changes without an outcome are redelivered from the last checkpoint.
func (e *Engine) fail(err error) {
	e.fatalMu.Lock()
	if e.fatal == nil {
		e.fatal = err
		e.log.Error("sfsync: engine stopping", "err", err)
	}
	stop, halt := e.stop, e.halt
	e.fatalMu.Unlock()
	if stop != nil {
		stop()
	}
	if halt != nil {
		halt()
	}
}

func (e *Engine) fatalErr() error {
	e.fatalMu.Lock()
	defer e.fatalMu.Unlock()
	return e.fatal
}

func (e *Engine) intake(ctx context.Context, s *sourceState) {
	bo := e.cfg.newBackOff()
	var seq uint64
	e.listen(ctx, s)
	for {
		// Pull only when there is room, but hold none while Receive
		// blocks: an idle source must never keep capacity that another
		// source needs.
		if err := e.sem.Acquire(ctx, 1); err != nil {
			return
		}
		e.sem.Release(1)
		e.receiving(ctx, s, true, nil)
		changes, err := s.src.Receive(ctx)
		e.receiving(ctx, s, false, err)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if errors.Is(err, sfsync.ErrPositionUnavailable) {
				e.log.Warn("sfsync: source cannot resume from its checkpoint; backfilling from authoritative state", "source", s.index, "err", err)
				s.fromFallback.Store(true)
				// Owed durably before any later delivery can be committed.
				if err := e.owe(ctx, "replay position unavailable", e.lostWindow(ctx, s)); err != nil {
					if ctx.Err() == nil {
						e.fail(err)
					}
					return
				}
				continue
			}
			if sfsync.IsPermanent(err) {
				e.fail(fmt.Errorf("sync: source %d failed permanently: %w", s.index, err))
				return
			}
			wait := bo.NextBackOff()
			if wait < 0 {
				wait = e.cfg.drainTimeout
			}
			e.log.Warn("sfsync: source receive failed; retrying", "source", s.index, "err", err, "wait", wait)
			if !sleep(ctx, wait) {
				return
			}
			continue
		}
		bo.Reset()
		if !s.resumed.Load() {
			s.resumed.Store(true)
		}
		tokens := int64(max(1, min(len(changes), e.cfg.maxInFlight)))
		if err := e.sem.Acquire(ctx, tokens); err != nil {
			// Stopping: the delivery has no outcome and is redelivered.
			return
		}
		d, items := newDelivery(len(changes))
		d.src, d.seq, d.tokens = s, seq, tokens
		seq++
		e.delivered(d, changes)
		if len(changes) == 0 || (len(changes) == 1 && changes[0].Op == sfsync.OpAdvance) {
			if len(changes) == 1 {
				d.pos = changes[0].Position
			}
			d.remaining.Store(1)
			e.results <- result{it: &item{d: d}, empty: true}
			continue
		}
		e.observeSchemas(s, changes)
		d.pos = changes[len(changes)-1].Position
		d.remaining.Store(int32(len(changes)))
		e.stats.received.Add(int64(len(changes)))
		if t := changes[len(changes)-1].Version.Time; !t.IsZero() {
			e.stats.lastEventNanos.Store(t.UnixNano())
			d.at = t
		}
		for i := range changes {
			// Set field by field: newDelivery's items are zero, and an item
			// with its room for work is over a kilobyte, which a composite
			// literal would clear and copy again for every change.
			it := &items[i]
			it.c, it.d = changes[i], d
			e.push(it)
		}
	}
}

// newDelivery makes a delivery of n changes and room for their items, in
// one allocation when n is 1 (a Pub/Sub Receive yields one event, and an
// event mostly one change), else in two. They are done with together:
// the delivery is finished when its items have their outcomes.
func newDelivery(n int) (*delivery, []item) {
	if n == 1 {
		one := new(struct {
			d  delivery
			it [1]item
		})
		return &one.d, one.it[:]
	}
	return new(delivery), make([]item, n)
}

// push hands an item to the worker that owns its record. It reports false
// when the engine has stopped taking work.
func (e *Engine) push(it *item) bool {
	e.laneMu.RLock()
	defer e.laneMu.RUnlock()
	if e.closed {
		return false
	}
	e.queue(it, 1)
	e.lanes[e.laneOf(&it.c)] <- it
	return true
}

func (e *Engine) laneOf(c *sfsync.Change) int {
	key := c.RecordID
	if key == "" {
		key = c.Object + "\x00" + c.Key
	}
	return int(maphash.String(e.seed, key) % uint64(len(e.lanes)))
}

func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
