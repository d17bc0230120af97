package pubsub

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	stdsync "sync"
	"time"

	"github.com/cenkalti/backoff/v4"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/internal/eventbus"
)

// Replay says where a subscription without a usable stored position starts.
type Replay int

const (
	// ReplayEarliest starts at the oldest retained event (up to 72 h back):
	// nothing is missed; old events are recognised as older than what the
	// engine holds.
	ReplayEarliest Replay = iota
	// ReplayLatest starts at the tip: events published while no subscriber
	// ran are missed, so pair it with a backfill.
	ReplayLatest
)

// maxRequested is the server's cap on events owed to one Subscribe call.
const maxRequested = 100

// Subscription reads one topic through Subscribe. It implements
// [sfsync.EventSource] and [sfsync.Resumer]: the engine resumes it from its
// checkpoint (the replay id of the last event with an outcome) and commits
// positions as work finishes.
//
// It asks the server for at most its window of events beyond those the
// engine has taken, and asks for more as the engine takes them, so a slow
// engine slows the stream instead of filling memory. On a stream end or a
// transient status it reconnects with exponential backoff and jitter and
// resumes after the last event it received: what it received is queued or
// with the engine, and asking for it again would hand the engine older
// events after newer ones. A stored replay id the server rejects ends
// Receive with [ErrReplayUnavailable] once; the subscription then
// continues from its fallback. A response above the receive message size
// limit makes it ask for fewer events at a time, and the server's own
// limits are waited out with the backoff; [Subscription.Err] reports
// either while it lasts (see the package documentation).
//
// Positions never move backwards: events are delivered in replay order,
// and an event whose schema cannot be fetched yet stays first in line
// until it decodes or is handed over as [sfsync.OpUndecodable].
type Subscription struct {
	client   *Client
	topic    string
	window   int
	fallback Replay
	watchdog time.Duration
	backoff  func() backoff.BackOff
	log      *slog.Logger
	rng      *rand.Rand

	startOnce stdsync.Once
	stop      chan struct{}
	stopOnce  stdsync.Once
	done      chan struct{}
	flow      *flow

	mu stdsync.Mutex
	// position is the replay id a new stream starts after: that of the
	// newest event or keepalive queued for Receive, or before any the
	// checkpoint Resume loaded; nil means the fallback.
	position []byte
	// gapFreeSince is the commit time of the first event delivered after
	// the subscription last started from its fallback: every later commit
	// is delivered. Zero when not known (see GapFreeSince).
	gapFreeSince time.Time
	// fallbacks counts the streams started from the fallback: only the
	// first event of the newest one sets gapFreeSince.
	fallbacks int
}

type item struct {
	ev      *eventbus.ConsumerEvent
	advance []byte // a keepalive's replay id, newer than every event before it
	err     error
	// first marks the first event of a stream started from the fallback;
	// fallback is that stream's count (see Subscription.fallbacks).
	first    bool
	fallback int
}

// SubscriptionStats counts what a subscription did.
type SubscriptionStats struct {
	Connects, Reconnects, Events, Keepalives, FetchRequests int
	// MaxOwed is the largest number of events requested and not yet
	// delivered plus delivered and not yet taken by the engine.
	MaxOwed int
	// LatestReplayID is the newest replay id the server reported.
	LatestReplayID []byte
	// LastMessage is when the server last sent anything, events or a
	// keepalive; zero before it did.
	LastMessage time.Time
	// Batch is the most events one stream may be owed now: the window, or
	// fewer while responses exceed the receive message size limit.
	Batch int
}

// SubscribeOption configures a [Subscription].
type SubscribeOption func(*Subscription)

// WithWindow sets how many events may be requested or buffered ahead of
// the engine (1 to 100, default 100).
func WithWindow(n int) SubscribeOption {
	return func(s *Subscription) { s.window = min(max(n, 1), maxRequested) }
}

// WithFallback sets where the subscription starts without a usable stored
// replay id (default ReplayEarliest).
func WithFallback(r Replay) SubscribeOption { return func(s *Subscription) { s.fallback = r } }

// WithWatchdog sets how long a stream may stay silent while events are owed
// before it is torn down and reopened (default 5 minutes; the server sends
// a keepalive within 270 s).
func WithWatchdog(d time.Duration) SubscribeOption { return func(s *Subscription) { s.watchdog = d } }

// WithBackOff sets the reconnect backoff (default exponential from 500 ms
// to 1 minute with jitter, never giving up).
func WithBackOff(newBackOff func() backoff.BackOff) SubscribeOption {
	return func(s *Subscription) { s.backoff = newBackOff }
}

// WithJitterSeed seeds the reconnect jitter, for reproducible tests.
func WithJitterSeed(seed uint64) SubscribeOption {
	return func(s *Subscription) { s.rng = rand.New(rand.NewPCG(seed, seed)) }
}

// Subscribe returns a subscription to topic, such as
// "/data/ContactChangeEvent". It connects on the first Receive.
func (c *Client) Subscribe(topic string, opts ...SubscribeOption) *Subscription {
	s := &Subscription{
		client: c, topic: topic, window: maxRequested, watchdog: 5 * time.Minute, log: c.log,
		stop: make(chan struct{}), done: make(chan struct{}),
	}
	for _, o := range opts {
		o(s)
	}
	if s.rng == nil {
		s.rng = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	if s.backoff == nil {
		s.backoff = func() backoff.BackOff {
			b := backoff.NewExponentialBackOff()
			b.InitialInterval = 500 * time.Millisecond
			b.MaxInterval = time.Minute
			b.MaxElapsedTime = 0
			return b
		}
	}
	s.flow = newFlow(s.window, c.cfg.maxRecv)
	return s
}

// Stream names the checkpoint stream: the topic.
func (s *Subscription) Stream() string { return s.topic }

// Resume loads the committed replay id of the topic, if any.
func (s *Subscription) Resume(ctx context.Context, checkpoints sfsync.CheckpointStore) error {
	pos, err := checkpoints.LoadCheckpoint(ctx, s.topic)
	if errors.Is(err, sfsync.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("pubsub: load the checkpoint of %s: %w", s.topic, err)
	}
	s.mu.Lock()
	s.position = slices.Clone(pos.Token)
	s.mu.Unlock()
	return nil
}

// Commit does nothing: the server keeps no position for a subscription,
// the engine stores its checkpoint for [Subscription.Resume], and a
// reconnect resumes after what was already received, which the engine
// holds or will take from the queue.
func (s *Subscription) Commit(context.Context, sfsync.Position) error { return nil }

// Stats returns the subscription's counters.
func (s *Subscription) Stats() SubscriptionStats { return s.flow.snapshot() }

// LastReceipt is when the server last sent anything, events or a
// keepalive. The engine's watchdog (sync.WithWatchdog) reads it: a
// keepalive that moves no position never reaches the engine, yet proves
// the stream alive.
func (s *Subscription) LastReceipt() time.Time { return s.flow.lastMessage() }

// Err reports what keeps the subscription from receiving now, or nil: a
// server limit ([ErrServerLimit]) or an event too large for the receive
// limit ([ErrMessageTooLarge]), until the next response arrives. The
// engine's Health includes it.
func (s *Subscription) Err() error { return s.flow.err() }

// Close stops the subscription and waits for its stream to end.
func (s *Subscription) Close() error {
	s.stopOnce.Do(func() { close(s.stop) })
	s.startOnce.Do(func() { close(s.done) }) // never started
	<-s.done
	return nil
}

// Receive returns the changes of the next event. Events the decoder skips
// (unknown change types) are passed over. An error leaves an event that
// could not be decoded yet first in line for the next call.
func (s *Subscription) Receive(ctx context.Context) ([]sfsync.Change, error) {
	s.startOnce.Do(func() { go s.run() })
	if err := s.flow.receive(ctx); err != nil {
		return nil, err
	}
	defer s.flow.release()
	for {
		it, closed, err := s.flow.peek(ctx, s.done)
		if err != nil {
			return nil, err
		}
		if closed {
			return nil, fmt.Errorf("pubsub: subscription to %s is closed: %w", s.topic, sfsync.ErrClosed)
		}
		if it.err != nil {
			s.flow.pop()
			return nil, it.err
		}
		if it.advance != nil {
			s.flow.pop()
			return []sfsync.Change{{Source: sfsync.Salesforce, Object: s.topic, Op: sfsync.OpAdvance,
				Position: sfsync.Position{Stream: s.topic, Token: it.advance}}}, nil
		}
		changes, err := s.client.decodeEvent(ctx, s.topic, it.ev, s.backoff, s.log)
		if err != nil {
			return nil, err
		}
		if it.first {
			s.noteFirst(it.fallback, changes)
		}
		s.flow.pop()
		if len(changes) > 0 {
			return changes, nil
		}
	}
}

// run keeps a stream open until Close, reconnecting on failures.
func (s *Subscription) run() {
	defer close(s.done)
	ctx, cancel := stopContext(s.stop)
	defer cancel()
	s.client.keepOpen(ctx, s.backoff(), s.rng, s.log, s.topic, s.stream, func(err error) bool {
		if errors.Is(err, errBatchCut) {
			return true
		}
		if !errors.Is(err, ErrReplayUnavailable) {
			return false
		}
		// Hand over to the engine's backfill, then go on from the fallback.
		s.log.Warn("pubsub: stored replay id rejected; handing over to backfill", "topic", s.topic)
		s.mu.Lock()
		s.position, s.gapFreeSince = nil, time.Time{}
		s.mu.Unlock()
		s.flow.queue(ctx, item{err: err})
		return true
	})
}

// stream runs one Subscribe call until it fails. It reports whether any
// event arrived.
func (s *Subscription) stream(parent context.Context, reconnect bool) (delivered bool, err error) {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	st, err := s.client.api.Subscribe(ctx)
	if err != nil {
		return false, err
	}
	s.mu.Lock()
	first := &eventbus.FetchRequest{TopicName: s.topic}
	switch {
	case s.position != nil:
		first.ReplayPreset, first.ReplayId = eventbus.ReplayPreset_CUSTOM, slices.Clone(s.position)
	case s.fallback == ReplayLatest:
		first.ReplayPreset = eventbus.ReplayPreset_LATEST
	default:
		first.ReplayPreset = eventbus.ReplayPreset_EARLIEST
	}
	custom := s.position != nil
	if !custom {
		// The fallback starts a stream whole again: its first event says
		// from when.
		s.gapFreeSince = time.Time{}
		s.fallbacks++
	}
	fallback := s.fallbacks
	s.mu.Unlock()
	firstEvent := !custom
	s.flow.connected(reconnect)

	// The first request names the topic and where to start; later ones only
	// ask for more. flow.ask serialises the calls.
	send := func(n int) error {
		r := first
		if r == nil {
			r = &eventbus.FetchRequest{}
		}
		first = nil
		r.NumRequested = int32(n)
		return st.Send(r)
	}
	msgs, ended := pump(ctx, st.Recv)
	// A failed Send means the stream ended; Recv reports how.
	_ = s.flow.ask(func(int) bool { return true }, send)
	go s.flow.refill(ctx, send)

	watchdog := time.NewTimer(s.watchdog)
	defer watchdog.Stop()
	for {
		select {
		case err := <-ended:
			return delivered, s.endErr(st, err, custom)
		case <-watchdog.C:
			if s.flow.owed() > 0 {
				return delivered, status.Errorf(codes.Unavailable, "pubsub: no message from the server for %s while it owes events; reopening the stream", s.watchdog)
			}
			watchdog.Reset(s.watchdog)
			continue
		case <-parent.Done():
			return delivered, parent.Err()
		case resp := <-msgs:
			watchdog.Reset(s.watchdog)
			events := resp.GetEvents()
			s.flow.received(len(events), resp.GetLatestReplayId(), len(events) == 0)
			// A keepalive's replay id is worth checkpointing: on a quiet
			// topic it keeps the stored position inside retention. One
			// that is not past the position already queued (or resumed
			// from) would move the checkpoint back, and is passed over.
			if id := resp.GetLatestReplayId(); len(events) == 0 && len(id) > 0 {
				s.mu.Lock()
				fresh := s.position == nil || compareReplayIDs(id, s.position) > 0
				if fresh {
					s.position = slices.Clone(id)
				}
				s.mu.Unlock()
				if fresh && !s.flow.queue(parent, item{advance: slices.Clone(id)}) {
					return delivered, parent.Err()
				}
			}
			for _, ev := range events {
				delivered = true
				if !s.flow.queue(parent, item{ev: ev, first: firstEvent, fallback: fallback}) {
					return delivered, parent.Err()
				}
				// The replay id is the event's own (unmarshalled into bytes
				// of its own, never written after): it is not copied for
				// every event.
				s.mu.Lock()
				s.position = ev.GetReplayId()
				s.mu.Unlock()
				firstEvent = false
			}
			s.flow.askIfDrained(send)
		}
	}
}

// endErr turns a stream's end, as Recv reported it, into the
// subscription's view of it.
func (s *Subscription) endErr(st eventbus.PubSub_SubscribeClient, err error, custom bool) error {
	if errors.Is(err, io.EOF) {
		return status.Error(codes.Unavailable, "pubsub: the server closed the stream")
	}
	if custom && isReplayRejected(err, st.Trailer()) {
		return fmt.Errorf("%w: %s", ErrReplayUnavailable, status.Convert(err).Message())
	}
	return s.flow.exhausted(err, st.Trailer(), s.log, s.topic)
}

// compareReplayIDs orders two replay ids as the bus issues them: -1, 0 or
// +1 as a is before, the same as or after b. Replay ids are opaque and of
// no fixed length (8 and 10 bytes are seen), but they increase as
// big-endian numbers. The subscription compares them only to pass over a
// keepalive that would move the position back; never to drop an event.
func compareReplayIDs(a, b []byte) int {
	a, b = bytes.TrimLeft(a, "\x00"), bytes.TrimLeft(b, "\x00")
	if len(a) != len(b) {
		return cmp.Compare(len(a), len(b))
	}
	return bytes.Compare(a, b)
}
