package sync_test

import (
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/conflict"
	"github.com/sfsync/sfsync/sync/synctest"
)

// The ERP deletes a record, and a Salesforce user edits it just after the
// engine read it to write that delete. Salesforce takes no condition on a
// delete: ours removes the record with the user's edit. The edit is newer
// than the delete, so under last write wins the record lives: its event,
// which comes before our delete's echo, shows that the delete crossed it;
// the record comes back in the ERP with Salesforce's data, and in
// Salesforce with the edit.
func TestDeleteThatCrossesATargetEditIsUndone(t *testing.T) {
	b := newBidi(t)
	b.userEditsAfterRead(t, conflict.LastWriteWins(), func() {
		b.ext.Remove("Contact", "003A", at(10*time.Second))
	})
	for _, side := range []interface {
		Record(object, id string) (sfsync.Record, bool)
		System() sfsync.System
	}{b.sf, b.ext} {
		if r, ok := side.Record("Contact", "003A"); !ok || r.Deleted {
			t.Errorf("%s has the record deleted (found %v), want it live: the user's edit is newer than the delete", side.System(), ok)
		}
	}
	b.bothHold(t, "Contact", "003A", "Phone", "sf", "the Salesforce user's edit, newer than the delete")
	b.bothHold(t, "Contact", "003A", "LastName", "n", "Salesforce's")
	if t.Failed() {
		logOutcomes(t, b)
	}
}

// The same, where Salesforce stamps our delete with its own commit time
// (13s), as it does: the tombstone is newer than the user's edit. The
// resync that brings the record back in Salesforce is a repair of that
// edit; it met the tombstone and took it for a delete of Salesforce's own
// made after the edit, which then decides: the record stayed deleted in
// Salesforce and live in the ERP (the simulator's seed 60875). The
// tombstone is our write of the ERP's delete, which the edit beat.
func TestDeleteThatCrossesATargetEditIsUndoneWhereTheTargetStampsItsWrites(t *testing.T) {
	b := newBidi(t)
	sfAt := sfCommits(900)
	b.userEditsAfterRead(t, conflict.LastWriteWins(), func() {
		b.ext.Remove("Contact", "003A", at(10*time.Second))
	}, synctest.WithWriteClock(func() sfsync.Version { return sfAt(13 * time.Second) }))
	b.bothLive(t, "003A", "the user's edit is newer than the delete")
	b.bothHold(t, "Contact", "003A", "Phone", "sf", "the Salesforce user's edit, newer than the delete")
	if t.Failed() {
		logOutcomes(t, b)
	}
}
