package sync_test

import (
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/conflict"
)

// The ERP edits a field, then deletes the record; the edit's event comes
// after the delete was applied in Salesforce, and is stale against its own
// system's delete. Salesforce then restores the record: the undelete wins
// over the delete, and the record lives again with the ERP's edit, newer
// than Salesforce's data of the field. No event of the ERP's will decide
// that field again (the edit's was decided already): the undelete decides
// it, keeps the ERP's value and takes it to Salesforce.
func TestUndeleteDecidesATargetEditThatWasStaleAgainstItsDelete(t *testing.T) {
	b := newBidi(t)
	b.salesforceByRecord()
	b.sf.Edit("Contact", "003A", map[string]any{"LastName": "N", "Phone": "p0"}, commitAt(0, 1))
	_, settled := b.startBoth(t, conflict.LastWriteWins())
	settled()
	edit := b.ext.EditSilently("Contact", "003A", map[string]any{"Phone": "p1"}, at(10500*time.Millisecond))
	b.ext.Remove("Contact", "003A", at(11*time.Second))
	settled()
	if rec, _ := b.sf.Record("Contact", "003A"); !rec.Deleted {
		t.Fatalf("Salesforce holds %+v after the ERP's delete, want it deleted", rec)
	}
	b.extLog.Append(edit)
	settled()
	b.sf.Restore("Contact", "003A", commitAt(17000, 2))
	settled()
	b.bothHold(t, "Contact", "003A", "Phone", "p1", "the ERP's edit, newer than Salesforce's data of the field, comes back with the record")
	for _, sys := range []string{"sf", "ext"} {
		s := b.sf
		if sys == "ext" {
			s = b.ext
		}
		if rec, ok := s.Record("Contact", "003A"); !ok || rec.Deleted {
			t.Errorf("%s holds %+v, want the record live: Salesforce's undelete is newer than the ERP's delete", s.System(), rec)
		}
	}
	if st := statusByKey(t, b.store)[edit.Key]; st != sfsync.StatusStale {
		t.Logf("the ERP's edit ended %s (the test means it to be stale against its delete)", st)
	}
	if t.Failed() {
		logOutcomes(t, b)
	}
}
