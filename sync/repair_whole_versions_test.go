package sync_test

import (
	"testing"
	"time"

	"github.com/sfsync/sfsync/conflict"
)

// The ERP's delete loses to a later Salesforce edit of LastName, and its
// repair brings the record back whole (it is back already: Salesforce's
// edit brought it). Salesforce versions only whole records: each field the
// repair carries is Salesforce's data of its own version, which the
// version map knows, not the record's newest. Claimed at the record's
// version, Phone (set at 1 s) looked as new as LastName (8 s), and the
// ERP's later edit of Phone (9.5 s) tied with it inside the skew tolerance
// and lost (seen in the simulator).
func TestRecordBroughtBackWholeKeepsEachFieldsVersion(t *testing.T) {
	b := newBidi(t)
	b.salesforceByRecord()
	_, settled := b.startBoth(t, conflict.LastWriteWins(conflict.WithSkewTolerance(2*time.Second)))
	b.sf.Edit("Contact", "003A", map[string]any{"LastName": "n", "Phone": "p0"}, at(time.Second))
	settled()
	del := b.ext.RemoveSilently("Contact", "003A", at(7*time.Second))
	b.sf.Edit("Contact", "003A", map[string]any{"LastName": "n8"}, at(8*time.Second))
	settled()
	b.extLog.Append(del)
	settled()
	b.ext.Edit("Contact", "003A", map[string]any{"Phone": "erp"}, at(9500*time.Millisecond))
	settled()
	b.bothHold(t, "Contact", "003A", "Phone", "erp", "the ERP's edit, newer than Salesforce's Phone from 1 s")
	b.bothHold(t, "Contact", "003A", "LastName", "n8", "Salesforce's")
	if t.Failed() {
		logOutcomes(t, b)
	}
}
