package sync_test

import (
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/conflict"
	"github.com/sfsync/sfsync/sync/synctest"
)

// External wins. Salesforce's create was dead-lettered in the ERP, whose
// record then began with Salesforce's next edit alone (Salesforce had
// deleted the record by then): it never had the phone.
// Salesforce's delete loses, and its repair brings the record back to
// Salesforce from the ERP's record, which has no phone at all: the record
// brought back keeps Salesforce's own phone from before the delete, as an
// undelete would, where a create of only what the ERP holds emptied it.
// The dead letter, requeued, then takes the phone to the ERP (seen in the
// simulator, seed 90331).
func TestRecordBroughtBackKeepsAFieldTheWinnerNeverHad(t *testing.T) {
	b := newBidi(t)
	b.salesforceByRecord(synctest.WithFreshCreates())
	r, settled := b.startBoth(t, conflict.ExternalWins())
	b.ext.InjectFault(rejectedOnce())
	b.sf.Edit("Contact", "003A", map[string]any{"LastName": "n5", "Phone": "p7"}, at(2*time.Second))
	settled()
	dead := outcomes(t, b.store, sfsync.OutcomeQuery{Status: sfsync.StatusDeadLettered})
	// Salesforce deletes the record before the engine takes its edit: the
	// edit reaches the ERP alone, there is no record to take along.
	upd := b.sf.EditSilently("Contact", "003A", map[string]any{"Email": "e9"}, at(3*time.Second))
	del := b.sf.RemoveSilently("Contact", "003A", at(14*time.Second))
	b.sfLog.Append(upd, del)
	settled()
	if rec, ok := b.sf.Record("Contact", "003A"); !ok || rec.Deleted {
		t.Fatalf("Salesforce holds %+v (found %v), want the record brought back: the ERP wins", rec, ok)
	}
	if got := field(t, b.sf, "Contact", "003A", "Phone"); got != "p7" {
		logOutcomes(t, b)
		t.Errorf("the record brought back to Salesforce has Phone %v, want its own p7: the ERP never had a phone", got)
	}
	requeueTo(t, r, dead, erp)
	settled()
	b.bothHold(t, "Contact", "003A", "Phone", "p7", "Salesforce's: the ERP never set it")
}
