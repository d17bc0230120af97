package sync_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/store/memory"
	sfsyncsync "github.com/sfsync/sfsync/sync"
	"github.com/sfsync/sfsync/sync/synctest"
)

var errGrant = errors.New("invalid_grant: expired authorization")

// lockedOut is a sink whose credentials were rejected for good.
type lockedOut struct{ *synctest.System }

func (lockedOut) Err() error { return errGrant }

// A backfill that fails shows in the ledger and in the engine's health, and
// so does a sink's lasting failure; neither is only a log line.
func TestHealthShowsFailingBackfillsAndSinks(t *testing.T) {
	b := newBidi(t)
	src := b.sfLog.Source()
	e := oneWay(t, b, src, sfsyncsync.WithReconciler(failingReconciler{}), sfsyncsync.WithBackfill("Contact"),
		sfsyncsync.WithRoute(sfsyncsync.Route{From: sfsync.Salesforce, Sink: lockedOut{b.ext}}))
	start(t, e)
	waitFor(t, func() bool {
		return len(outcomes(t, b.store, sfsync.OutcomeQuery{Status: sfsync.StatusRetrying})) > 0
	})
	o := outcomes(t, b.store, sfsync.OutcomeQuery{Status: sfsync.StatusRetrying})[0]
	if o.Object != "Contact" || !strings.Contains(o.Reason, "API limit reached") {
		t.Errorf("ledger entry of the failed backfill: %+v", o)
	}
	waitFor(t, func() bool { return e.Health() != nil && strings.Contains(e.Health().Error(), "backfill of Contact") })
	if err := e.Health(); !errors.Is(err, errGrant) {
		t.Errorf("Health = %v, want it to carry the sink's credential failure", err)
	}
	if cp, err := b.store.LoadCheckpoint(context.Background(), "sfsync/backfill/Contact"); err != nil || sfsyncsync.BackfillPhaseOf(cp.Token) == sfsyncsync.PhaseDone {
		t.Errorf("a failing backfill must stay owed; its record is %q (%v)", cp.Token, err)
	}
}

// The engine reports the lease it holds, and Done closes when Run returns.
func TestLeaseAndDone(t *testing.T) {
	b := newBidi(t)
	store := memory.New()
	b.store = store
	src := b.sfLog.Source()
	e := oneWay(t, b, src, sfsyncsync.WithLease(store, "contacts", "a", time.Hour))
	if _, held := e.Lease(); held {
		t.Fatal("a lease before Run")
	}
	r := start(t, e)
	b.sf.Edit("Contact", "003A", map[string]any{"Phone": "1"}, at(0))
	settle(t, b.sfLog, src)
	l, held := e.Lease()
	if !held || l.Holder != "a" || l.Token == 0 {
		t.Errorf("Lease() = %+v, %v; want holder a with a fencing token", l, held)
	}
	select {
	case <-e.Done():
		t.Fatal("Done closed while running")
	default:
	}
	r.stop(t)
	<-e.Done()
}
