package sync_test

import (
	"testing"
	"time"

	"github.com/sfsync/sfsync/conflict"
	sfsyncsync "github.com/sfsync/sfsync/sync"
)

// Both systems create the record at 6 s; the ERP's create waits in the park
// for Salesforce's, which has not come, and the ERP's edit of the last name
// at 18 s waits behind it. Salesforce's create, delete (18.5 s) and undelete
// (19 s) are then decided while the ERP's changes still wait: none of them
// is in the version map yet. The undelete carries the record's version for
// every field; the ERP's last name is its own edit, newer than Salesforce's
// data of it (6 s), whose event waits in the park and decides it. Taking the
// empty map for data the ERP held before syncing began, the undelete wrote
// Salesforce's old last name over it, and the ERP's edit, decided after it
// against Salesforce's record, was applied there: Salesforce held the ERP's
// name, the ERP Salesforce's (seed 100770).
func TestUndeleteLeavesATargetEditWaitingInTheParkToItsEvent(t *testing.T) {
	b := newBidi(t)
	b.salesforceByRecord()
	sfSrc, extSrc := b.sfLog.Source(), b.extLog.Source()
	e, err := sfsyncsync.New(sfSrc, nil, append(b.options(conflict.LastWriteWins()), sfsyncsync.WithSource(extSrc))...)
	if err != nil {
		t.Fatal(err)
	}
	r := start(t, e)
	settled := func() { t.Helper(); settle(t, b.sfLog, sfSrc, b.extLog, extSrc) }
	created := b.sf.EditSilently("Contact", "003A", map[string]any{"LastName": "n5", "Email": "e6"}, commitAt(6000, 1))
	b.ext.Edit("Contact", "003A", map[string]any{"LastName": "n9", "Email": "e10"}, at(6*time.Second))
	waitFor(t, func() bool { return e.Parked() > 0 })
	b.ext.Edit("Contact", "003A", map[string]any{"LastName": "n18"}, at(18*time.Second))
	b.sfLog.Append(created)
	b.sf.Remove("Contact", "003A", commitAt(18500, 2))
	b.sf.Restore("Contact", "003A", commitAt(19000, 3))
	settled()
	r.stop(t)
	b.bothHold(t, "Contact", "003A", "LastName", "n18", "the ERP's edit (18 s) is newer than Salesforce's data of the field (6 s), and the record came back")
	if t.Failed() {
		logOutcomes(t, b)
	}
}
