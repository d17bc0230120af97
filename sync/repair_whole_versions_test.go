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

// The same, for a field whose Salesforce value the version map knows only
// as Salesforce's change that lost: Salesforce's edit of Phone (2 s) came
// after the ERP's delete (7 s) and lost to it, and Salesforce's later edit
// of LastName (8 s) brought the record back in the ERP, Phone taken along.
// The ERP's delete, decided next, lost, and its repair brought the record
// back whole: Phone's data there is Salesforce's edit of 2 s, not the
// record's 8 s, and the ERP's edit of Phone at 10 s is newer (seen in the
// simulator, seed 57135: claimed at 8 s, Phone tied with the ERP's edit
// inside the skew tolerance, and the ERP's edit lost).
func TestRecordBroughtBackWholeDatesAFieldByTheWinnersLostChange(t *testing.T) {
	b := newBidi(t)
	b.salesforceByRecord()
	_, settled := b.startBoth(t, conflict.LastWriteWins(conflict.WithSkewTolerance(2*time.Second)))
	b.sf.Edit("Contact", "003A", map[string]any{"LastName": "n", "Phone": "p0"}, at(time.Second))
	settled()
	phone := b.sf.EditSilently("Contact", "003A", map[string]any{"Phone": "p2"}, at(2*time.Second))
	del := b.ext.RemoveSilently("Contact", "003A", at(7*time.Second))
	rename := b.sf.EditSilently("Contact", "003A", map[string]any{"LastName": "n8"}, at(8*time.Second))
	b.sfLog.Append(phone, rename)
	settled()
	b.extLog.Append(del)
	settled()
	b.ext.Edit("Contact", "003A", map[string]any{"Phone": "erp"}, at(10*time.Second))
	settled()
	b.bothHold(t, "Contact", "003A", "Phone", "erp", "the ERP's edit, newer than Salesforce's Phone from 2 s")
	b.bothHold(t, "Contact", "003A", "LastName", "n8", "Salesforce's")
	if t.Failed() {
		logOutcomes(t, b)
	}
}
