package sync_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/conflict"
	"github.com/sfsync/sfsync/sync/synctest"
)

// ownedPhoneSynced starts an engine under field ownership (the ERP owns
// Phone; Salesforce wins the rest) on a record Salesforce made (at 0s),
// both systems holding it, with the ERP's Phone (erpPhone, at 4s) unless
// that is nil.
func ownedPhoneSynced(t *testing.T, erpPhone any) (*bidi, *running, func()) {
	t.Helper()
	b := newBidi(t)
	policy := conflict.FieldOwnership(conflict.Owners{"Phone": erp}, conflict.SalesforceWins())
	r, settled := b.startBoth(t, policy)
	b.sf.Edit("Contact", "003A", map[string]any{"LastName": "n", "Phone": "p0"}, at(0))
	settled()
	if erpPhone != nil {
		b.ext.Edit("Contact", "003A", map[string]any{"Phone": erpPhone}, at(4*time.Second))
		settled()
	}
	return b, r, settled
}

// ownersFieldLostInSalesforce starts an engine under field ownership (the
// ERP owns Phone; Salesforce wins the rest) on a record both systems hold,
// whose Phone the ERP set; then Salesforce edits Phone anyway, loses, and
// the repair that writes the ERP's value back is rejected for now (a dead
// letter), so Salesforce still holds its losing value.
func ownersFieldLostInSalesforce(t *testing.T) (*bidi, *running, func()) {
	t.Helper()
	b, r, settled := ownedPhoneSynced(t, "erp4")
	b.sf.InjectFault(synctest.Fault{Err: sfsync.Permanent(errors.New("validation rule"))})
	b.sf.Edit("Contact", "003A", map[string]any{"Phone": "sf8"}, at(8*time.Second))
	settled()
	return b, r, settled
}

// requeueTo requeues the dead letters of changes written to dest.
func requeueTo(t *testing.T, r *running, dead []sfsync.Outcome, dest sfsync.System) {
	t.Helper()
	for _, d := range dead {
		if d.Destination != dest {
			continue
		}
		if _, err := r.e.Requeue(context.Background(), d.Key); err != nil {
			t.Fatal(err)
		}
	}
}

// The ERP owns Phone, and Salesforce's losing edit of it is not repaired
// yet (ownersFieldLostInSalesforce). Then the ERP deletes the record, and
// the delete loses to Salesforce (the fallback policy): the record brought
// back in the ERP must keep the ERP's own Phone from its tombstone, not
// take Salesforce's value, which lost. Requeued, the repair brings
// Salesforce to the owner's value.
func TestRecordBroughtBackKeepsTheOwnersValueOverALosingOne(t *testing.T) {
	b, r, settled := ownersFieldLostInSalesforce(t)
	dead := outcomes(t, b.store, sfsync.OutcomeQuery{Status: sfsync.StatusDeadLettered})
	if len(dead) != 1 {
		logOutcomes(t, b)
		t.Fatalf("dead letters %+v, want the repair of Salesforce's losing edit", dead)
	}

	deleted := b.ext.RemoveSilently("Contact", "003A", at(12*time.Second))
	b.extLog.Append(deleted)
	settled()
	if got := field(t, b.ext, "Contact", "003A", "Phone"); got != "erp4" {
		logOutcomes(t, b)
		t.Errorf("the record brought back in the ERP holds Phone=%v, want erp4: the ERP owns it, and Salesforce's sf8 lost", got)
	}

	requeueTo(t, r, dead, sfsync.Salesforce)
	settled()
	r.stop(t)
	b.bothHold(t, "Contact", "003A", "Phone", "erp4", "the owner's value")
}

// As above, but the record brought back is not written yet (its write is
// rejected for now) when the repair of Salesforce's losing edit is
// requeued: the ERP's delete lost, so it does not make the owner's value
// that the repair carries stale, and Salesforce gets it.
func TestRepairOfTheOwnersValueOutlivesTheOwnersLostDelete(t *testing.T) {
	b, r, settled := ownersFieldLostInSalesforce(t)
	b.ext.InjectFault(synctest.Fault{Err: sfsync.Permanent(errors.New("validation rule"))})
	deleted := b.ext.RemoveSilently("Contact", "003A", at(12*time.Second))
	b.extLog.Append(deleted)
	settled()
	dead := outcomes(t, b.store, sfsync.OutcomeQuery{Status: sfsync.StatusDeadLettered})
	if len(dead) != 2 {
		logOutcomes(t, b)
		t.Fatalf("dead letters %+v, want the repair of Salesforce's losing edit and the record brought back", dead)
	}
	requeueTo(t, r, dead, sfsync.Salesforce)
	settled()
	if got := field(t, b.sf, "Contact", "003A", "Phone"); got != "erp4" {
		logOutcomes(t, b)
		t.Errorf("Salesforce holds Phone=%v after the repair's requeue, want erp4: the ERP owns it, and its delete lost", got)
	}
	requeueTo(t, r, dead, erp)
	settled()
	r.stop(t)
	b.bothHold(t, "Contact", "003A", "Phone", "erp4", "the owner's value")
}
