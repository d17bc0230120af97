package sync_test

import (
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/conflict"
)

// Salesforce owns Phone; last write wins the rest. Salesforce deletes the
// record, older than the ERP's latest change of it, and restores it; the
// delete loses, and the ERP's record is brought back in Salesforce as read,
// with the ERP's own phone edit whose event has not come yet. That phone
// is left out (the owner's stands), and is not the ERP's data at the
// bring-back's version: when the ERP's edit comes, it loses to the owner,
// and its repair takes Salesforce's phone to the ERP.
func TestOwnedFieldSurvivesALostDeleteAndTheLosersLateEdit(t *testing.T) {
	b := newBidi(t)
	b.salesforceByRecord()
	policy := conflict.FieldOwnership(conflict.Owners{"Phone": sfsync.Salesforce}, conflict.LastWriteWins())
	r, settled := b.startBoth(t, policy)
	b.sf.Edit("Contact", "003A", map[string]any{"LastName": "N1", "Phone": "p7"}, at(4*time.Second))
	settled()
	late := b.ext.EditSilently("Contact", "003A", map[string]any{"Phone": "p28"}, at(10*time.Second))
	b.ext.Edit("Contact", "003A", map[string]any{"LastName": "N2"}, at(20*time.Second))
	settled()
	b.sf.Remove("Contact", "003A", at(14*time.Second))
	settled()
	b.sf.Restore("Contact", "003A", at(17*time.Second))
	settled()
	b.extLog.Append(late)
	settled()
	r.stop(t)
	logOutcomes(t, b)
	b.bothHold(t, "Contact", "003A", "Phone", "p7", "Salesforce owns the phone")
}
