package pgmirror

import (
	"bytes"
	"context"
	"testing"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/sync"
)

// plainSource is an event source that cannot pin its stream.
type plainSource struct{}

func (plainSource) Receive(ctx context.Context) ([]sfsync.Change, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

func (plainSource) Commit(context.Context, sfsync.Position) error { return nil }

// pinningSource is a subscription that pins its stream for a backfill.
type pinningSource struct {
	plainSource
	pos  sfsync.Position
	pins int
}

func (p *pinningSource) Pin(context.Context) (sfsync.Position, error) {
	p.pins++
	return p.pos, nil
}

// TestLearnIDsKeepsPin: the engine pins every source that can before a
// backfill queries Salesforce, so that no commit falls between the stream
// and the query. The subscription LearnIDs wraps must stay pinnable, and
// a source that cannot pin must not seem to.
func TestLearnIDsKeepsPin(t *testing.T) {
	m := &Mirror{}
	src := &pinningSource{pos: sfsync.Position{Stream: "/data/ContactChangeEvent", Token: []byte{0, 7}}}
	p, ok := m.LearnIDs(src).(sync.Pinner)
	if !ok {
		t.Fatal("LearnIDs hides the subscription's Pin: an engine with backfills would query Salesforce without pinning the stream")
	}
	got, err := p.Pin(t.Context())
	if err != nil || got.Stream != src.pos.Stream || !bytes.Equal(got.Token, src.pos.Token) || src.pins != 1 {
		t.Errorf("Pin through LearnIDs = %v, %v after %d pins of the subscription; want %v from one pin", got, err, src.pins, src.pos)
	}
	if _, ok := m.LearnIDs(plainSource{}).(sync.Pinner); ok {
		t.Error("LearnIDs of a source that cannot pin claims to pin")
	}
}
