package sync_test

import (
	"testing"
	"time"

	"github.com/sfsync/sfsync/conflict"
	"github.com/sfsync/sfsync/sync/synctest"
)

// Under last write wins with a skew tolerance, an ERP delete ties with a
// Salesforce user's concurrent edit, and the system of record wins the
// tie: the record stays, both ways round. Salesforce also holds the ERP's
// own earlier edit of another field, newer on its clock than Salesforce's
// edit: the delete, exactly newer than the ERP's own data, must not be
// judged against that alone, or it deletes the record in Salesforce while
// Salesforce's edit, decided against the ERP's tombstone first, has
// brought it back in the ERP.
func TestDeleteTyingTheWinnersEditLosesInBothDirections(t *testing.T) {
	b := newBidi(t)
	b.salesforceByRecord()
	_, settled := b.startBoth(t, conflict.LastWriteWins(conflict.WithSkewTolerance(2*time.Second)))
	b.sf.Edit("Contact", "003A", map[string]any{"LastName": "n", "Email": "e0"}, at(0))
	settled()
	b.ext.Edit("Contact", "003A", map[string]any{"Email": "erp"}, at(8500*time.Millisecond))
	settled()
	edit := b.sf.EditSilently("Contact", "003A", map[string]any{"LastName": "sf"}, at(8*time.Second))
	del := b.ext.RemoveSilently("Contact", "003A", at(9500*time.Millisecond))
	b.sfLog.Append(edit)
	settled()
	b.extLog.Append(del)
	settled()
	logOutcomes(t, b)
	for _, side := range []*synctest.System{b.sf, b.ext} {
		if rec, ok := side.Record("Contact", "003A"); !ok || rec.Deleted {
			t.Errorf("%s holds %+v (found %v), want the record live: Salesforce's edit wins the tie with the delete", side.System(), rec, ok)
		}
	}
	b.bothHold(t, "Contact", "003A", "LastName", "sf", "Salesforce's: its edit wins the tie with the delete")
	b.bothHold(t, "Contact", "003A", "Email", "erp", "the ERP's")
}
