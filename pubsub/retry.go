package pubsub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/cenkalti/backoff/v4"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/internal/eventbus"
)

// schemaNotFoundAttempts bounds the fetches of a schema the server says it
// does not know: one just created may still be propagating, but a schema
// id that stays unknown will not decode, and the events behind it wait.
const schemaNotFoundAttempts = 5

// decodeEvent decodes ev, delivered on stream. The caller keeps ev first
// in line until this returns changes: a schema fetch that fails
// transiently is retried with backoff, and when the backoff gives up the
// error is returned for the caller to try the same event again later. An
// event that will never decode (see [Decoder.Decode]), or whose schema
// stays unknown, becomes an [sfsync.OpUndecodable] change in its place.
func (c *Client) decodeEvent(ctx context.Context, stream string, ev *eventbus.ConsumerEvent, newBackOff func() backoff.BackOff, log *slog.Logger) ([]sfsync.Change, error) {
	e := Event{Topic: stream, ID: ev.GetEvent().GetId(), SchemaID: ev.GetEvent().GetSchemaId(), Payload: ev.GetEvent().GetPayload(), ReplayID: ev.GetReplayId()}
	// The retry policy is made at the first failure, as the engine's are:
	// almost every event decodes at once, and making one costs
	// allocations on every event.
	var b backoff.BackOff
	for attempt := 1; ; attempt++ {
		changes, err := c.decoder.Decode(ctx, e)
		if err == nil {
			return c.attribute(ctx, changes), nil
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("pubsub: decode the event at replay id %x of %s: %w", e.ReplayID, stream, ctx.Err())
		}
		if b == nil {
			b = backoff.WithContext(newBackOff(), ctx)
		}
		wait := b.NextBackOff()
		if errors.Is(err, ErrSchemaNotFound) && (wait == backoff.Stop || attempt >= schemaNotFoundAttempts) {
			log.Error("pubsub: an event's schema is unknown to the server; handing the event over as undecodable",
				"stream", stream, "schema", e.SchemaID, "replay_id", fmt.Sprintf("%x", e.ReplayID), "attempts", attempt, "err", err)
			return c.attribute(ctx, []sfsync.Change{c.decoder.Undecodable(e, err)}), nil
		}
		if wait == backoff.Stop {
			return nil, sfsync.Retryable(fmt.Errorf("pubsub: decode the event at replay id %x of %s: its schema %s could not be fetched after %d attempts; the event stays first in line and the next Receive tries it again: %w",
				e.ReplayID, stream, e.SchemaID, attempt, err))
		}
		log.Warn("pubsub: fetching an event's schema failed; retrying", "stream", stream, "schema", e.SchemaID, "err", err, "in", wait)
		if !sleepCtx(ctx, wait) {
			return nil, fmt.Errorf("pubsub: decode the event at replay id %x of %s: %w", e.ReplayID, stream, ctx.Err())
		}
	}
}

// keepOpen runs stream until ctx ends, opening it again each time it ends.
// A stream rejected as UNAUTHENTICATED is reopened at once after one token
// refresh. Otherwise onEnd sees the error first and may ask for an
// immediate reopen; if not, the next attempt waits a jittered backoff,
// which any delivered event resets.
func (c *Client) keepOpen(ctx context.Context, b backoff.BackOff, rng *rand.Rand, log *slog.Logger, what string,
	stream func(ctx context.Context, reconnect bool) (delivered bool, err error), onEnd func(err error) (now bool)) {
	refreshed := false
	for attempt := 0; ; attempt++ {
		delivered, err := stream(ctx, attempt > 0)
		if ctx.Err() != nil {
			return
		}
		if delivered {
			b.Reset()
			refreshed = false
		}
		if status.Code(err) == codes.Unauthenticated && !refreshed {
			// One immediate retry with a fresh token; a second rejection
			// backs off like any failure.
			refreshed = true
			if rerr := c.refresh(ctx); rerr != nil {
				log.Warn("pubsub: token refresh failed", "stream", what, "err", rerr)
			}
			continue
		}
		now := onEnd(err)
		if ctx.Err() != nil {
			return
		}
		if now {
			continue
		}
		wait := reconnectDelay(b, rng)
		log.Warn("pubsub: stream ended; reconnecting", "stream", what, "err", err, "in", wait)
		if !sleepCtx(ctx, wait) {
			return
		}
	}
}

// reconnectDelay is the wait before reopening a stream: the backoff's next
// interval (a minute once it gives up) with full jitter on top, so that
// clients reconnecting after one outage spread out.
func reconnectDelay(b backoff.BackOff, rng *rand.Rand) time.Duration {
	wait := b.NextBackOff()
	if wait == backoff.Stop {
		wait = time.Minute
	}
	return wait/2 + time.Duration(rng.Int64N(int64(wait/2)+1))
}

// sleepCtx waits d and reports false when ctx ended first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// stopContext returns a context that ends when stop is closed.
func stopContext(stop <-chan struct{}) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		select {
		case <-stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}
