package sync

import (
	"context"
	"errors"
	"fmt"
	stdsync "sync"
	"time"

	"github.com/sfsync/sfsync"
)

// StreamPhase is where a source stream stands.
type StreamPhase string

const (
	// StreamStarting: Run has not started reading the stream yet (it waits
	// for its lease, or resumes the source from its checkpoint).
	StreamStarting StreamPhase = "starting"
	// StreamStreaming: the engine reads the stream; StreamState.CaughtUp
	// and Lag tell how far behind it is.
	StreamStreaming StreamPhase = "streaming"
	// StreamBackfilling: the stream is read while a backfill brings the
	// other system to authoritative state; StreamState.Reason says how far
	// it has come (see [Engine.Backfills]).
	StreamBackfilling StreamPhase = "backfilling"
	// StreamDegraded: the stream is read but something stands in the way;
	// StreamState.Reason and Err say what (receives failing and retried, or
	// silence beyond the watchdog).
	StreamDegraded StreamPhase = "degraded"
	// StreamFenced: another instance took the engine's lease; this one
	// stopped without committing.
	StreamFenced StreamPhase = "fenced"
	// StreamStopped: Run is stopping or has returned; Err is the error it
	// stopped for, nil when its context ended.
	StreamStopped StreamPhase = "stopped"
)

// ErrStreamSilent is the error of a watched stream that received nothing,
// not even a keepalive, for longer than its watchdog allows (see
// [WithWatchdog]).
var ErrStreamSilent = errors.New("stream silent beyond its watchdog")

// ErrAPIPaused is the error of an org whose API requests are paused at its
// limit (see [WithAPIUsage]).
var ErrAPIPaused = errors.New("API requests paused at the limit")

// StreamState is one source stream as the engine sees it.
type StreamState struct {
	// Source is the source's index: 0 for New's source, then WithSource's
	// in the order given.
	Source int
	// Name is the stream's name: its source's Stream() when it has one,
	// else the stream its positions name, else "source N".
	Name   string
	Phase  StreamPhase
	Reason string
	// Err is the error behind a degraded, fenced or stopped stream.
	Err error
	// Checkpoint is the last position committed for the stream (loaded
	// from the store when Run starts, for a source that names its stream);
	// zero until there is one. CheckpointAt is when this engine committed
	// it; zero for a loaded one.
	Checkpoint   sfsync.Position
	CheckpointAt time.Time
	// LastEvent is when the newest change received from the stream was
	// made at its source (its version time).
	LastEvent time.Time
	// LastReceipt is when the stream last delivered anything: changes, a
	// keepalive's position, or, for a source that reports it, a keepalive
	// that moved nothing (see [WithWatchdog]).
	LastReceipt time.Time
	// InFlight counts deliveries received without a committed outcome.
	InFlight int
	// Delivered counts the deliveries the engine has taken from the
	// stream since Run started: the returns of its source's Receive
	// without an error (changes, a keepalive or nothing). A host that
	// counts what its source handed over knows, once Delivered reaches
	// that count and InFlight is zero, that the engine has taken and
	// settled all of it.
	Delivered int64
	// CaughtUp is set while the stream is read and every delivery received
	// from it has a committed outcome.
	CaughtUp bool
	// Lag is, while deliveries are in flight, how long ago the oldest of
	// their changes was made at its source; once caught up, how long the
	// last change took from its source to its committed outcome.
	Lag time.Duration
	// Watchdog is the silence the stream is allowed; zero when the stream
	// is not watched.
	Watchdog time.Duration
	// DeadLetters counts the stream's changes dead-lettered since Run
	// started, the last at LastDeadLetter: a count that grows while the
	// stream is streaming is a fault to look at (its causes are in the
	// dead letters), not a stream that stopped.
	DeadLetters    int
	LastDeadLetter time.Time
}

// StreamError is a degraded stream in [Engine.Health].
type StreamError struct {
	Stream string
	Reason string
	Err    error
}

func (e *StreamError) Error() string {
	return fmt.Sprintf("sync: stream %s is degraded: %s: %v", e.Stream, e.Reason, e.Err)
}

func (e *StreamError) Unwrap() error { return e.Err }

// ReceiptReporter is implemented by a source that hears from its server
// more often than it hands the engine anything: a Pub/Sub subscription
// gets keepalives that move no position. LastReceipt is when it last heard
// anything; zero before it did.
type ReceiptReporter interface {
	LastReceipt() time.Time
}

// defaultWatchdog outlasts the Pub/Sub API's keepalives (at most 270 s
// apart) and a reconnect after the subscription's own 5-minute watchdog.
const defaultWatchdog = 10 * time.Minute

type opsConfig struct {
	watchdog    time.Duration
	watchdogSet bool
	usage       []usageSource
}

// WithWatchdog sets how long a stream may receive nothing, not even a
// keepalive, before [Engine.Health] reports it (default 10 minutes; zero
// or negative turns the watchdog off). It watches the streams whose source
// reports when it last heard from its server ([ReceiptReporter]; a
// pubsub.Subscription does): a source without keepalives is quiet when
// nothing changes, and its silence says nothing.
func WithWatchdog(d time.Duration) Option {
	return func(c *config) { c.ops.watchdog, c.ops.watchdogSet = d, true }
}

func (c *config) watchdogOf(src sfsync.EventSource) time.Duration {
	if _, ok := src.(ReceiptReporter); !ok {
		return 0
	}
	if !c.ops.watchdogSet {
		return defaultWatchdog
	}
	return max(c.ops.watchdog, 0)
}

// observer keeps what the engine knows of its streams and outcomes for
// operators: stream states, outcomes per minute, the periodic summary, and
// the wake-ups of those who wait for progress.
type observer struct {
	mu      stdsync.Mutex
	streams []streamObs
	changed chan struct{} // closed and replaced on every commit and every wait on a source, while waited on
	waiters int           // callers in Engine.wait
	minutes [minuteRing]minuteBucket
	summary summaryState
}

type streamObs struct {
	name      string
	named     bool // the source names its stream
	listening bool
	listenAt  time.Time
	waiting   bool // in Receive
	failing   error
	failedAt  time.Time
	receipt   time.Time
	lastEvent time.Time
	delivered uint64 // deliveries taken: the next one's sequence number
	settled   uint64 // deliveries with a committed outcome, in order
	queue     []pendingDelivery
	cp        sfsync.Position
	cpAt      time.Time
	lag       time.Duration
	dead      int
	lastDead  time.Time
}

type pendingDelivery struct {
	seq   uint64
	pos   sfsync.Position
	event time.Time // of its newest change; zero for a keepalive
}

func (e *Engine) initObserver() {
	e.obs.changed = make(chan struct{})
	e.obs.streams = make([]streamObs, len(e.sources))
	for i, s := range e.sources {
		o := &e.obs.streams[i]
		o.name = fmt.Sprintf("source %d", i)
		if st, ok := s.src.(streamer); ok && st.Stream() != "" {
			o.name, o.named = st.Stream(), true
		}
	}
}

// wakeLocked wakes those who wait for progress. With none waiting the
// channel is kept: nobody holds it, and every delivery would otherwise
// cost a new one.
func (o *observer) wakeLocked() {
	if o.waiters == 0 {
		return
	}
	close(o.changed)
	o.changed = make(chan struct{})
}

// listen marks the start of a source's intake and loads its checkpoint,
// so that the page shows where the stream resumed before it commits.
func (e *Engine) listen(ctx context.Context, s *sourceState) {
	o := &e.obs.streams[s.index]
	var cp sfsync.Position
	if o.named {
		pos, err := e.st.checkpoints.LoadCheckpoint(ctx, o.name)
		switch {
		case err == nil:
			cp = pos
		case !isNotFound(err) && ctx.Err() == nil:
			e.log.Debug("sfsync: reading a stream's checkpoint for its state failed", "stream", o.name, "err", err)
		}
	}
	now := e.cfg.clock()
	e.obs.mu.Lock()
	o.listening, o.listenAt = true, now
	if o.cp.IsZero() {
		o.cp = cp
	}
	e.obs.mu.Unlock()
}

// receiving marks a source's intake as waiting in Receive (waiting true)
// or back from it, with the error it returned. Neither the end of the
// intake nor a handover to backfill is a failing source.
func (e *Engine) receiving(ctx context.Context, s *sourceState, waiting bool, err error) {
	if err != nil && (ctx.Err() != nil || errors.Is(err, sfsync.ErrPositionUnavailable)) {
		err = nil
	}
	var now time.Time
	if !waiting {
		// Read only when it is recorded: this runs twice per Receive.
		now = e.cfg.clock()
	}
	e.obs.mu.Lock()
	defer e.obs.mu.Unlock()
	o := &e.obs.streams[s.index]
	o.waiting = waiting
	if waiting {
		// Someone may wait for the engine to be idle.
		e.obs.wakeLocked()
		return
	}
	if err != nil {
		if o.failing == nil {
			o.failedAt = now
		}
		o.failing = err
		e.obs.wakeLocked() // Health changed
		return
	}
	o.failing = nil
	o.receipt = now
}

// delivered books a delivery the intake took.
func (e *Engine) delivered(d *delivery, changes []sfsync.Change) {
	// d.pos is not set yet: the delivery's position is its last change's,
	// as the intake sets it.
	p := pendingDelivery{seq: d.seq}
	if len(changes) > 0 {
		p.pos = changes[len(changes)-1].Position
	}
	for i := len(changes) - 1; i >= 0; i-- {
		if changes[i].Op != sfsync.OpAdvance && !changes[i].Version.Time.IsZero() {
			p.event = changes[i].Version.Time
			break
		}
	}
	e.obs.mu.Lock()
	defer e.obs.mu.Unlock()
	o := &e.obs.streams[d.src.index]
	o.delivered = d.seq + 1
	o.queue = append(o.queue, p)
	if !p.event.IsZero() && p.event.After(o.lastEvent) {
		o.lastEvent = p.event
	}
	if !o.named && p.pos.Stream != "" {
		o.name = p.pos.Stream
	}
}

// committedLocked moves each stream to its committed watermark (run by the
// committer, which owns the watermarks).
func (e *Engine) committedLocked(now time.Time) {
	for i, s := range e.sources {
		o := &e.obs.streams[i]
		n := 0
		for n < len(o.queue) && o.queue[n].seq < s.next {
			p := o.queue[n]
			if !p.pos.IsZero() {
				o.cp, o.cpAt = p.pos, now
			}
			if !p.event.IsZero() {
				o.lag = max(0, now.Sub(p.event))
			}
			n++
		}
		if n > 0 {
			o.queue = append(o.queue[:0], o.queue[n:]...)
		}
		o.settled = s.next
	}
}

// Streams returns the state of each source stream, in source order.
func (e *Engine) Streams() []StreamState {
	now := e.cfg.clock()
	fatal := e.fatalErr()
	stopped := false
	select {
	case <-e.finished:
		stopped = true
	default:
	}
	backfilling := ""
	for _, b := range e.Backfills() {
		if b.Phase != PhaseDone && b.Err == nil {
			backfilling = fmt.Sprintf("backfill of %s: %s, %d records read", b.Object, b.Phase, b.Read)
			if b.Total >= 0 {
				backfilling += fmt.Sprintf(" of %d", b.Total)
			}
			break
		}
	}
	e.obs.mu.Lock()
	defer e.obs.mu.Unlock()
	out := make([]StreamState, len(e.sources))
	for i, s := range e.sources {
		o := &e.obs.streams[i]
		st := StreamState{
			Source: i, Name: o.name, Checkpoint: o.cp, CheckpointAt: o.cpAt, LastEvent: o.lastEvent,
			LastReceipt: o.receipt, InFlight: len(o.queue), Delivered: int64(o.delivered), Watchdog: e.cfg.watchdogOf(s.src),
			DeadLetters: o.dead, LastDeadLetter: o.lastDead,
		}
		if r, ok := s.src.(ReceiptReporter); ok {
			if t := r.LastReceipt(); t.After(st.LastReceipt) {
				st.LastReceipt = t
			}
		}
		st.Lag = o.lag
		for _, p := range o.queue {
			if !p.event.IsZero() {
				st.Lag = max(0, now.Sub(p.event))
				break
			}
		}
		switch {
		case fatal != nil && errors.Is(fatal, sfsync.ErrFenced):
			st.Phase, st.Reason, st.Err = StreamFenced, "another instance holds the lease", fatal
		case fatal != nil || stopped:
			st.Phase, st.Reason, st.Err = StreamStopped, "the engine stopped", fatal
			if fatal == nil {
				st.Reason = "the engine's context ended"
			}
		case !o.listening:
			st.Phase = StreamStarting
		case o.failing != nil:
			st.Phase, st.Err = StreamDegraded, o.failing
			st.Reason = fmt.Sprintf("receiving fails since %s; retrying", o.failedAt.UTC().Format(time.RFC3339))
		default:
			st.Phase, st.CaughtUp = StreamStreaming, len(o.queue) == 0
			if st.Watchdog > 0 {
				// Silence counts from the later of the last receipt and
				// the start of the intake.
				since := st.LastReceipt
				if o.listenAt.After(since) {
					since = o.listenAt
				}
				if now.Sub(since) > st.Watchdog {
					st.Phase, st.Err = StreamDegraded, ErrStreamSilent
					st.Reason = fmt.Sprintf("nothing received for %s, not even a keepalive (watchdog %s)", now.Sub(since).Round(time.Second), st.Watchdog)
					st.CaughtUp = false
				}
			}
			if st.Phase == StreamStreaming && backfilling != "" {
				st.Phase, st.Reason, st.CaughtUp = StreamBackfilling, backfilling, false
			}
		}
		out[i] = st
	}
	return out
}

// streamErrors are the degraded streams, for Health.
func (e *Engine) streamErrors() []error {
	var errs []error
	for _, s := range e.Streams() {
		if s.Phase == StreamDegraded {
			errs = append(errs, &StreamError{Stream: s.Name, Reason: s.Reason, Err: s.Err})
		}
	}
	return errs
}
