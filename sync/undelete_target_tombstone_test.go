package sync_test

import (
	"testing"
	"time"

	"github.com/sfsync/sfsync/conflict"
	"github.com/sfsync/sfsync/sync/synctest"
)

// The ERP deletes the record; its delete's event is late. Salesforce then
// deletes the record too, which finds nothing live in the ERP, and
// undeletes it. The ERP's tombstone is the ERP's own delete, not
// Salesforce's, which never reached it: under ExternalWins the undelete
// does not bring the record back there, and the ERP's delete, when it
// comes, deletes it in Salesforce: both end deleted.
func TestUndeleteMeetsTheTargetsOwnTombstone(t *testing.T) {
	b := newBidi(t)
	_, settled := b.startBoth(t, conflict.ExternalWins())
	b.ext.Edit("Contact", "003A", map[string]any{"LastName": "N"}, at(time.Second))
	settled()
	deleted := b.ext.RemoveSilently("Contact", "003A", at(5*time.Second))
	b.sf.Remove("Contact", "003A", commitAt(46000, 9))
	settled()
	b.sf.Restore("Contact", "003A", commitAt(48000, 10))
	settled()
	b.extLog.Append(deleted)
	settled()
	for _, sys := range []*synctest.System{b.sf, b.ext} {
		if rec, ok := sys.Record("Contact", "003A"); ok && !rec.Deleted {
			t.Errorf("%s holds %+v, want the record deleted: the ERP's delete wins under ExternalWins", sys.System(), rec)
		}
	}
	if t.Failed() {
		logOutcomes(t, b)
	}
}
