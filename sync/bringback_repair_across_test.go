package sync_test

import (
	"context"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/conflict"
	"github.com/sfsync/sfsync/sync/synctest"
)

// Under last write wins, Salesforce edits the email at 6 s and deletes the
// record at 11 s; neither event has reached the engine when the ERP's
// older edit of the email (2.5 s) meets the tombstone and loses to the
// delete. Its repair, a delete, is rejected for now, and so is the ERP's
// rename at 18.5 s, newer than the delete, which would bring the record
// back in Salesforce. Salesforce's events then come: the edit is stale
// against its own delete (its value stays in the tombstone), and the
// delete loses to the ERP's record. The repair that brings the record
// back in Salesforce keeps Salesforce's email there: it is newer than the
// ERP's, which lost only to the delete. The ERP must get it too. Neither
// the ERP's losing edit's repair (a delete, which carries no value) nor
// Salesforce's edit (decided already) takes it there, and a repair was
// not repaired in turn: the two systems parted on the email (seed 3424).
func TestRecordBroughtBackByARepairTakesTheTargetsWinningValueToTheSource(t *testing.T) {
	b := newBidi(t)
	sfAt := sfCommits(100)
	b.salesforceByRecord(synctest.WithWriteClock(func() sfsync.Version { return sfAt(17 * time.Second) }))
	r, settled := b.startBoth(t, conflict.LastWriteWins())
	b.sf.Edit("Contact", "003A", map[string]any{"LastName": "n1", "Email": "e2", "Phone": "p3"}, sfAt(0))
	settled()

	sfEdit := b.sf.EditSilently("Contact", "003A", map[string]any{"Email": "e31"}, sfAt(6*time.Second))
	sfDelete := b.sf.RemoveSilently("Contact", "003A", sfAt(11*time.Second))
	b.ext.InjectFault(rejectedOnce())
	b.ext.Edit("Contact", "003A", map[string]any{"Email": "e6"}, at(2500*time.Millisecond))
	settled()
	b.sf.InjectFault(rejectedOnce())
	b.ext.Edit("Contact", "003A", map[string]any{"LastName": "n39"}, at(18500*time.Millisecond))
	settled()
	dead := outcomes(t, b.store, sfsync.OutcomeQuery{Status: sfsync.StatusDeadLettered})
	if len(dead) != 2 {
		logOutcomes(t, b)
		t.Fatalf("dead letters %+v, want the repair deleting the ERP's record and the ERP's rename", dead)
	}

	b.sfLog.Append(sfEdit)
	b.sfLog.Append(sfDelete)
	settled()
	for _, d := range dead {
		if _, err := r.e.Requeue(context.Background(), d.Key); err != nil {
			t.Fatal(err)
		}
		settled()
	}
	r.stop(t)
	logOutcomes(t, b)
	b.bothHold(t, "Contact", "003A", "Email", "e31", "Salesforce's email (6 s) is newer than the ERP's (2.5 s), which lost only to the delete")
	b.bothHold(t, "Contact", "003A", "LastName", "n39", "the ERP's rename (18.5 s) is newer than the delete (11 s)")
}
