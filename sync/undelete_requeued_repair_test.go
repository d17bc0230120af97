package sync_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/conflict"
	"github.com/sfsync/sfsync/sync/synctest"
)

// The ERP makes a record with the email e1 (synced to Salesforce), then
// changes the email to e2 at 5 s; Salesforce deletes the record at 10 s,
// before the ERP's edit is decided, which then loses to the delete.
// Salesforce restores the record at 15 s: the ERP's email, which lost only
// to the delete, stands, and the undelete's repair takes it to Salesforce;
// Salesforce rejects that write for now (a dead letter). Requeued, the
// repair carries the ERP's e2, never applied, while Salesforce holds the
// ERP's e1, applied at 1 s: the repair was taken for stale against that
// older data, as if the ERP's newer applied data had replaced its value,
// and Salesforce kept e1 while the ERP held e2 (seed 3561).
func TestRequeuedUndeleteRepairTakesTheEditThatLostOnlyToTheDelete(t *testing.T) {
	b := newBidi(t)
	b.salesforceByRecord()
	r, settled := b.startBoth(t, conflict.LastWriteWins())
	b.ext.Edit("Contact", "003A", map[string]any{"LastName": "N", "Email": "e1"}, at(time.Second))
	settled()
	if got := field(t, b.sf, "Contact", "003A", "Email"); got != "e1" {
		logOutcomes(t, b)
		t.Fatalf("Salesforce's email = %v after the ERP's create, want e1", got)
	}

	late := b.ext.EditSilently("Contact", "003A", map[string]any{"Email": "e2"}, at(5*time.Second))
	b.sf.Remove("Contact", "003A", at(10*time.Second))
	settled()
	b.extLog.Append(late)
	settled()

	b.sf.InjectFault(synctest.Fault{
		Match: func(c sfsync.Change) bool { return strings.HasPrefix(c.Key, "repair:") },
		Err:   sfsync.Permanent(errors.New("a validation rule an operator then fixes")),
	})
	b.sf.Restore("Contact", "003A", at(15*time.Second))
	settled()
	dead := outcomes(t, b.store, sfsync.OutcomeQuery{Status: sfsync.StatusDeadLettered})
	if len(dead) != 1 || !strings.HasPrefix(dead[0].Key, "repair:") {
		logOutcomes(t, b)
		t.Fatalf("dead letters %+v, want the undelete's repair to Salesforce", dead)
	}
	requeueTo(t, r, dead, sfsync.Salesforce)
	settled()
	r.stop(t)
	if t.Failed() || field(t, b.sf, "Contact", "003A", "Email") != "e2" {
		logOutcomes(t, b)
	}
	b.bothHold(t, "Contact", "003A", "Email", "e2", "the ERP's edit (5s) is the email's newest; it lost only to the delete")
	b.bothHold(t, "Contact", "003A", "LastName", "N", "never edited since")
}
