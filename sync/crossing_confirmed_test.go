package sync_test

import (
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/conflict"
)

// A Salesforce user edits a field just after the engine read the record
// to write the ERP's older edit of it; the write lands on top of the edit
// and its acknowledgement is lost. The retry finds the write's values in
// Salesforce and decides the change, before Salesforce's stream brings the
// user's edit and the write's echo. The write is still one whose echo has not
// come: the user's edit, committed before it landed, crossed it, and wins
// in the ERP; the engine writes it back to Salesforce.
func TestConfirmedRetryStillCrossesATargetEdit(t *testing.T) {
	b, held := heldSalesforceLosingAnAck(t)
	sf := &editAfterRead{target: b.sf}
	sf.edit = func() { b.sf.Edit("Contact", "003A", map[string]any{"Phone": "sf"}, at(12*time.Second)) }
	r, settled := b.startSinks(t, conflict.LastWriteWins(), b.ext, sf)
	settled()
	write := b.ext.Edit("Contact", "003A", map[string]any{"Phone": "erp"}, at(10*time.Second))
	settled()
	if st := statusByKey(t, b.store)[write.Key]; st != sfsync.StatusApplied && st != sfsync.StatusNoop {
		logOutcomes(t, b)
		t.Fatalf("the ERP's edit ended %s, want it decided (Salesforce holds its value) before Salesforce's stream moves on", st)
	}
	b.sfLog.Append(held.Changes()[1:]...)
	settled()
	r.stop(t)
	if n := b.sf.Applications(write.Key); n != 1 {
		t.Errorf("the ERP's edit took effect %d times in Salesforce, want once", n)
	}
	b.bothHold(t, "Contact", "003A", "Phone", "sf", "the Salesforce user's newer value")
	if t.Failed() {
		logOutcomes(t, b)
	}
}
