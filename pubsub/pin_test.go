package pubsub_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/pubsub"
	"github.com/sfsync/sfsync/pubsub/pubsubtest"
	"github.com/sfsync/sfsync/store/memory"
	"github.com/sfsync/sfsync/sync"
)

var _ sync.Pinner = (*pubsub.Subscription)(nil)

// Without a stored replay id, a subscription starting at the tip pins at
// the first keepalive the server sends: events published after it are
// delivered. With a stored one it pins at once, at that id.
func TestPinWaitsForTheFirstKeepalive(t *testing.T) {
	e := newEnv(t, nil, pubsubtest.WithKeepalive(20*time.Millisecond))
	ids := e.appendUpdates(t, 0, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	sub := e.client.Subscribe(topic, pubsub.WithFallback(pubsub.ReplayLatest), fastRetry())
	defer sub.Close()
	pos, err := sub.Pin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if pos.Stream != topic || !bytes.Equal(pos.Token, ids[2]) {
		t.Errorf("pinned %s at %x, want %s at the latest replay id %x", pos.Stream, pos.Token, topic, ids[2])
	}
	after := e.appendUpdates(t, 3, 1)
	// Receive hands over the keepalive first, then the event published
	// after the pin.
	var got []byte
	for got == nil {
		changes, err := sub.Receive(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if changes[0].Op != sfsync.OpAdvance {
			got = changes[0].Position.Token
		}
	}
	if !bytes.Equal(got, after[0]) {
		t.Errorf("first event after the pin %x, want %x", got, after[0])
	}

	store := memory.New()
	if err := store.SaveCheckpoint(ctx, sfsync.Position{Stream: topic, Token: ids[1]}); err != nil {
		t.Fatal(err)
	}
	resumed := e.client.Subscribe(topic, pubsub.WithFallback(pubsub.ReplayLatest), fastRetry())
	defer resumed.Close()
	if err := resumed.Resume(ctx, store); err != nil {
		t.Fatal(err)
	}
	// At once: at the stored id, or past it when events after it were
	// received meanwhile.
	if pos, err := resumed.Pin(ctx); err != nil || bytes.Compare(pos.Token, ids[1]) < 0 {
		t.Errorf("a resumed subscription pinned at %x (%v), want its stored id %x or later", pos.Token, err, ids[1])
	}
}

var _ sync.GapFree = (*pubsub.Subscription)(nil)

// A subscription that starts from its fallback delivers every commit from
// its first event on: GapFreeSince is that event's commit time. One that
// resumed from a stored replay id began its stream in an earlier process
// and cannot say; one whose stored id expired starts whole again.
func TestGapFreeSinceIsTheFirstEventAfterTheFallback(t *testing.T) {
	commit := time.UnixMilli(1714156703000).UTC()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	e := newEnv(t, nil)
	ids := e.appendUpdates(t, 0, 3)
	fresh := e.client.Subscribe(topic, fastRetry())
	defer fresh.Close()
	if _, ok := fresh.GapFreeSince(); ok {
		t.Error("GapFreeSince known before any event arrived")
	}
	if _, err := fresh.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	if got, ok := fresh.GapFreeSince(); !ok || !got.Equal(commit) {
		t.Errorf("GapFreeSince after the first event = %v, %v; want %v", got, ok, commit)
	}

	store := memory.New()
	if err := store.SaveCheckpoint(ctx, sfsync.Position{Stream: topic, Token: ids[0]}); err != nil {
		t.Fatal(err)
	}
	resumed := e.client.Subscribe(topic, fastRetry())
	defer resumed.Close()
	if err := resumed.Resume(ctx, store); err != nil {
		t.Fatal(err)
	}
	if _, err := resumed.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	if got, ok := resumed.GapFreeSince(); ok {
		t.Errorf("a resumed subscription reports GapFreeSince %v", got)
	}

	clk := &clock{now: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}
	expired := newEnv(t, nil, pubsubtest.WithClock(clk.Now))
	old := expired.appendUpdates(t, 0, 2)
	clk.Advance(73 * time.Hour)
	if err := store.SaveCheckpoint(ctx, sfsync.Position{Stream: topic, Token: old[0]}); err != nil {
		t.Fatal(err)
	}
	lost := expired.client.Subscribe(topic, fastRetry())
	defer lost.Close()
	if err := lost.Resume(ctx, store); err != nil {
		t.Fatal(err)
	}
	if _, err := lost.Receive(ctx); !errors.Is(err, sfsync.ErrPositionUnavailable) {
		t.Fatalf("Receive after retention = %v, want ErrPositionUnavailable", err)
	}
	if got, ok := lost.GapFreeSince(); ok {
		t.Errorf("GapFreeSince %v right after the stored id expired", got)
	}
	expired.appendUpdates(t, 2, 1)
	if _, err := lost.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	if got, ok := lost.GapFreeSince(); !ok || !got.Equal(commit) {
		t.Errorf("GapFreeSince after the fallback's first event = %v, %v; want %v", got, ok, commit)
	}
}
