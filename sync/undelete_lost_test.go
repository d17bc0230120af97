package sync_test

import (
	"testing"
	"time"

	"github.com/sfsync/sfsync/conflict"
)

// An edit that lost only because the record was deleted stands when the
// record comes back: an undelete restores the record, not the age of its
// values. Under last write wins, the ERP's edit of a field, newer than
// Salesforce's value of it but older than Salesforce's delete, is the
// field's newest data once Salesforce restores the record.
func TestUndeleteKeepsTheEditThatLostOnlyToTheDelete(t *testing.T) {
	b := newBidi(t)
	b.salesforceByRecord()
	r, settled := b.startBoth(t, conflict.LastWriteWins())
	b.sf.Edit("Contact", "003A", map[string]any{"LastName": "N", "Phone": "p0"}, at(0))
	settled()

	// The ERP changes the phone at 5s; Salesforce deletes the record at
	// 10s, before the ERP's edit is decided, which then loses to the
	// delete.
	late := b.ext.EditSilently("Contact", "003A", map[string]any{"Phone": "p5"}, at(5*time.Second))
	b.sf.Remove("Contact", "003A", at(10*time.Second))
	settled()
	b.extLog.Append(late)
	settled()

	// Salesforce restores the record with its own values.
	b.sf.Restore("Contact", "003A", at(15*time.Second))
	settled()
	r.stop(t)
	logOutcomes(t, b)
	b.bothHold(t, "Contact", "003A", "Phone", "p5", "the ERP's edit (5s) is the phone's newest; it lost only to the delete")
	b.bothHold(t, "Contact", "003A", "LastName", "N", "never edited since")
}
