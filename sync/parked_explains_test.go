package sync_test

import (
	"testing"
	"time"

	"github.com/sfsync/sfsync/conflict"
	"github.com/sfsync/sfsync/sync/synctest"
)

// Both systems version whole records only. Salesforce's create reached
// the ERP, but the engine that wrote it stopped before its outcome: the
// version map knows nothing of the record. Then the ERP edits LastName
// (10s) and Salesforce Phone (12s), and the engine sees all three changes.
// Each finds the other system's record newer than anything it has seen of
// it, and would wait for that system's changes, which wait in turn for
// it. When the wait was over, the ERP's edit, going first, took every
// field Salesforce holds as changed at its record's version, and lost
// LastName to Salesforce's 12s though Salesforce's change set Phone only.
// The other system's changes are received, parked: their versions and
// fields explain its record, and each change is decided on them at once.
func TestChangesWaitingForEachOtherAreExplainedByThePark(t *testing.T) {
	b := newBidi(t, synctest.WithRecordVersionsOnly())
	b.salesforceByRecord()
	r, settled := b.startBoth(t, conflict.LastWriteWins())
	created := map[string]any{"LastName": "N0", "Phone": "p0"}
	create := b.sf.EditSilently("Contact", "003A", created, at(0))
	b.ext.EditSilently("Contact", "003A", created, at(0)) // our write, its outcome lost

	name := b.ext.EditSilently("Contact", "003A", map[string]any{"LastName": "E10"}, at(10*time.Second))
	phone := b.sf.EditSilently("Contact", "003A", map[string]any{"Phone": "s12"}, at(12*time.Second))
	b.extLog.Append(name)
	b.sfLog.Append(create)
	b.sfLog.Append(phone)
	settled()
	r.stop(t)
	b.bothHold(t, "Contact", "003A", "LastName", "E10", "the ERP's edit (10s); Salesforce's later change set Phone only")
	b.bothHold(t, "Contact", "003A", "Phone", "s12", "Salesforce's edit (12s)")
}
