package sync_test

import (
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/conflict"
)

// Salesforce owns Phone; last write wins the rest. Salesforce deletes the
// record and restores it, both older than the ERP's latest change of it,
// so both lose, the restore with the phone it carried. Then the ERP's
// older edit of the phone arrives and loses to the owner: its repair
// writes Salesforce's phone to the ERP. Salesforce's restore, which lost,
// never reached the ERP: its phone is no newer data there, and the repair
// is not stale against it.
func TestRepairIsNotStaleAgainstTheWinnersChangeThatLost(t *testing.T) {
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
