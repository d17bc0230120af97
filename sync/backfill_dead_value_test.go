package sync_test

import (
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/conflict"
	"github.com/sfsync/sfsync/reconcile"
	sfsyncsync "github.com/sfsync/sfsync/sync"
	"github.com/sfsync/sfsync/sync/synctest"
)

// Last write wins. Salesforce's edit of the email (5 s) was dead-lettered
// in the ERP, whose own edit of it (5.5 s) is newer; then the engine was
// away past retention while Salesforce renamed the contact (9 s). The
// backfill's row carries Salesforce's email at the record's 9 s, but the
// map knows that value: the dead-lettered edit's data, of 5 s. Dated at
// the row's version it beat the ERP's newer edit, and both systems ended
// with Salesforce's older email (seen in the simulator, seed 89768).
func TestBackfillRowCarryingADeadLettersValueIsDatedAtIt(t *testing.T) {
	policy := conflict.LastWriteWins()
	b := newBidi(t)
	b.salesforceByRecord()
	r, settled := b.startBoth(t, policy)
	b.sf.Edit("Contact", "003A", map[string]any{"LastName": "N0", "Email": "e0"}, at(0))
	settled()
	b.ext.InjectFault(rejectedOnce())
	b.sf.Edit("Contact", "003A", map[string]any{"Email": "sf5"}, at(5*time.Second))
	settled()
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	dead := outcomes(t, b.store, sfsync.OutcomeQuery{Status: sfsync.StatusDeadLettered})
	if len(dead) != 1 {
		logOutcomes(t, b)
		t.Fatalf("%d dead letters, want Salesforce's email edit's", len(dead))
	}
	erpEdit := b.ext.EditSilently("Contact", "003A", map[string]any{"Email": "erp5.5"}, at(5500*time.Millisecond))
	// Away past retention: the rename's event expires unread.
	b.sf.EditSilently("Contact", "003A", map[string]any{"LastName": "N9"}, at(9*time.Second))

	sfSrc, extSrc := b.sfLog.Source(synctest.PositionUnavailable()), b.extLog.Source()
	r, _ = b.comeBack(t, policy, sfSrc, extSrc, sfsyncsync.WithReconciler(reconcile.New(b.sf, reconcile.WithTenant(org), reconcile.WithLogger(quiet()))))
	waitFor(t, b.contactsBackfilled)
	settle(t, b.sfLog, sfSrc, b.extLog, extSrc)
	b.extLog.Append(erpEdit)
	settle(t, b.sfLog, sfSrc, b.extLog, extSrc)
	requeueTo(t, r, dead, erp)
	settle(t, b.sfLog, sfSrc, b.extLog, extSrc)
	if t.Failed() || field(t, b.ext, "Contact", "003A", "Email") != "erp5.5" {
		logOutcomes(t, b)
	}
	b.bothHold(t, "Contact", "003A", "Email", "erp5.5", "the ERP's edit of 5.5 s is newer than Salesforce's of 5 s")
	b.bothHold(t, "Contact", "003A", "LastName", "N9", "Salesforce's rename")
}
