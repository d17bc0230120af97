package sync_test

import (
	"testing"
	"time"

	"github.com/sfsync/sfsync/conflict"
)

// Where the ERP wins, Salesforce's delete of a record the ERP keeps loses,
// and the engine makes the record in Salesforce again. Later the ERP
// deletes the record; before that delete's event comes, a Salesforce edit
// of the record meets the ERP's tombstone. Salesforce's own delete, undone
// by our write, says nothing of that tombstone: it is the ERP's, and the
// ERP's delete stands against the edit. The record must not come back in
// the ERP.
func TestADeleteOurWriteUndidDoesNotDescribeTheOtherTombstone(t *testing.T) {
	b := newBidi(t)
	r, settled := b.startBoth(t, conflict.ExternalWins())
	b.ext.Edit("Contact", "003A", map[string]any{"LastName": "N1"}, at(1*time.Second))
	settled()
	b.sf.Remove("Contact", "003A", at(2*time.Second))
	settled()
	if rec, ok := b.sf.Record("Contact", "003A"); !ok || rec.Deleted {
		logOutcomes(t, b)
		t.Fatal("Salesforce's delete stands: the ERP wins and keeps the record")
	}
	del := b.ext.RemoveSilently("Contact", "003A", at(10*time.Second))
	b.sf.Edit("Contact", "003A", map[string]any{"Phone": "p5"}, at(5*time.Second))
	settled()
	b.extLog.Append(del)
	settled()
	r.stop(t)
	logOutcomes(t, b)
	b.noLiveRecord(t, "the ERP's delete, the last change of the winner, stands")
}
