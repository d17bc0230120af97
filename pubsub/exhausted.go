package pubsub

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// ErrMessageTooLarge is matched (errors.Is) by the error a subscription's
// Err reports while a single event, or a response the server sends for at
// most one event, exceeds the client's receive message size limit (see
// [WithMaxReceiveSize]). The subscription cannot read past it: it retries
// with backoff and delivers nothing after it, so nothing is skipped. The
// remedy is a client dialled with a larger limit; if the event stays
// unreadable for the 72 h retention, the stored replay id expires and the
// engine backfills ([ErrReplayUnavailable]).
var ErrMessageTooLarge = errors.New("pubsub: a response of at most one event exceeds the receive message size limit")

// ErrServerLimit is matched by the error a subscription's Err reports
// while the server refuses it for one of its limits: RESOURCE_EXHAUSTED,
// or an error-code such as
// sfdc.platform.eventbus.grpc.subscription.limit.exceeded (the org's event
// delivery allocation, counted over a rolling 24 h) or
// concurrent.client.limit.exceeded. Asking for fewer events does not help
// and reconnecting at once would hammer the service, so the subscription
// reconnects with its backoff; it resumes after the last event it
// received, so nothing is lost while the events stay within retention.
var ErrServerLimit = errors.New("pubsub: the server refuses the subscription for one of its limits")

// errBatchCut marks the end of a stream one of whose responses exceeded
// the receive limit, after the batch of the next stream was cut: the
// subscription reopens at once, since the next stream asks for less.
var errBatchCut = errors.New("pubsub: a response exceeded the receive message size limit; asking for fewer events at a time")

// isServerLimit reports whether a stream's end is the server refusing
// it for one of its limits. The spec names the error codes but not always
// the status, so either says so.
func isServerLimit(err error, code string) bool {
	if strings.HasSuffix(code, "limit.exceeded") || strings.Contains(code, ".service.protection.") {
		return true
	}
	return status.Code(err) == codes.ResourceExhausted && code != ""
}

// exhausted decides what a stream's end means when it is a resource
// limit, and records it for Err; other ends are returned unchanged.
//
// RESOURCE_EXHAUSTED without a Pub/Sub error-code comes from a gRPC
// library, not from the service: most often the client's own receive
// limit (grpc-go fails Recv with it before allocating the message, and
// ends the stream), or a proxy's or the server's send limit. Either way a
// response was too large, and it held at most the events the stream was
// owed: the next stream may be owed half as many, and after a full window
// of events has arrived at the cut batch, the full window again. A
// response of at most one event that does not fit cannot be made smaller:
// the subscription backs off and Err reports [ErrMessageTooLarge].
//
// A Pub/Sub error-code means the service's own limits: see
// [ErrServerLimit].
func (f *flow) exhausted(err error, trailer metadata.MD, log *slog.Logger, what string) error {
	code := errorCode(trailer)
	if isServerLimit(err, code) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.trouble = fmt.Errorf("%w: %s: %s (error-code %s); reconnecting with backoff and resuming after the last event received",
			ErrServerLimit, what, status.Convert(err).Message(), code)
		return fmt.Errorf("%w: %w", ErrServerLimit, err)
	}
	if status.Code(err) != codes.ResourceExhausted {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	held := min(f.batch, f.pending)
	f.sinceCut = 0
	if held > 1 {
		f.batch = held / 2
		log.Warn("pubsub: a response exceeded the receive message size limit; reopening the stream asking for fewer events at a time",
			"stream", what, "limit", f.limit, "owed", held, "batch", f.batch, "err", err)
		return fmt.Errorf("%w (it held at most %d events): %w", errBatchCut, held, err)
	}
	f.batch = 1
	f.trouble = fmt.Errorf("%w: %s: a response of at most one event exceeds the limit of %d bytes (%s); nothing past it is delivered until a client dialled with a larger pubsub.WithMaxReceiveSize reads it",
		ErrMessageTooLarge, what, f.limit, status.Convert(err).Message())
	return fmt.Errorf("%w: %w", ErrMessageTooLarge, err)
}

// err is the lasting failure the subscription reports through Err.
func (f *flow) err() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.trouble
}
