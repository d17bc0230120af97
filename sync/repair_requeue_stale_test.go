package sync_test

import (
	"errors"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/conflict"
	"github.com/sfsync/sfsync/sync/synctest"
)

// Salesforce wins. The ERP's edit of the phone loses, and its repair, which
// writes Salesforce's phone of 3s back, is rejected for now (a dead
// letter). Salesforce then changes the phone at 8s, which reaches the ERP.
// Requeued, the repair is stale: its data is Salesforce's of 3s. Judged by
// the losing change's version instead (9.5s, the ERP's clock, ahead), it
// looked newer than Salesforce's phone of 8s and wrote the old value over
// it (seen in the simulator, seed 78547, on every run).
func TestRequeuedRepairIsStaleByItsDataNotTheLosingChange(t *testing.T) {
	b := newBidi(t)
	b.salesforceByRecord()
	r, settled := b.startBoth(t, conflict.SalesforceWins())
	sfAt := sfCommits(303)
	b.sf.Edit("Contact", "003A", map[string]any{"LastName": "n9", "Phone": "p11"}, sfAt(2*time.Second))
	b.sf.Edit("Contact", "003A", map[string]any{"Phone": "p14"}, sfAt(3*time.Second))
	settled()
	b.ext.InjectFault(synctest.Fault{Err: sfsync.Permanent(errors.New("validation rule"))})
	b.ext.Edit("Contact", "003A", map[string]any{"Phone": "p16"}, at(9500*time.Millisecond))
	settled()
	dead := outcomes(t, b.store, sfsync.OutcomeQuery{Status: sfsync.StatusDeadLettered})
	if len(dead) != 1 {
		logOutcomes(t, b)
		t.Fatalf("%d dead letters, want the repair's", len(dead))
	}
	b.sf.Edit("Contact", "003A", map[string]any{"Phone": "p21"}, sfAt(8*time.Second))
	settled()
	requeueTo(t, r, dead, erp)
	settled()
	r.stop(t)
	if t.Failed() || field(t, b.ext, "Contact", "003A", "Phone") != "p21" {
		logOutcomes(t, b)
	}
	b.bothHold(t, "Contact", "003A", "Phone", "p21", "Salesforce wins, and its newest phone is of 8s")
}
