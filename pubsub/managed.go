package pubsub

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"regexp"
	"slices"
	stdsync "sync"
	"time"

	"github.com/cenkalti/backoff/v4"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/internal/eventbus"
)

// ManagedSubscription reads a managed event subscription through
// ManagedSubscribe. The subscription (its topic, where it starts) is
// defined in the org; the server keeps its committed replay id, so there is
// nothing to resume: a new ManagedSubscription continues after the last
// committed event. It implements [sfsync.EventSource].
//
// Flow control, reconnection and the watchdog work as in [Subscription]
// (the same options apply, except WithFallback: the org's configuration
// decides where a subscription starts). Positions name the developer name
// as their stream, and decoded changes name it as their object's topic,
// since the stream does not say which topic it reads.
type ManagedSubscription struct {
	client   *Client
	name     string
	window   int
	watchdog time.Duration
	backoff  func() backoff.BackOff
	log      *slog.Logger
	rng      *rand.Rand

	startOnce stdsync.Once
	stop      chan struct{}
	stopOnce  stdsync.Once
	done      chan struct{}
	flow      *flow

	mu      stdsync.Mutex
	live    *managedStream // the stream commits go to, or nil
	changed chan struct{}  // closed when live changes
	commits map[string]chan *eventbus.CommitReplayResponse
}

// managedStream is one ManagedSubscribe call.
type managedStream struct {
	st     eventbus.PubSub_ManagedSubscribeClient
	sendMu stdsync.Mutex
	dead   chan struct{} // closed when the stream is over
}

func (m *managedStream) send(r *eventbus.ManagedFetchRequest) error {
	m.sendMu.Lock()
	defer m.sendMu.Unlock()
	return m.st.Send(r)
}

// subscriptionIDPattern matches the record id of a ManagedEventSubscription
// (prefix 18x), which cannot be a developer name: those start with a letter.
var subscriptionIDPattern = regexp.MustCompile(`^18x[0-9A-Za-z]{12}([0-9A-Za-z]{3})?$`)

// ManagedSubscribe returns the managed event subscription named
// developerName (or with that 18x record id). It connects on the first
// Receive.
func (c *Client) ManagedSubscribe(developerName string, opts ...SubscribeOption) *ManagedSubscription {
	// The options set fields of a Subscription: read them from one that is
	// never started.
	cfg := c.Subscribe("", opts...)
	return &ManagedSubscription{
		client: c, name: developerName, window: cfg.window, watchdog: cfg.watchdog, backoff: cfg.backoff, log: cfg.log, rng: cfg.rng,
		stop: make(chan struct{}), done: make(chan struct{}),
		flow:    newFlow(cfg.window, c.cfg.maxRecv),
		changed: make(chan struct{}),
		commits: map[string]chan *eventbus.CommitReplayResponse{},
	}
}

// Stream names the position stream: the developer name.
func (s *ManagedSubscription) Stream() string { return s.name }

// Stats returns the subscription's counters.
func (s *ManagedSubscription) Stats() SubscriptionStats { return s.flow.snapshot() }

// LastReceipt is when the server last sent anything, events or a
// keepalive, for the engine's watchdog (see [Subscription.LastReceipt]).
func (s *ManagedSubscription) LastReceipt() time.Time { return s.flow.lastMessage() }

// Err reports what keeps the subscription from receiving now, or nil, as
// [Subscription.Err] does.
func (s *ManagedSubscription) Err() error { return s.flow.err() }

// Close stops the subscription and waits for its stream to end.
func (s *ManagedSubscription) Close() error {
	s.stopOnce.Do(func() { close(s.stop) })
	s.startOnce.Do(func() { close(s.done) }) // never started
	<-s.done
	return nil
}

// Receive returns the changes of the next event. Events the decoder skips
// are passed over. An error leaves an event that could not be decoded yet
// first in line for the next call.
func (s *ManagedSubscription) Receive(ctx context.Context) ([]sfsync.Change, error) {
	s.start()
	if err := s.flow.receive(ctx); err != nil {
		return nil, err
	}
	defer s.flow.release()
	for {
		select {
		case <-s.stop: // buffered events are not handed out after Close
			return nil, fmt.Errorf("pubsub: managed subscription %s is closed: %w", s.name, sfsync.ErrClosed)
		default:
		}
		it, closed, err := s.flow.peek(ctx, s.done)
		if err != nil {
			return nil, err
		}
		if closed {
			return nil, fmt.Errorf("pubsub: managed subscription %s is closed: %w", s.name, sfsync.ErrClosed)
		}
		if it.err != nil {
			s.flow.pop()
			return nil, it.err
		}
		changes, err := s.client.decodeEvent(ctx, s.name, it.ev, s.backoff, s.log)
		if err != nil {
			return nil, err
		}
		s.flow.pop()
		if len(changes) > 0 {
			return changes, nil
		}
	}
}

func (s *ManagedSubscription) start() { s.startOnce.Do(func() { go s.run() }) }

// Commit stores pos as the subscription's committed replay id on the
// server, and returns once the server confirmed it. A stream that ends
// before confirming is retried on the next one.
func (s *ManagedSubscription) Commit(ctx context.Context, pos sfsync.Position) error {
	if pos.Stream != s.name || len(pos.Token) == 0 {
		return nil
	}
	s.start()
	for {
		s.mu.Lock()
		live, changed := s.live, s.changed
		s.mu.Unlock()
		if live == nil {
			select {
			case <-changed:
				continue
			case <-ctx.Done():
				return fmt.Errorf("pubsub: commit to managed subscription %s: %w", s.name, ctx.Err())
			case <-s.done:
				return fmt.Errorf("pubsub: managed subscription %s is closed: %w", s.name, sfsync.ErrClosed)
			}
		}
		id := newUUID()
		ch := make(chan *eventbus.CommitReplayResponse, 1)
		s.mu.Lock()
		s.commits[id] = ch
		s.mu.Unlock()
		forget := func() {
			s.mu.Lock()
			delete(s.commits, id)
			s.mu.Unlock()
		}
		err := live.send(&eventbus.ManagedFetchRequest{
			CommitReplayIdRequest: &eventbus.CommitReplayRequest{CommitRequestId: id, ReplayId: slices.Clone(pos.Token)},
		})
		if err != nil {
			// The stream is ending: wait for the next one.
			select {
			case <-live.dead:
			case <-ctx.Done():
			}
			forget()
			continue
		}
		select {
		case r := <-ch:
			if e := r.GetError(); e != nil {
				return sfsync.Permanent(fmt.Errorf("pubsub: commit replay id %x to managed subscription %s: %s: %s", pos.Token, s.name, e.GetCode(), e.GetMsg()))
			}
			return nil
		case <-live.dead:
			forget()
			// The response may have come in just before the end.
			select {
			case r := <-ch:
				if e := r.GetError(); e != nil {
					return sfsync.Permanent(fmt.Errorf("pubsub: commit replay id %x to managed subscription %s: %s: %s", pos.Token, s.name, e.GetCode(), e.GetMsg()))
				}
				return nil
			default:
			}
		case <-ctx.Done():
			forget()
			return fmt.Errorf("pubsub: commit to managed subscription %s: %w", s.name, ctx.Err())
		case <-s.done:
			return fmt.Errorf("pubsub: managed subscription %s is closed: %w", s.name, sfsync.ErrClosed)
		}
	}
}

// run keeps a stream open until Close, reconnecting on failures.
func (s *ManagedSubscription) run() {
	defer close(s.done)
	ctx, cancel := stopContext(s.stop)
	defer cancel()
	s.client.keepOpen(ctx, s.backoff(), s.rng, s.log, s.name, s.stream, func(err error) bool {
		if errors.Is(err, errBatchCut) {
			return true
		}
		if errors.Is(err, ErrServerLimit) || errors.Is(err, ErrMessageTooLarge) {
			return false // reported by Err; backing off
		}
		switch status.Code(err) {
		case codes.InvalidArgument, codes.PermissionDenied, codes.FailedPrecondition:
			// A verdict on the subscription (stopped, malformed, not
			// allowed): the engine hears of it; retrying continues in case
			// the org's configuration changes.
			s.flow.queue(ctx, item{err: sfsync.Permanent(fmt.Errorf("pubsub: managed subscription %s: %w", s.name, err))})
		}
		// NOT_FOUND (a configuration still propagating) and ALREADY_EXISTS
		// (the previous stream not yet expired) pass with time.
		return false
	})
}

func (s *ManagedSubscription) setLive(m *managedStream) {
	s.mu.Lock()
	s.live = m
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
}

// stream runs one ManagedSubscribe call until it fails. It reports whether
// any event arrived.
func (s *ManagedSubscription) stream(parent context.Context, reconnect bool) (delivered bool, err error) {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	st, err := s.client.api.ManagedSubscribe(ctx)
	if err != nil {
		return false, err
	}
	ms := &managedStream{st: st, dead: make(chan struct{})}
	defer close(ms.dead)
	s.flow.connected(reconnect)

	first := &eventbus.ManagedFetchRequest{}
	if subscriptionIDPattern.MatchString(s.name) {
		first.SubscriptionId = s.name
	} else {
		first.DeveloperName = s.name
	}
	// The first request names the subscription; later ones only ask for
	// more. flow.ask serialises the calls.
	send := func(n int) error {
		r := first
		if r == nil {
			r = &eventbus.ManagedFetchRequest{}
		}
		first = nil
		r.NumRequested = int32(n)
		return ms.send(r)
	}
	msgs, ended := pump(ctx, st.Recv)
	// The first request names the subscription, even with no credit. A
	// failed Send means the stream ended; Recv reports how.
	_ = s.flow.ask(nil, send)
	s.setLive(ms)
	defer s.setLive(nil)
	go s.flow.refill(ctx, send)

	watchdog := time.NewTimer(s.watchdog)
	defer watchdog.Stop()
	for {
		select {
		case err := <-ended:
			if errors.Is(err, io.EOF) {
				return delivered, status.Error(codes.Unavailable, "pubsub: the server closed the stream")
			}
			return delivered, s.flow.exhausted(err, st.Trailer(), s.log, s.name)
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
			if cr := resp.GetCommitResponse(); cr != nil {
				s.mu.Lock()
				ch := s.commits[cr.GetCommitRequestId()]
				delete(s.commits, cr.GetCommitRequestId())
				s.mu.Unlock()
				if ch != nil {
					ch <- cr
				}
			}
			events := resp.GetEvents()
			s.flow.received(len(events), resp.GetLatestReplayId(), len(events) == 0 && resp.GetCommitResponse() == nil)
			for _, ev := range events {
				delivered = true
				if !s.flow.queue(parent, item{ev: ev}) {
					return delivered, parent.Err()
				}
			}
			s.flow.askIfDrained(send)
		}
	}
}
