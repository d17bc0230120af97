package pubsubtest

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/internal/eventbus"
)

const (
	msgRequested     = "The requested number of events in a fetch request must be greater than zero."
	msgReplayInvalid = "The Replay ID validation failed. Ensure that the Replay ID is valid."
	msgUnavailable   = "The service is unavailable. Try again later."
)

// apiErr is an error decided off the handler goroutine, turned into a status
// (with trailers) by the handler goroutine.
type apiErr struct {
	code      codes.Code
	errorCode string
	msg       string
}

// stream is the delivery state of one Subscribe or ManagedSubscribe call.
type stream struct {
	topic  *topic
	cursor uint64 // last position delivered (or started after)
	owed   int
	resend []*eventbus.ConsumerEvent // duplicates waiting to be sent again
	rpcID  string
}

type inbound struct {
	n      int32
	commit *eventbus.CommitReplayRequest
	eof    bool
	err    error
	api    *apiErr
}

type outbound struct {
	events  []*eventbus.ConsumerEvent
	latest  []byte
	pending int32
	commit  *eventbus.CommitReplayResponse
}

func (s *Server) addCreditLocked(st *stream, n int32) {
	st.owed = min(st.owed+int(n), MaxOwed)
	s.stats.MaxOwed = max(s.stats.MaxOwed, st.owed)
}

// collectLocked takes up to st.owed events (duplicates first) and reports
// whether the injected disconnect fault fires after sending them.
func (s *Server) collectLocked(st *stream) (batch []*eventbus.ConsumerEvent, disconnect bool) {
	limit := st.owed
	discArmed := s.discLeft > 0 && (s.discOwner == nil || s.discOwner == st)
	if discArmed {
		limit = min(limit, s.discLeft)
	}
	evs := st.topic.events
	i := sort.Search(len(evs), func(i int) bool { return evs[i].replay > st.cursor })
	for len(batch) < limit {
		if len(st.resend) > 0 {
			batch = append(batch, st.resend[0])
			st.resend = st.resend[1:]
			continue
		}
		for i < len(evs) && s.expired(evs[i].at) {
			i++
		}
		if i >= len(evs) {
			break
		}
		e := evs[i]
		i++
		st.cursor = e.replay
		ce := &eventbus.ConsumerEvent{Event: e.event, ReplayId: encodeReplay(e.replay)}
		batch = append(batch, ce)
		if s.dupLeft > 0 {
			s.dupLeft--
			st.resend = append(st.resend, ce)
		}
	}
	if len(batch) == 0 {
		return nil, false
	}
	st.owed -= len(batch)
	s.stats.EventsSent += len(batch)
	if discArmed {
		s.discOwner = st
		s.discLeft -= len(batch)
		if s.discLeft == 0 {
			s.discOwner = nil
			return batch, true
		}
	}
	return batch, false
}

func replayOrNil(v uint64) []byte {
	if v == 0 {
		return nil
	}
	return encodeReplay(v)
}

// serve runs the delivery loop of a subscription stream until it ends.
func (s *Server) serve(ctx context.Context, st *stream, in <-chan inbound, send func(outbound) error,
	onCommit func(*eventbus.CommitReplayRequest) *eventbus.CommitReplayResponse) error {
	keep := time.NewTimer(s.cfg.keepalive)
	defer keep.Stop()
	idle := time.NewTimer(s.cfg.idle)
	defer idle.Stop()
	s.mu.Lock()
	if st.owed > 0 {
		idle.Stop()
	}
	s.mu.Unlock()
	keepDue := false
	emit := func(out outbound) error {
		if err := s.sleepDelay(ctx); err != nil {
			return err
		}
		if err := send(out); err != nil {
			return err
		}
		keep.Reset(s.cfg.keepalive)
		if out.pending == 0 {
			idle.Reset(s.cfg.idle)
		}
		return nil
	}
	for {
		s.mu.Lock()
		batch, disc := s.collectLocked(st)
		var out *outbound
		switch {
		case len(batch) > 0:
			out = &outbound{events: batch, latest: encodeReplay(st.cursor), pending: int32(st.owed)}
		case keepDue && st.owed > 0:
			// Nothing deliverable: every event up to the tip of the bus is
			// behind this subscriber, so the position may advance to it.
			// The bus starts at FirstReplayID, so there is always one.
			st.cursor = max(st.cursor, s.tip)
			out = &outbound{latest: encodeReplay(st.cursor), pending: int32(st.owed)}
			if s.bareKeep {
				out.latest = nil
			}
		}
		keepDue = false
		wake := s.wake
		s.mu.Unlock()
		if out != nil {
			if err := emit(*out); err != nil {
				return err
			}
			if disc {
				return fail(ctx, codes.Unavailable, CodeUnavailable, st.rpcID, msgUnavailable)
			}
			continue
		}
		select {
		case m := <-in:
			switch {
			case m.eof:
				return nil
			case m.err != nil:
				return m.err
			case m.api != nil:
				return fail(ctx, m.api.code, m.api.errorCode, st.rpcID, m.api.msg)
			}
			idle.Stop()
			s.mu.Lock()
			wasZero := st.owed == 0
			if m.n > 0 {
				s.addCreditLocked(st, m.n)
			}
			owed := st.owed
			s.mu.Unlock()
			if wasZero && owed > 0 {
				keep.Reset(s.cfg.keepalive)
			}
			if m.commit != nil {
				if err := emit(outbound{commit: onCommit(m.commit), pending: int32(owed)}); err != nil {
					return err
				}
			} else if owed == 0 {
				idle.Reset(s.cfg.idle)
			}
		case <-wake:
		case <-keep.C:
			keepDue = true
		case <-idle.C:
			s.mu.Lock()
			owed := st.owed
			s.mu.Unlock()
			if owed == 0 {
				return nil
			}
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		case <-s.done:
			return fail(ctx, codes.Unavailable, CodeUnavailable, st.rpcID, msgUnavailable)
		}
	}
}

// readLoop forwards requests from recv to out, converted by conv, until an
// error, end of stream or a request conv rejects.
func readLoop[T any](ctx context.Context, recv func() (*T, error), conv func(*T) inbound, out chan<- inbound) {
	for {
		m, err := recv()
		var x inbound
		switch {
		case errors.Is(err, io.EOF):
			x.eof = true
		case err != nil:
			x.err = err
		default:
			x = conv(m)
		}
		select {
		case out <- x:
		case <-ctx.Done():
			return
		}
		if x.eof || x.err != nil || x.api != nil {
			return
		}
	}
}

func (s *Server) countRequest() {
	s.mu.Lock()
	s.stats.FetchRequests++
	s.mu.Unlock()
}

// rpcSubscribe serves [service.Subscribe].
func (s *Server) rpcSubscribe(ss grpc.BidiStreamingServer[eventbus.FetchRequest, eventbus.FetchResponse]) error {
	ctx := ss.Context()
	rpcID := newUUID()
	s.mu.Lock()
	s.stats.Subscribes++
	s.mu.Unlock()
	first, err := ss.Recv()
	if errors.Is(err, io.EOF) {
		return nil
	}
	if err != nil {
		return err
	}
	s.countRequest()
	if s.overLimit() {
		return fail(ctx, codes.ResourceExhausted, CodeDeliveryLimit, rpcID, msgDeliveryLimit)
	}
	if first.GetNumRequested() <= 0 {
		return fail(ctx, codes.InvalidArgument, CodeRequestedInvalid, rpcID, msgRequested)
	}
	if first.GetTopicName() == "" {
		return fail(ctx, codes.InvalidArgument, CodeTopicEmpty, rpcID, "The topic name can't be blank.")
	}
	s.mu.Lock()
	t, ok := s.topics[first.GetTopicName()]
	if !ok {
		s.mu.Unlock()
		return s.topicNotFound(ctx, rpcID, first.GetTopicName())
	}
	st := &stream{topic: t, rpcID: rpcID}
	var ae *apiErr
	switch first.GetReplayPreset() {
	case eventbus.ReplayPreset_EARLIEST:
	case eventbus.ReplayPreset_CUSTOM:
		st.cursor, ae = s.validReplayLocked(first.GetReplayId())
	default:
		st.cursor = s.tip
	}
	if ae == nil {
		s.addCreditLocked(st, first.GetNumRequested())
	}
	s.mu.Unlock()
	if ae != nil {
		return fail(ctx, ae.code, ae.errorCode, rpcID, ae.msg)
	}
	in := make(chan inbound)
	go readLoop(ctx, ss.Recv, func(r *eventbus.FetchRequest) inbound {
		s.countRequest()
		if r.GetNumRequested() <= 0 {
			return inbound{api: &apiErr{codes.InvalidArgument, CodeRequestedInvalid, msgRequested}}
		}
		if r.GetTopicName() != "" && r.GetTopicName() != t.name {
			return inbound{api: &apiErr{codes.InvalidArgument, CodeTopicMismatch,
				"The topic name in the fetch request doesn't match the topic of the subscription."}}
		}
		return inbound{n: r.GetNumRequested()}
	}, in)
	return s.serve(ctx, st, in, func(o outbound) error {
		return ss.Send(&eventbus.FetchResponse{
			Events: o.events, LatestReplayId: o.latest, RpcId: rpcID, PendingNumRequested: o.pending,
		})
	}, nil)
}

// validReplayLocked checks a CUSTOM replay id: it must be one this server
// issued whose event is still within retention.
func (s *Server) validReplayLocked(id []byte) (uint64, *apiErr) {
	if len(id) == 0 {
		return 0, &apiErr{codes.InvalidArgument, CodeReplayValidation, msgReplayInvalid}
	}
	if len(id) != 8 {
		return 0, &apiErr{codes.InvalidArgument, CodeReplayCorrupted, msgReplayInvalid}
	}
	v := binary.BigEndian.Uint64(id)
	at, ok := s.issued[v]
	if !ok || s.expired(at) {
		return 0, &apiErr{codes.InvalidArgument, CodeReplayCorrupted, msgReplayInvalid}
	}
	return v, nil
}

type managedSub struct {
	id, name, topic string
	committed       uint64
	active          bool
}

// AddManagedSubscription registers a managed event subscription on topic and
// returns its id (18 characters, prefix "18x"). Registering a developer name
// again returns the existing id.
func (s *Server) AddManagedSubscription(developerName, topic string) (id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m, ok := s.byName[developerName]; ok {
		return m.id
	}
	m := &managedSub{id: fmt.Sprintf("18x%012dAAA", len(s.managed)+1), name: developerName, topic: topic}
	s.managed[m.id] = m
	s.byName[developerName] = m
	return m.id
}

// ManagedSubscription describes a managed event subscription, as the
// Tooling API's ManagedEventSubscription does.
type ManagedSubscription struct {
	ID            string // 18 characters, prefix "18x"
	DeveloperName string
	Topic         string
	Active        bool // a ManagedSubscribe stream is open on it
}

// ManagedSubscriptions returns the registered managed subscriptions in the
// order they were added.
func (s *Server) ManagedSubscriptions() []ManagedSubscription {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]ManagedSubscription, 0, len(s.managed))
	for _, m := range s.managed {
		out = append(out, ManagedSubscription{ID: m.id, DeveloperName: m.name, Topic: m.topic, Active: m.active})
	}
	slices.SortFunc(out, func(a, b ManagedSubscription) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// managedByIDLocked finds a managed subscription by its Tooling id, which
// clients may give in the 15- or the 18-character form.
func (s *Server) managedByIDLocked(id string) (*managedSub, bool) {
	if m, ok := s.managed[id]; ok {
		return m, true
	}
	for _, m := range s.managed {
		if sfsync.SameID(id, m.id) {
			return m, true
		}
	}
	return nil, false
}

// Committed returns the replay id committed for a managed subscription
// (by id or developer name), or nil.
func (s *Server) Committed(subscription string) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.managedByIDLocked(subscription)
	if !ok {
		m, ok = s.byName[subscription]
	}
	if !ok {
		return nil
	}
	return replayOrNil(m.committed)
}

// rpcManagedSubscribe serves [service.ManagedSubscribe]. A stream resumes after
// the committed replay id of its subscription, or from EARLIEST if none.
func (s *Server) rpcManagedSubscribe(ss grpc.BidiStreamingServer[eventbus.ManagedFetchRequest, eventbus.ManagedFetchResponse]) error {
	ctx := ss.Context()
	rpcID := newUUID()
	s.mu.Lock()
	s.stats.Subscribes++
	s.mu.Unlock()
	first, err := ss.Recv()
	if errors.Is(err, io.EOF) {
		return nil
	}
	if err != nil {
		return err
	}
	s.countRequest()
	if s.overLimit() {
		return fail(ctx, codes.ResourceExhausted, CodeDeliveryLimit, rpcID, msgDeliveryLimit)
	}
	if first.GetCommitReplayIdRequest() != nil {
		return fail(ctx, codes.InvalidArgument, CodeManagedCommitRest, rpcID,
			"A commit replay ID request can't be sent in the first fetch request.")
	}
	if first.GetNumRequested() < 0 {
		return fail(ctx, codes.InvalidArgument, CodeManagedEvents, rpcID,
			"The requested number of events in a fetch request can't be negative.")
	}
	s.mu.Lock()
	var m *managedSub
	var ok bool
	ae := (*apiErr)(nil)
	switch {
	case first.GetSubscriptionId() != "":
		if m, ok = s.managedByIDLocked(first.GetSubscriptionId()); !ok {
			ae = &apiErr{codes.NotFound, CodeManagedIDNF, fmt.Sprintf(
				"The managed subscription with ID %s wasn't found.", first.GetSubscriptionId())}
		}
	case first.GetDeveloperName() != "":
		if m, ok = s.byName[first.GetDeveloperName()]; !ok {
			ae = &apiErr{codes.NotFound, CodeManagedNameNF, fmt.Sprintf(
				"The managed subscription with developer name %s wasn't found.", first.GetDeveloperName())}
		}
	default:
		ae = &apiErr{codes.InvalidArgument, CodeManagedEmpty,
			"The subscription ID or developer name must be provided."}
	}
	var st *stream
	if ae == nil && m.active {
		ae = &apiErr{codes.AlreadyExists, CodeManagedActive, "An active managed subscription with the same ID already exists. " +
			"If a previous subscription with the same ID was stopped, there can be a delay before it expires. Try subscribing again later."}
	}
	if ae == nil {
		t, found := s.topics[m.topic]
		if !found {
			s.mu.Unlock()
			return s.topicNotFound(ctx, rpcID, m.topic)
		}
		m.active = true
		st = &stream{topic: t, cursor: m.committed, rpcID: rpcID}
		s.addCreditLocked(st, first.GetNumRequested())
	}
	s.mu.Unlock()
	if ae != nil {
		return fail(ctx, ae.code, ae.errorCode, rpcID, ae.msg)
	}
	defer func() {
		s.mu.Lock()
		m.active = false
		s.mu.Unlock()
	}()
	in := make(chan inbound)
	go readLoop(ctx, ss.Recv, func(r *eventbus.ManagedFetchRequest) inbound {
		s.countRequest()
		if r.GetNumRequested() < 0 {
			return inbound{api: &apiErr{codes.InvalidArgument, CodeManagedEvents,
				"The requested number of events in a fetch request can't be negative."}}
		}
		return inbound{n: r.GetNumRequested(), commit: r.GetCommitReplayIdRequest()}
	}, in)
	onCommit := func(c *eventbus.CommitReplayRequest) *eventbus.CommitReplayResponse {
		resp := &eventbus.CommitReplayResponse{CommitRequestId: c.GetCommitRequestId(), ReplayId: c.GetReplayId()}
		s.mu.Lock()
		defer s.mu.Unlock()
		resp.ProcessTime = s.cfg.now().UnixMilli()
		id := c.GetReplayId()
		if len(id) == 8 {
			if _, ok := s.issued[binary.BigEndian.Uint64(id)]; ok {
				m.committed = binary.BigEndian.Uint64(id)
				return resp
			}
		}
		resp.Error = &eventbus.Error{Code: eventbus.ErrorCode_COMMIT, Msg: msgReplayInvalid}
		return resp
	}
	return s.serve(ctx, st, in, func(o outbound) error {
		return ss.Send(&eventbus.ManagedFetchResponse{
			Events: o.events, LatestReplayId: o.latest, RpcId: rpcID,
			PendingNumRequested: o.pending, CommitResponse: o.commit,
		})
	}, onCommit)
}
