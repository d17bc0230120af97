package sync_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/conflict"
	"github.com/sfsync/sfsync/sync/synctest"
)

// Salesforce edits a field, and the ERP rejects the edit for now (a dead
// letter); then Salesforce deletes the record, and the ERP rejects the
// delete too. A newer ERP edit of another field wins over the delete and
// brings the record back in Salesforce. Salesforce's edit is still the
// field's newest: the record brought back keeps its value from the
// tombstone, not the ERP's copy of Salesforce's older value, and,
// requeued, the edit reaches the ERP. Requeued, the delete loses, and its
// repair brings the record back as the ERP holds it: Salesforce's edit
// stands in that too. When the acknowledgement of the record brought back
// is lost, the retry that finds it written records the same versions as
// the write would have: the field kept from the tombstone is Salesforce's
// data, not the ERP's at its edit's version.
func TestRecordBroughtBackKeepsTheTargetsEditNotInTheSource(t *testing.T) {
	for _, ackLost := range []bool{false, true} {
		name := "acknowledged"
		if ackLost {
			name = "acknowledgement lost"
		}
		t.Run(name, func(t *testing.T) { recordBroughtBackKeepsTheTargetsEdit(t, ackLost) })
	}
}

// salesforceEditAndDeleteDeadLettered starts an engine under policy, with
// Salesforce as it is, on a record Salesforce creates with created; then
// Salesforce edits it (edited, at editAt) and deletes it at 7s, and the ERP
// rejects both for now. It returns the two dead letters, in that order.
func salesforceEditAndDeleteDeadLettered(t *testing.T, policy sfsync.ConflictPolicy, created, edited map[string]any, editAt time.Duration) (*bidi, *running, func(), []sfsync.Outcome) {
	t.Helper()
	b := newBidi(t)
	b.salesforceAsItIs(20 * time.Second)
	r, settled := b.startBoth(t, policy)
	b.sf.Edit("Contact", "003A", created, at(0))
	settled()

	b.ext.InjectFault(synctest.Fault{Err: sfsync.Permanent(errors.New("validation rule")), Times: 2})
	b.sf.Edit("Contact", "003A", edited, at(editAt))
	settled()
	b.sf.Remove("Contact", "003A", at(7*time.Second))
	settled()
	dead := outcomes(t, b.store, sfsync.OutcomeQuery{Status: sfsync.StatusDeadLettered})
	if len(dead) != 2 {
		logOutcomes(t, b)
		t.Fatalf("dead letters %+v, want Salesforce's edit and its delete", dead)
	}
	return b, r, settled, dead
}

func recordBroughtBackKeepsTheTargetsEdit(t *testing.T, ackLost bool) {
	b, r, settled, dead := salesforceEditAndDeleteDeadLettered(t, conflict.LastWriteWins(),
		map[string]any{"LastName": "N0", "Email": "e0"}, map[string]any{"LastName": "N4"}, 4*time.Second)
	if ackLost {
		b.sf.InjectFault(synctest.Fault{Err: errors.New("timeout"), AfterApply: true})
	}
	b.ext.Edit("Contact", "003A", map[string]any{"Email": "e12"}, at(12*time.Second))
	settled()
	if got := field(t, b.sf, "Contact", "003A", "LastName"); got != "N4" {
		logOutcomes(t, b)
		t.Errorf("the record brought back in Salesforce holds LastName=%v, want N4: Salesforce's own edit (4s) is newer than the ERP's copy (0s)", got)
	}

	// The delete first: its repair finds Salesforce's edit still only in
	// Salesforce.
	for _, d := range slices.Backward(dead) {
		if _, err := r.e.Requeue(context.Background(), d.Key); err != nil {
			t.Fatal(err)
		}
		settled()
	}
	r.stop(t)
	for _, side := range []*synctest.System{b.sf, b.ext} {
		if rec, ok := side.Record("Contact", "003A"); !ok || rec.Deleted {
			t.Errorf("%s: record live %v, want live: the ERP's edit (12s) wins over the delete (7s)", side.System(), ok && !rec.Deleted)
		}
	}
	b.bothHold(t, "Contact", "003A", "LastName", "N4", "Salesforce's edit (4s) is the field's newest")
	b.bothHold(t, "Contact", "003A", "Email", "e12", "the ERP's edit (12s)")
}

// Salesforce edits Phone, and the ERP rejects the edit for now; then
// Salesforce deletes the record (the ERP rejects that too), and the ERP's
// own edit of Phone, stamped between the two, loses to the delete. A newer
// ERP edit brings the record back in Salesforce: its Phone is decided
// between the ERP's edit and Salesforce's dead-lettered one, as the
// requeue decides it after, so that both systems end with one value.
func TestRecordBroughtBackDecidesTheTargetsDeadLetteredEdit(t *testing.T) {
	for _, tc := range []struct {
		name   string
		policy sfsync.ConflictPolicy
		want   string
		why    string
	}{
		{"newer ERP edit", conflict.LastWriteWins(), "p6", "the ERP's edit (6s) is newer than Salesforce's (5s)"},
		{"tie", conflict.LastWriteWins(conflict.WithSkewTolerance(2 * time.Second)), "p5", "the ERP's edit (6s) ties Salesforce's (5s), and Salesforce wins ties"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, r, settled, dead := salesforceEditAndDeleteDeadLettered(t, tc.policy,
				map[string]any{"LastName": "N0", "Phone": "p0"}, map[string]any{"Phone": "p5"}, 5*time.Second)
			// Both ERP edits are made before the engine sees either: the
			// repair of the first, a delete, finds the second.
			lost := b.ext.EditSilently("Contact", "003A", map[string]any{"Phone": "p6"}, at(6*time.Second))
			newer := b.ext.EditSilently("Contact", "003A", map[string]any{"LastName": "N12"}, at(12*time.Second))
			b.extLog.Append(lost)
			b.extLog.Append(newer)
			settled()
			if got := field(t, b.sf, "Contact", "003A", "Phone"); got != tc.want {
				logOutcomes(t, b)
				t.Errorf("the record brought back in Salesforce holds Phone=%v, want %v: %s", got, tc.want, tc.why)
			}

			for _, d := range dead {
				if _, err := r.e.Requeue(context.Background(), d.Key); err != nil {
					t.Fatal(err)
				}
			}
			settled()
			r.stop(t)
			b.bothHold(t, "Contact", "003A", "Phone", tc.want, tc.why)
			b.bothHold(t, "Contact", "003A", "LastName", "N12", "the ERP's edit (12s)")
		})
	}
}
