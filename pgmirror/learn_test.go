package pgmirror

import (
	"bytes"
	"context"
	"slices"
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

// TestResumeMarksCheckpointedRowsDone: an engine that stored its
// checkpoint and died before committing the position to the source
// resumes from the checkpoint. The rows up to it have their outcomes, so
// the outbox must say done, not pending forever (nothing later may ever
// commit past them), and the consumer's position must catch up.
func TestResumeMarksCheckpointedRowsDone(t *testing.T) {
	m := openMirror(t)
	q, _ := m.Table("person")
	conn := connect(t)
	mustExec(t, conn, `INSERT INTO `+q+` (external_id__c, name) VALUES ('P-1', 'Ada')`)
	cps := &memCheckpoints{}
	first := m.Source()
	if err := first.Resume(t.Context(), cps); err != nil {
		t.Fatal(err)
	}
	got := receiveN(t, first, 1)
	// The engine stores the position with the outcome, then dies before
	// it calls Commit.
	if err := cps.SaveCheckpoint(t.Context(), got[0].Position); err != nil {
		t.Fatal(err)
	}
	first.Close()
	if st := outboxStates(t, m, "P-1"); !slices.Equal(st, []string{"pending"}) {
		t.Fatalf("outbox after the read: %v, want [pending]", st)
	}
	second := m.Source()
	t.Cleanup(func() { second.Close() })
	if err := second.Resume(t.Context(), cps); err != nil {
		t.Fatal(err)
	}
	if st := outboxStates(t, m, "P-1"); !slices.Equal(st, []string{"done"}) {
		t.Errorf("outbox after resuming from the engine's checkpoint: %v, want [done]", st)
	}
	var last int64
	if err := m.Pool().QueryRow(t.Context(), `SELECT last_id FROM `+ident(m.Schema())+`.sfsync_consumers WHERE name = $1`, DefaultConsumer).Scan(&last); err != nil {
		t.Errorf("the consumer's position after resuming: %v", err)
	}
}
