package sync_test

import (
	"context"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/conflict"
	sfsyncsync "github.com/sfsync/sfsync/sync"
)

// A delivery of one OpAdvance change moves the checkpoint without an
// outcome or a write.
func TestAdvanceMovesTheCheckpointOnly(t *testing.T) {
	b := newBidi(t)
	b.sf.Edit("Contact", "C-1", map[string]any{"Email": "a@example.com"}, at(0))
	last := b.sfLog.Append(sfsync.Change{Source: sfsync.Salesforce, Object: "/data/ContactChangeEvent", Op: sfsync.OpAdvance})
	src := b.sfLog.Source()
	e, err := sfsyncsync.New(src, nil, b.options(conflict.SalesforceWins())...)
	if err != nil {
		t.Fatal(err)
	}
	start(t, e)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := src.WaitCommitted(ctx, b.sfLog.Len()); err != nil {
		t.Fatal(err)
	}
	cp, err := b.store.LoadCheckpoint(ctx, b.sfLog.Stream())
	if err != nil || string(cp.Token) != string(last.Token) {
		t.Fatalf("checkpoint %x (%v), want the advance's position %x", cp.Token, err, last.Token)
	}
	if n := len(outcomes(t, b.store, sfsync.OutcomeQuery{})); n != 1 {
		t.Errorf("%d outcomes, want 1 (none for the advance)", n)
	}
	if changes, _ := b.ext.Writes(); changes != 1 {
		t.Errorf("%d writes, want 1", changes)
	}
}
