package sync_test

import (
	"testing"
	"time"

	"github.com/sfsync/sfsync/conflict"
	"github.com/sfsync/sfsync/sync/synctest"
)

// Salesforce deletes a record and undeletes it; meanwhile the ERP deleted
// it too, and the ERP's delete reaches the engine only after Salesforce's
// undelete, which brought the record back in the ERP (it is newer than
// the ERP's delete). Under last write wins the ERP's delete, older than
// the undelete, must lose: both systems keep the record.
func TestLateDeleteLosesToANewerUndelete(t *testing.T) {
	b := newBidi(t)
	r, settled := b.startBoth(t, conflict.LastWriteWins(conflict.WithSkewTolerance(time.Second)))
	b.ext.Edit("Contact", "003A", map[string]any{"LastName": "N", "Phone": "p1"}, at(time.Second))
	settled()
	const id = "003A" // the stand-ins share ids

	extDelete := b.ext.RemoveSilently("Contact", "003A", at(8*time.Second))
	b.sf.Remove("Contact", id, at(6*time.Second))
	settled()
	b.sf.Restore("Contact", id, at(10*time.Second))
	settled()
	b.extLog.Append(extDelete)
	settled()
	r.stop(t)
	logOutcomes(t, b)
	b.bothLive(t, id, "Salesforce's undelete at 10s is newer than the ERP's delete at 8s")
}

// As above, with Salesforce versioning whole records, and an ERP edit made
// before its delete reaching Salesforce after the undelete: our write of
// it is the record's newest change there, but its data is the ERP's,
// older than the undelete. The ERP's delete must still meet the undelete,
// not that older data, and lose.
func TestLateDeleteLosesToAnUndeleteFollowedByOurWrite(t *testing.T) {
	b := newBidi(t)
	b.salesforceAsItIs(20 * time.Second)
	r, settled := b.startBoth(t, conflict.LastWriteWins(conflict.WithSkewTolerance(time.Second)))
	b.ext.Edit("Contact", "003A", map[string]any{"LastName": "N", "Phone": "p1"}, at(time.Second))
	settled()
	const id = "003A"

	extEdit := b.ext.EditSilently("Contact", "003A", map[string]any{"Phone": "p2"}, at(7*time.Second))
	extDelete := b.ext.RemoveSilently("Contact", "003A", at(8*time.Second))
	b.sf.Remove("Contact", id, at(6*time.Second))
	settled()
	b.sf.Restore("Contact", id, at(10*time.Second))
	settled()
	b.extLog.Append(extEdit)
	settled()
	b.extLog.Append(extDelete)
	settled()
	r.stop(t)
	logOutcomes(t, b)
	b.bothLive(t, id, "Salesforce's undelete at 10s is newer than the ERP's delete at 8s")
}

// bothLive fails t unless both of b's systems hold Contact id live.
func (b *bidi) bothLive(t *testing.T, id, why string) {
	t.Helper()
	for _, side := range []*synctest.System{b.sf, b.ext} {
		if rec, ok := side.Record("Contact", id); !ok || rec.Deleted {
			t.Errorf("%s: the record is deleted, want it live: %s", side.System(), why)
		}
	}
}
