package sync_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/conflict"
	"github.com/sfsync/sfsync/sync/synctest"
)

// The ERP edits a field, and Salesforce rejects the edit for now (a dead
// letter); then the ERP deletes the record, and the delete loses to a
// newer Salesforce edit, which brings the record back in the ERP. The
// ERP's edit is still the field's newest: the record brought back keeps
// it, and, requeued, it reaches Salesforce. Its system's delete lost, so
// it does not supersede the edit.
func TestRecordBroughtBackKeepsThePendingEditOfItsDeleter(t *testing.T) {
	for _, tc := range []struct {
		name string
		// deleteAt is when the ERP deletes (its clock); Salesforce's edit
		// is at 16s.
		deleteAt time.Duration
		policy   sfsync.ConflictPolicy
	}{
		{"older delete", 14 * time.Second, conflict.LastWriteWins()},
		// The ERP's clock runs ahead: its delete is stamped after
		// Salesforce's edit, which wins the tie as the system of record.
		{"tied delete on a clock ahead", 16500 * time.Millisecond, conflict.LastWriteWins(conflict.WithSkewTolerance(2 * time.Second))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBidi(t)
			b.salesforceByRecord()
			r, settled := b.startBoth(t, tc.policy)
			b.sf.Edit("Contact", "003A", map[string]any{"LastName": "N0", "Phone": "p0"}, at(0))
			settled()

			b.sf.InjectFault(synctest.Fault{Err: sfsync.Permanent(errors.New("validation rule"))})
			b.ext.Edit("Contact", "003A", map[string]any{"LastName": "E12"}, at(12*time.Second))
			settled()
			dead := outcomes(t, b.store, sfsync.OutcomeQuery{Status: sfsync.StatusDeadLettered})
			if len(dead) != 1 {
				t.Fatalf("dead letters %+v, want the ERP's edit", dead)
			}

			// The ERP deletes the record; Salesforce's edit wins over the
			// delete.
			deleted := b.ext.RemoveSilently("Contact", "003A", at(tc.deleteAt))
			b.sf.Edit("Contact", "003A", map[string]any{"Phone": "p16"}, at(16*time.Second))
			settled()
			b.extLog.Append(deleted)
			settled()

			if _, err := r.e.Requeue(context.Background(), dead[0].Key); err != nil {
				t.Fatal(err)
			}
			settled()
			r.stop(t)
			logOutcomes(t, b)
			for _, side := range []*synctest.System{b.sf, b.ext} {
				if rec, ok := side.Record("Contact", "003A"); !ok || rec.Deleted {
					t.Errorf("%s: record live %v, want live: Salesforce's edit wins over the delete", side.System(), ok && !rec.Deleted)
				}
			}
			b.bothHold(t, "Contact", "003A", "LastName", "E12", "the ERP's edit (12s) is the field's newest; only its delete lost")
			b.bothHold(t, "Contact", "003A", "Phone", "p16", "Salesforce's edit (16s)")
		})
	}
}
