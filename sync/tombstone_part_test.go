package sync_test

import (
	"context"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/conflict"
	"github.com/sfsync/sfsync/sync/synctest"
)

// The ERP deletes a record and the engine takes the delete to Salesforce;
// a Salesforce edit made just before that delete arrived comes after it.
// The edit loses to the ERP's delete (the ERP wins), and its repair would
// write the ERP's values of the edited fields before deleting
// Salesforce's record. That record is already gone, by the ERP's own
// delete: the fields have nothing left to correct, and writing them
// would bring the record back, which then outlives the delete.
func TestRepairBeforeADeleteNeverBringsTheRecordBack(t *testing.T) {
	b := newBidi(t)
	b.salesforceAsItIs(20 * time.Second)
	r, settled := b.startBoth(t, conflict.ExternalWins())
	b.sf.Edit("Contact", "003A", map[string]any{"LastName": "N", "Phone": "p1"}, at(0))
	settled()

	// Salesforce stamps our delete (its first write of ours) at 21s, the
	// second of the edit, which carries its transaction's commit number:
	// the record's version, whole seconds, does not say which came first.
	edit := b.sf.EditSilently("Contact", "003A", map[string]any{"Phone": "p2"}, sfsync.Version{Time: t0.Add(21 * time.Second), Commit: 7})
	b.ext.Remove("Contact", "003A", at(10*time.Second))
	settled()
	b.sfLog.Append(edit)
	settled()
	r.stop(t)
	logOutcomes(t, b)
	if n := b.sf.Applications("repair:salesforce:003A:2/fields"); n > 0 {
		t.Errorf("the repair's fields were written to Salesforce's deleted record %d times, want none", n)
	}
	for _, side := range []*synctest.System{b.sf, b.ext} {
		for rec, err := range side.Scan(context.Background(), "Contact", nil, time.Time{}) {
			if err != nil {
				t.Fatal(err)
			}
			if !rec.Deleted {
				t.Errorf("%s has a live record %s %v: the ERP's delete wins", side.System(), rec.ID, rec.Fields)
			}
		}
	}
}
