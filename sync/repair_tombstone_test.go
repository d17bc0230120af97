package sync_test

import (
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/conflict"
	"github.com/sfsync/sfsync/sync/synctest"
)

// The ERP creates a record with a phone Salesforce owns, and deletes the
// record before the engine takes the create. The create reaches
// Salesforce without the phone, and its repair (clear the ERP's phone)
// finds the record deleted there by the ERP's own later change: the
// repair has nothing left to correct, and bringing the record back for it
// would undo that delete in the ERP while the delete goes on to
// Salesforce. The delete decides, and both systems end without the
// record.
func TestRepairDoesNotBringBackARecordItsLoserDeletedSince(t *testing.T) {
	for _, state := range []string{"", "live"} {
		t.Run("salesforce"+state, func(t *testing.T) {
			b := newBidi(t)
			b.salesforceByRecord()
			if state == "live" {
				// Salesforce has the record already (linked by the ERP id):
				// the create is decided against it.
				b.sf.Edit("Contact", "P-1", map[string]any{"LastName": "sf", "Phone": "p-sf"}, at(5*time.Second))
			}
			b.ext.Edit("Contact", "P-1", map[string]any{"LastName": "erp", "Phone": "p-erp"}, at(11*time.Second))
			del := b.ext.Remove("Contact", "P-1", at(12500*time.Millisecond))
			_, settled := b.startBoth(t, conflict.FieldOwnership(conflict.Owners{"Phone": sfsync.Salesforce}, conflict.LastWriteWins(conflict.WithSkewTolerance(2*time.Second))))
			settled()
			for _, o := range outcomes(t, b.store, sfsync.OutcomeQuery{}) {
				t.Logf("%s %s %s->%s %s: %s", o.Key, o.Op, o.Source, o.Destination, o.Status, o.Reason)
			}
			// Salesforce's own create may be taken first: it loses to the
			// ERP's tombstone, and its repair deletes the record in
			// Salesforce, where the delete then finds nothing to delete.
			if st := statusByKey(t, b.store)[del.Key]; st != sfsync.StatusApplied && st != sfsync.StatusNoop {
				t.Errorf("the ERP's delete ended %s, want applied (or noop, Salesforce's record deleted already)", st)
			}
			for _, side := range []*synctest.System{b.sf, b.ext} {
				if r, ok := side.Record("Contact", "P-1"); ok && !r.Deleted {
					t.Errorf("%s has the record live (%v), want it deleted: the ERP deleted it last", side.System(), r.Fields)
				}
			}
		})
	}
}
