package sync_test

import (
	"errors"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/conflict"
	"github.com/sfsync/sfsync/sync/synctest"
)

// Last write wins. The ERP's create reaches Salesforce but its
// acknowledgement does not, and it is dead-lettered. A Salesforce user
// then edits the email with an older stamp than the create's: that edit
// loses. Its repair must write the ERP's email back now, not leave it to
// the create's event, still to come: requeued, that create finds the
// record made by our own write and writes nothing again.
func TestTargetEditLosingToACreateOurWriteCarriedIsRepaired(t *testing.T) {
	b := newBidi(t)
	// Salesforce's REST API keeps no idempotency keys: a write repeated
	// under the key of one that took effect takes effect again.
	b.salesforceByRecord(synctest.WithoutKeyIdempotency())
	r, settled := b.startBoth(t, conflict.LastWriteWins())
	b.sf.InjectFault(synctest.Fault{Err: sfsync.Permanent(errors.New("timeout after the save")), AfterApply: true})
	b.ext.Edit("Contact", "003A", map[string]any{"LastName": "N1", "Email": "e10"}, at(8*time.Second))
	settled()
	b.sf.Edit("Contact", "003A", map[string]any{"Email": "e13"}, at(6*time.Second))
	settled()
	requeueTo(t, r, outcomes(t, b.store, sfsync.OutcomeQuery{Status: sfsync.StatusDeadLettered}), sfsync.Salesforce)
	settled()
	r.stop(t)
	logOutcomes(t, b)
	b.bothHold(t, "Contact", "003A", "Email", "e10", "the ERP's create (8s) is newer than Salesforce's edit (6s)")
}
