package sync_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/sfsync/sfsync"
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
	if cp, err := b.store.LoadCheckpoint(context.Background(), "sfsync/backfill/Contact"); err != nil || !strings.HasPrefix(string(cp.Token), "owed:") {
		t.Errorf("a failing backfill must stay owed; its record is %q (%v)", cp.Token, err)
	}
}
