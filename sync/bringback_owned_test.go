package sync_test

import (
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/conflict"
)

// ownedPhoneEditedInSalesforce starts an engine under field ownership (the
// ERP owns Phone; Salesforce wins the rest) on a record both systems hold,
// with the ERP's phone (erpPhone, or none), and has Salesforce edit Phone
// silently: its event, which loses to the owner, comes after the ERP's
// delete. It returns that event.
func ownedPhoneEditedInSalesforce(t *testing.T, erpPhone any) (*bidi, *running, func(), sfsync.Change) {
	t.Helper()
	b, r, settled := ownedPhoneSynced(t, erpPhone)
	edit := b.sf.EditSilently("Contact", "003A", map[string]any{"Phone": "sf8"}, at(8*time.Second))
	return b, r, settled, edit
}

// The ERP deletes the record, and the delete loses to Salesforce: the
// record comes back in the ERP with Salesforce's record as it is now, whose
// Phone is Salesforce's edit of the ERP's field, not decided yet. The ERP
// owns Phone: the record brought back keeps the ERP's own value (from its
// tombstone), and Salesforce's edit, when its event comes, loses to it.
func TestRecordBroughtBackLeavesOutAnUndecidedEditOfTheTargetsField(t *testing.T) {
	b, r, settled, edit := ownedPhoneEditedInSalesforce(t, "erp4")
	b.extLog.Append(b.ext.RemoveSilently("Contact", "003A", at(12*time.Second)))
	settled()
	if got := field(t, b.ext, "Contact", "003A", "Phone"); got != "erp4" {
		logOutcomes(t, b)
		t.Errorf("the record brought back in the ERP holds Phone=%v, want erp4: the ERP owns it, and Salesforce's sf8 was never its data", got)
	}
	b.sfLog.Append(edit)
	settled()
	r.stop(t)
	logOutcomes(t, b)
	b.bothHold(t, "Contact", "003A", "Phone", "erp4", "the owner's value")
}

// As above, but the ERP never set Phone: the record brought back has none,
// and Salesforce's edit, which loses to the owner, is taken back.
func TestRecordBroughtBackLeavesOutAFieldItsOwnerNeverSet(t *testing.T) {
	b, r, settled, edit := ownedPhoneEditedInSalesforce(t, nil)
	b.extLog.Append(b.ext.RemoveSilently("Contact", "003A", at(12*time.Second)))
	settled()
	if got := field(t, b.ext, "Contact", "003A", "Phone"); got != nil {
		logOutcomes(t, b)
		t.Errorf("the record brought back in the ERP holds Phone=%v, want none: the ERP owns it and never set it", got)
	}
	b.sfLog.Append(edit)
	settled()
	r.stop(t)
	logOutcomes(t, b)
	b.bothHold(t, "Contact", "003A", "Phone", nil, "the owner's (no) value")
}

// Last write wins. The ERP created the record; Salesforce then changed the
// email, and that change's event never came (lost past retention), and
// deleted the record. A later ERP edit brings it back (it is newer than
// the delete). Salesforce's email, in its Recycle Bin, is a value the
// engine never synced: Salesforce changed it after the ERP's, so it wins
// over the ERP's older email, which the record brought back must not take
// along; the ERP gets Salesforce's. (The ERP's edit first waits for that
// event, in vain.)
func TestRecordBroughtBackKeepsTheTargetsUnsyncedNewerValue(t *testing.T) {
	b := newBidi(t)
	b.salesforceAsItIs(3 * time.Second)
	r, settled := b.startBoth(t, conflict.LastWriteWins())
	b.ext.Edit("Contact", "003A", map[string]any{"LastName": "n", "Email": "e6"}, at(3*time.Second))
	settled()
	b.sf.EditSilently("Contact", "003A", map[string]any{"Email": "e14"}, at(8*time.Second))
	deleted := b.sf.RemoveSilently("Contact", "003A", at(20*time.Second))
	b.ext.Edit("Contact", "003A", map[string]any{"LastName": "n2"}, at(30*time.Second))
	settled()
	b.sfLog.Append(deleted)
	settled()
	r.stop(t)
	logOutcomes(t, b)
	b.bothHold(t, "Contact", "003A", "Email", "e14", "Salesforce's email is newer than the ERP's")
	b.bothHold(t, "Contact", "003A", "LastName", "n2", "the ERP's edit that brought the record back")
}

// Last write wins. Salesforce creates the record (1s) after the ERP did
// (3.5s, its event late): Salesforce's create loses every field, and the
// ERP's create, when its event comes, takes its values to Salesforce. Before
// that, the ERP deletes the record and Salesforce edits another field (15s,
// newer than the delete): the edit brings the record back in the ERP. The
// fields it takes along from Salesforce hold Salesforce's create, which
// lost: the ERP's own values, in its tombstone, stand.
func TestRecordBroughtBackKeepsTheTargetsValueOverTheSourcesLosingCreate(t *testing.T) {
	b := newBidi(t)
	b.salesforceAsItIs(20 * time.Second)
	r, settled := b.startBoth(t, conflict.LastWriteWins())
	created := b.ext.EditSilently("Contact", "003A", map[string]any{"LastName": "n9", "Email": "e10"}, at(3500*time.Millisecond))
	b.sf.Edit("Contact", "003A", map[string]any{"LastName": "n5", "Email": "e6"}, at(time.Second))
	settled()

	deleted := b.ext.RemoveSilently("Contact", "003A", at(14500*time.Millisecond))
	b.sf.Edit("Contact", "003A", map[string]any{"Phone": "p30"}, at(15*time.Second))
	settled()
	if got := field(t, b.ext, "Contact", "003A", "Email"); got != "e10" {
		logOutcomes(t, b)
		t.Errorf("the record brought back in the ERP holds Email=%v, want e10: the ERP's (3.5s) is newer than Salesforce's create (1s), which lost", got)
	}
	b.extLog.Append(created, deleted)
	settled()
	r.stop(t)
	logOutcomes(t, b)
	b.bothHold(t, "Contact", "003A", "Email", "e10", "the ERP's email is newer")
	b.bothHold(t, "Contact", "003A", "LastName", "n9", "the ERP's last name is newer")
	b.bothHold(t, "Contact", "003A", "Phone", "p30", "Salesforce's edit that brought the record back")
}
