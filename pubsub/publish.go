package pubsub

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	stdsync "sync"

	"github.com/linkedin/goavro/v2"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/internal/eventbus"
)

// PlatformEvent is one event to publish.
type PlatformEvent struct {
	// ID is the event's correlation key (at most 36 characters): results
	// and failures are reported by it, and retrying a failed event with the
	// same ID is safe. Publish generates a UUID when it is empty, and
	// writes it back into the slice it was given.
	ID string
	// Fields are the event's field values as plain Go values (string,
	// int64, float64, bool, nil, []byte; map[string]any for a record).
	// Union fields are wrapped for the encoder with the first non-null
	// branch the value fits; a value already in goavro's union form
	// (goavro.Union) is kept. A missing field takes its schema default.
	// CreatedDate and CreatedById, which Salesforce sets itself, are
	// filled in when missing.
	Fields map[string]any
}

// PublishResult is a published event: it is on the event bus at ReplayID.
type PublishResult struct {
	ID       string
	ReplayID []byte
}

// PublishError reports the events of a publish call that failed while
// others succeeded. Retrying just the failed events with the same IDs is
// safe: none of them is on the bus.
//
// Errors of events that could not be encoded, or that the server judged
// invalid, are permanent ([sfsync.KindPermanent]); others, such as an event
// the server returned no result for, are retryable. [sfsync.KindOf] of a
// PublishError is the kind of its first failed event in request order;
// errors.Is and errors.As search every failure.
type PublishError struct {
	// Failed maps the ID of each failed event to its error.
	Failed map[string]error
	// Succeeded lists the events that were published, in request order.
	Succeeded []PublishResult

	order []string // failed ids in request order
}

func (e *PublishError) ids() []string {
	if len(e.order) == len(e.Failed) {
		return e.order
	}
	ids := make([]string, 0, len(e.Failed))
	for id := range e.Failed {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

func (e *PublishError) Error() string {
	ids := e.ids()
	var b strings.Builder
	fmt.Fprintf(&b, "pubsub: %d of %d events not published:", len(ids), len(ids)+len(e.Succeeded))
	for i, id := range ids {
		if i == 5 {
			fmt.Fprintf(&b, " and %d more", len(ids)-i)
			break
		}
		fmt.Fprintf(&b, " %s (%v);", id, e.Failed[id])
	}
	return strings.TrimSuffix(b.String(), ";")
}

// Unwrap returns the errors of the failed events, in request order.
func (e *PublishError) Unwrap() []error {
	ids := e.ids()
	errs := make([]error, 0, len(ids))
	for _, id := range ids {
		errs = append(errs, e.Failed[id])
	}
	return errs
}

// FailedIDs returns the IDs of the failed events, in request order.
func (e *PublishError) FailedIDs() []string { return slices.Clone(e.ids()) }

// Publish publishes events to topic (such as "/event/Order__e") with the
// topic's current schema, in one Publish call, and returns the published
// events in request order.
//
// When some events fail, Publish returns the published ones and a
// *[PublishError] naming the failed IDs; an event that does not fit the
// schema fails alone and is never sent. Any other error means the call
// failed as a whole: its events may or may not be on the bus.
func (c *Client) Publish(ctx context.Context, topic string, events []PlatformEvent) ([]PublishResult, error) {
	if len(events) == 0 {
		return nil, nil
	}
	enc, err := c.publishEncoder(ctx, topic)
	if err != nil {
		return nil, err
	}
	b, err := enc.batch(events)
	if err != nil {
		return nil, err
	}
	if len(b.req.Events) == 0 {
		return b.finish(nil)
	}
	resp, err := c.api.Publish(ctx, b.req)
	if err != nil {
		return nil, callError("publish to "+topic, err)
	}
	return b.finish(resp)
}

// Publisher publishes to one topic over a PublishStream call, which saves
// a round trip per batch. Calls are serialised. A stream the server closed
// (it does after 70 s without a request) is reopened on the next call. It
// encodes with the topic's schema as of [Client.PublishStream].
type Publisher struct {
	client *Client
	enc    *publishEncoder

	mu     stdsync.Mutex // serialises Publish and Close
	ps     *pubStream
	closed bool
}

// pubStream is one PublishStream call and the goroutine reading it.
type pubStream struct {
	st     eventbus.PubSub_PublishStreamClient
	cancel context.CancelFunc
	resps  chan *eventbus.PublishResponse
	done   chan struct{} // closed when the reader ends; err is then set
	err    error
}

// PublishStream returns a publisher to topic. The stream opens on the
// first Publish; ctx bounds only the topic and schema lookups.
func (c *Client) PublishStream(ctx context.Context, topic string) (*Publisher, error) {
	enc, err := c.publishEncoder(ctx, topic)
	if err != nil {
		return nil, err
	}
	return &Publisher{client: c, enc: enc}, nil
}

// Publish publishes events like [Client.Publish], over the stream.
func (p *Publisher) Publish(ctx context.Context, events []PlatformEvent) ([]PublishResult, error) {
	if len(events) == 0 {
		return nil, nil
	}
	b, err := p.enc.batch(events)
	if err != nil {
		return nil, err
	}
	if len(b.req.Events) == 0 {
		return b.finish(nil)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, fmt.Errorf("pubsub: publisher to %s is closed: %w", p.enc.topic, sfsync.ErrClosed)
	}
	refreshed, reopened := false, false
	for {
		resp, sent, err := p.exchange(ctx, b)
		if err == nil {
			return b.finish(resp)
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("pubsub: publish to %s: %w", p.enc.topic, ctx.Err())
		}
		if status.Code(err) == codes.Unauthenticated && !refreshed {
			// Rejected credentials publish nothing: retry once with a
			// fresh token.
			refreshed = true
			if rerr := p.client.refresh(ctx); rerr != nil {
				return nil, errors.Join(callError("publish stream to "+p.enc.topic, err), rerr)
			}
			continue
		}
		if !sent && !reopened && errors.Is(err, errStreamEnded) {
			// The stream had ended before the request went out (an idle
			// stream the server closed): nothing was published.
			reopened = true
			continue
		}
		return nil, callError("publish stream to "+p.enc.topic, err)
	}
}

var errStreamEnded = status.Error(codes.Unavailable, "pubsub: the server closed the publish stream")

// exchange sends b's request and waits for its response. sent reports
// whether the request may have reached the server. A failed stream is
// dropped, so that the next call opens a new one.
func (p *Publisher) exchange(ctx context.Context, b *publishBatch) (resp *eventbus.PublishResponse, sent bool, err error) {
	if p.ps != nil {
		select {
		case <-p.ps.done:
			p.drop() // closed while idle
		default:
		}
	}
	if p.ps == nil {
		if err := p.open(ctx); err != nil {
			return nil, false, err
		}
	}
	ps := p.ps
	if err := ps.st.Send(b.req); err != nil {
		<-ps.done // a failed Send means the stream ended; the reader says how
		p.drop()
		return nil, false, ps.err
	}
	for {
		select {
		case r := <-ps.resps:
			if b.matches(r) {
				return r, true, nil
			}
			// A keepalive, or the late response of a call whose context
			// ended: not ours.
		case <-ps.done:
			// Responses read before the end are still delivered.
			select {
			case r := <-ps.resps:
				if b.matches(r) {
					return r, true, nil
				}
				continue
			default:
			}
			p.drop()
			return nil, true, ps.err
		case <-ctx.Done():
			// The response may still come: drop the stream, so that it is
			// never taken for the answer to a later call.
			p.drop()
			return nil, true, ctx.Err()
		}
	}
}

func (p *Publisher) open(ctx context.Context) error {
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	st, err := p.client.api.PublishStream(sctx)
	if err != nil {
		cancel()
		return err
	}
	ps := &pubStream{st: st, cancel: cancel, resps: make(chan *eventbus.PublishResponse, 16), done: make(chan struct{})}
	go func() {
		defer close(ps.done)
		for {
			r, err := st.Recv()
			if err != nil {
				if errors.Is(err, io.EOF) {
					err = errStreamEnded
				}
				ps.err = err
				return
			}
			select {
			case ps.resps <- r:
			case <-sctx.Done():
				ps.err = sctx.Err()
				return
			}
		}
	}()
	p.ps = ps
	return nil
}

// drop ends the current stream.
func (p *Publisher) drop() {
	if p.ps == nil {
		return
	}
	p.ps.cancel()
	<-p.ps.done
	p.ps = nil
}

// Close ends the stream. A Publish in progress finishes first.
func (p *Publisher) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	if p.ps != nil {
		_ = p.ps.st.CloseSend()
		p.drop()
	}
	return nil
}

// publishEncoder encodes events of one topic with one schema.
type publishEncoder struct {
	topic    string
	schemaID string
	codec    *goavro.Codec
	record   *avroType
}

func (c *Client) publishEncoder(ctx context.Context, topic string) (*publishEncoder, error) {
	info, err := c.GetTopic(ctx, topic)
	if err != nil {
		return nil, err
	}
	if info.SchemaID == "" {
		return nil, sfsync.Permanent(fmt.Errorf("pubsub: topic %s has no schema to publish with", topic))
	}
	if !info.CanPublish {
		return nil, sfsync.Permanent(fmt.Errorf("pubsub: the server does not allow publishing to %s", topic))
	}
	cs, err := c.decoder.schema(ctx, info.SchemaID)
	if err != nil {
		return nil, err
	}
	// The codec keeps the schema JSON it was compiled from: the union
	// branch names come from it.
	rec, err := parseAvroType(cs.codec.Schema())
	if err != nil {
		return nil, sfsync.Permanent(fmt.Errorf("pubsub: schema %s of %s: %w", info.SchemaID, topic, err))
	}
	if rec.kind != "record" {
		return nil, sfsync.Permanent(fmt.Errorf("pubsub: schema %s of %s is not a record", info.SchemaID, topic))
	}
	return &publishEncoder{topic: topic, schemaID: info.SchemaID, codec: cs.codec, record: rec}, nil
}

// publishBatch is one request and the bookkeeping to report on it.
type publishBatch struct {
	req    *eventbus.PublishRequest
	ids    []string         // every event's id, in request order
	failed map[string]error // events that failed before sending
	sent   map[string]bool
}

func (e *publishEncoder) batch(events []PlatformEvent) (*publishBatch, error) {
	b := &publishBatch{
		req:    &eventbus.PublishRequest{TopicName: e.topic},
		ids:    make([]string, len(events)),
		failed: map[string]error{},
		sent:   make(map[string]bool, len(events)),
	}
	seen := make(map[string]bool, len(events))
	for i := range events {
		if events[i].ID == "" {
			events[i].ID = newUUID()
		}
		id := events[i].ID
		if seen[id] {
			return nil, sfsync.Permanent(fmt.Errorf("pubsub: publish to %s: event id %q appears twice in one call", e.topic, id))
		}
		seen[id] = true
		b.ids[i] = id
		payload, err := e.encode(events[i].Fields)
		if err != nil {
			b.failed[id] = sfsync.Permanent(fmt.Errorf("pubsub: event %s does not fit schema %s of %s: %w", id, e.schemaID, e.topic, err))
			continue
		}
		b.req.Events = append(b.req.Events, &eventbus.ProducerEvent{Id: id, SchemaId: e.schemaID, Payload: payload})
		b.sent[id] = true
	}
	return b, nil
}

// matches reports whether resp answers b: it carries a result for one of
// b's events. Keepalives carry no results.
func (b *publishBatch) matches(resp *eventbus.PublishResponse) bool {
	for _, r := range resp.GetResults() {
		if b.sent[r.GetCorrelationKey()] {
			return true
		}
	}
	return false
}

// finish matches resp's results to the events by correlation key.
func (b *publishBatch) finish(resp *eventbus.PublishResponse) ([]PublishResult, error) {
	got := make(map[string]*eventbus.PublishResult, len(b.sent))
	for i, r := range resp.GetResults() {
		key := r.GetCorrelationKey()
		if key == "" && len(resp.GetResults()) == len(b.req.Events) {
			key = b.req.Events[i].GetId() // results come in request order
		}
		if b.sent[key] {
			got[key] = r
		}
	}
	pe := &PublishError{Failed: map[string]error{}}
	var ok []PublishResult
	for _, id := range b.ids {
		if err, bad := b.failed[id]; bad {
			pe.Failed[id], pe.order = err, append(pe.order, id)
			continue
		}
		r := got[id]
		switch {
		case r == nil:
			pe.Failed[id] = sfsync.Retryable(fmt.Errorf("pubsub: event %s: the server returned no result for it", id))
		case r.GetError() != nil:
			pe.Failed[id] = resultError(id, r.GetError())
		case len(r.GetReplayId()) == 0:
			pe.Failed[id] = sfsync.Retryable(fmt.Errorf("pubsub: event %s: the server returned no replay id for it", id))
		default:
			ok = append(ok, PublishResult{ID: id, ReplayID: slices.Clone(r.GetReplayId())})
			continue
		}
		pe.order = append(pe.order, id)
	}
	if len(pe.Failed) == 0 {
		return ok, nil
	}
	pe.Succeeded = ok
	return ok, pe
}

// resultError classifies the error of one event's result: a verdict on
// the event (schema, size, id) is permanent, anything else retryable.
func resultError(id string, e *eventbus.Error) error {
	err := fmt.Errorf("pubsub: event %s: %s: %s", id, e.GetCode(), e.GetMsg())
	msg := strings.ToLower(e.GetMsg())
	for _, verdict := range []string{"schema", "deserializ", "exceed", "invalid", "can't be blank", "not valid"} {
		if strings.Contains(msg, verdict) {
			return sfsync.Permanent(err)
		}
	}
	return sfsync.Retryable(err)
}

// newUUID returns a random (version 4) UUID.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
