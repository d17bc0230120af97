package pubsub

import (
	"context"
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

// decodeEvent decodes ev, delivered on stream, retrying a schema fetch that
// failed transiently: the event has been taken from the stream and must not
// be dropped.
func (c *Client) decodeEvent(ctx context.Context, stream string, ev *eventbus.ConsumerEvent, newBackOff func() backoff.BackOff, log *slog.Logger) ([]sfsync.Change, error) {
	e := Event{Topic: stream, ID: ev.GetEvent().GetId(), SchemaID: ev.GetEvent().GetSchemaId(), Payload: ev.GetEvent().GetPayload(), ReplayID: ev.GetReplayId()}
	b := backoff.WithContext(newBackOff(), ctx)
	for {
		changes, err := c.decoder.Decode(ctx, e)
		if err == nil {
			return c.attribute(ctx, changes), nil
		}
		wait := b.NextBackOff()
		if wait == backoff.Stop || ctx.Err() != nil {
			return nil, fmt.Errorf("pubsub: decode event of %s: %w", stream, err)
		}
		log.Warn("pubsub: fetching an event's schema failed; retrying", "stream", stream, "schema", e.SchemaID, "err", err, "in", wait)
		if !sleepCtx(ctx, wait) {
			return nil, ctx.Err()
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
