package sync_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/reconcile"
	sfsyncsync "github.com/sfsync/sfsync/sync"
	"github.com/sfsync/sfsync/sync/synctest"
)

// blockingReconciler stands for a long backfill: it does not finish before
// the engine is restarted (a deploy, a crash).
type blockingReconciler struct{ started chan struct{} }

func (b *blockingReconciler) Reconcile(ctx context.Context, scope sfsync.Scope, emit func(context.Context, sfsync.Change) error) error {
	select {
	case b.started <- struct{}{}:
	default:
	}
	<-ctx.Done()
	return ctx.Err()
}

// A backfill (after ErrPositionUnavailable or on first start) is owed
// durably: live events keep committing checkpoints while it runs, and an
// engine restarted before it finished runs it again, so the records that
// only the backfill carries are synced.
func TestBackfillInterruptedByRestartRunsAgain(t *testing.T) {
	b := newBidi(t)
	// Changed while the subscriber was away, beyond retention: only a
	// backfill can carry it.
	b.sf.EditSilently("Contact", "003A", map[string]any{"LastName": "Old"}, at(0))
	old := b.sfLog.Append(sfsync.Change{Source: sfsync.Salesforce, Tenant: org, Object: "Contact", RecordID: "003Z", Op: sfsync.OpUpdate, Key: "old", Version: at(-time.Hour)})
	if err := b.store.SaveCheckpoint(context.Background(), old); err != nil {
		t.Fatal(err)
	}

	// First run: the stored replay id is past retention -> backfill starts
	// and is slow; a live event is processed and checkpointed meanwhile.
	rec := &blockingReconciler{started: make(chan struct{}, 1)}
	src1 := b.sfLog.Source(synctest.PositionUnavailable())
	e1 := oneWay(t, b, src1, sfsyncsync.WithReconciler(rec), sfsyncsync.WithBackfill("Contact"))
	r1 := start(t, e1)
	<-rec.started
	b.sf.Edit("Contact", "003B", map[string]any{"LastName": "Live"}, at(time.Minute))
	settle(t, b.sfLog, src1)
	if err := r1.stop(t); err != nil { // restart (deploy) while the backfill runs
		t.Fatal(err)
	}

	// Second run, with a working reconciler.
	src2 := b.sfLog.Source()
	e2 := oneWay(t, b, src2, sfsyncsync.WithBackfill("Contact"),
		sfsyncsync.WithReconciler(reconcile.New(b.sf, reconcile.WithTenant(org), reconcile.WithLogger(quiet()))))
	r2 := start(t, e2)
	b.sf.Edit("Contact", "003C", map[string]any{"LastName": "Live2"}, at(2*time.Minute))
	settle(t, b.sfLog, src2)
	waitFor(t, func() bool {
		for _, o := range outcomes(t, b.store, sfsync.OutcomeQuery{Object: "Contact", Status: sfsync.StatusReconciled}) {
			if strings.HasPrefix(o.Key, "backfill:") {
				return true
			}
		}
		return false
	})
	r2.stop(t)
	if cp, err := b.store.LoadCheckpoint(context.Background(), "sfsync/backfill/Contact"); err != nil || sfsyncsync.BackfillPhaseOf(cp.Token) != sfsyncsync.PhaseDone {
		t.Errorf("after the backfill finished its record is %q (%v), want done", cp.Token, err)
	}

	if _, ok := b.ext.Record("Contact", "003C"); !ok {
		t.Fatal("second engine did not run")
	}
	if _, ok := b.ext.Record("Contact", "003A"); !ok {
		t.Errorf("003A (changed during the retention gap) never reached the external system: the interrupted backfill was forgotten")
	}
}
