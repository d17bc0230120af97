package sync_test

import (
	"errors"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/conflict"
	"github.com/sfsync/sfsync/reconcile"
	sfsyncsync "github.com/sfsync/sfsync/sync"
	"github.com/sfsync/sfsync/sync/synctest"
)

// A backfill's row carries a value Salesforce set while its events were
// lost past retention, and its write to the ERP is rejected: a dead
// letter. A later backfill delivers the same row again (a crash cut the
// first one short, or another outage). The dead letter's value is not
// synced data: the ERP never took it, so the row still carries news and
// writes it. Taken as synced, the row was a no-op, and the dead letter,
// requeued, a duplicate of it: the value never reached the ERP (the
// simulator's seed 76638).
func TestBackfillRowDeliveredAgainAfterItsDeadLetterWritesItsValue(t *testing.T) {
	policy := conflict.SalesforceWins()
	b := syncedThenStopped(t, policy)
	// Away past retention: Salesforce changes the phone at 8s (its event
	// expires unread).
	b.sf.EditSilently("Contact", "003A", map[string]any{"Phone": "p8"}, at(8*time.Second))
	backfill := func(done func() bool) *running {
		t.Helper()
		sfSrc, extSrc := b.sfLog.Source(synctest.PositionUnavailable()), b.extLog.Source()
		r, _ := b.comeBack(t, policy, sfSrc, extSrc, sfsyncsync.WithReconciler(reconcile.New(b.sf, reconcile.WithTenant(org), reconcile.WithLogger(quiet()))))
		waitFor(t, done)
		settle(t, b.sfLog, sfSrc, b.extLog, extSrc)
		return r
	}
	b.ext.InjectFault(synctest.Fault{Err: sfsync.Permanent(errors.New("validation rule"))})
	r := backfill(b.contactsBackfilled)
	r.stop(t)
	dead := outcomes(t, b.store, sfsync.OutcomeQuery{Status: sfsync.StatusDeadLettered})
	if len(dead) != 1 {
		logOutcomes(t, b)
		t.Fatalf("%d dead letters, want the row's", len(dead))
	}
	// The engine comes back past retention again: the row, unchanged, is
	// delivered again under its key.
	r = backfill(func() bool { return len(outcomes(t, b.store, sfsync.OutcomeQuery{Key: dead[0].Key})) > 1 })
	requeueTo(t, r, dead, erp)
	r.stop(t)
	if t.Failed() || field(t, b.ext, "Contact", "003A", "Phone") != "p8" {
		logOutcomes(t, b)
	}
	b.bothHold(t, "Contact", "003A", "Phone", "p8", "Salesforce changed the phone at 8s, and Salesforce wins")
}
