package sync_test

import (
	"context"
	"errors"
	"strings"
	stdsync "sync"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/conflict"
	"github.com/sfsync/sfsync/sync/synctest"
)

// The ERP deletes a record and the engine takes the delete to Salesforce;
// a Salesforce edit made just before that delete arrived comes after it.
// The edit loses to the ERP's delete (the ERP wins), and its repair would
// write the ERP's values of the edited fields before deleting
// Salesforce's record. That record is already gone, by the ERP's own
// delete: the fields have nothing left to correct, and writing them
// would bring the record back, which then outlives the delete.
func TestRepairBeforeADeleteNeverBringsTheRecordBack(t *testing.T) {
	b := newBidi(t)
	b.salesforceAsItIs(20 * time.Second)
	r, settled := b.startBoth(t, conflict.ExternalWins())
	b.sf.Edit("Contact", "003A", map[string]any{"LastName": "N", "Phone": "p1"}, at(0))
	settled()

	// Salesforce stamps our delete (its first write of ours) at 21s, the
	// second of the edit, which carries its transaction's commit number:
	// the record's version, whole seconds, does not say which came first.
	edit := b.sf.EditSilently("Contact", "003A", map[string]any{"Phone": "p2"}, sfsync.Version{Time: t0.Add(21 * time.Second), Commit: 7})
	b.ext.Remove("Contact", "003A", at(10*time.Second))
	settled()
	b.sfLog.Append(edit)
	settled()
	r.stop(t)
	logOutcomes(t, b)
	if n := b.sf.Applications("repair:salesforce:003A:2/fields"); n > 0 {
		t.Errorf("the repair's fields were written to Salesforce's deleted record %d times, want none", n)
	}
	b.noLiveRecord(t, "the ERP's delete wins")
}

// noLiveRecord fails t if either of b's systems has a live Contact, under
// any id (Salesforce brings a record back as a new one).
func (b *bidi) noLiveRecord(t *testing.T, why string) {
	t.Helper()
	for _, side := range []*synctest.System{b.sf, b.ext} {
		for rec, err := range side.Scan(context.Background(), "Contact", nil, time.Time{}) {
			if err != nil {
				t.Fatal(err)
			}
			if !rec.Deleted {
				t.Errorf("%s has a live record %s %v: %s", side.System(), rec.ID, rec.Fields, why)
			}
		}
	}
}

// deleteMeetsERPEdit is the scenario of the tests below, under
// SalesforceWins: Salesforce deletes 003A at 21s, its event held back, and
// the ERP, its clock ahead, edits the city at 23s. The edit loses to the
// delete, and the part of its repair that writes Salesforce's city from
// before the delete to the ERP goes first; then Salesforce's delete
// arrives. settled settles the engine between steps.
func (b *bidi) deleteMeetsERPEdit(settled func()) {
	b.sf.Edit("Contact", "003A", map[string]any{"LastName": "N", "MailingCity": "c1"}, at(0))
	settled()
	deleted := b.sf.RemoveSilently("Contact", "003A", at(21*time.Second))
	b.ext.Edit("Contact", "003A", map[string]any{"MailingCity": "c2"}, at(23*time.Second))
	settled()
	b.sfLog.Append(deleted)
	settled()
}

// failFieldsPart makes the ERP fail the writes of repair parts written
// before a delete (their keys end in /fields) with err; applied, the
// write takes effect first.
func (b *bidi) failFieldsPart(err error, applied bool) {
	b.ext.InjectFault(synctest.Fault{Err: err, AfterApply: applied,
		Match: func(c sfsync.Change) bool { return strings.HasSuffix(c.Key, "/fields") }})
}

// That part is Salesforce's data of before its delete, not a change of
// Salesforce's at the ERP's edit's time, however its write ends:
// Salesforce's own delete, when its event comes, is newer than it, and
// deletes the ERP's record.
func TestRepairPartKeepsItsDataVersion(t *testing.T) {
	for _, tc := range []struct {
		name    string
		err     error
		applied bool
	}{
		// Dead-lettered.
		{"dead-lettered", sfsync.Permanent(errors.New("rejected")), false},
		// Taking effect, its acknowledgement lost: confirmed on retry.
		{"confirmed on retry", sfsync.Retryable(errors.New("timeout")), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBidi(t)
			b.salesforceAsItIs(40 * time.Second)
			b.failFieldsPart(tc.err, tc.applied)
			r, settled := b.startBoth(t, conflict.SalesforceWins())
			b.deleteMeetsERPEdit(settled)
			r.stop(t)
			logOutcomes(t, b)
			b.noLiveRecord(t, "Salesforce's delete wins")
		})
	}
}

// As above, with the part's write taking effect, its acknowledgement lost,
// and the ERP's user editing the record before the write's echo, which
// reaches the engine late, comes. Editing another field, the record still
// holds the part's value and the retry confirms it; editing the part's own
// field, the retry finds the record changed since the write's read, waits
// for the echo, and only the echo confirms the write.
func TestRepairPartConfirmedAfterALateEchoKeepsItsDataVersion(t *testing.T) {
	for _, field := range []string{"LastName", "MailingCity"} {
		t.Run("user edits "+field, func(t *testing.T) {
			b := newBidi(t)
			b.salesforceAsItIs(40 * time.Second)
			// The ERP's feed reaches the engine only when forwarded.
			held := synctest.NewLog("held")
			b.ext = synctest.NewSystem(erp, synctest.WithFeed(held))
			var mu stdsync.Mutex
			forwarded := 0
			forward := func() {
				mu.Lock()
				defer mu.Unlock()
				cs := held.Changes()
				b.extLog.Append(cs[forwarded:]...)
				forwarded = len(cs)
			}
			b.failFieldsPart(sfsync.Retryable(errors.New("timeout")), true)
			ext := &lateEcho{target: b.ext, forward: forward}
			ext.edit = func() { b.ext.Edit("Contact", "003A", map[string]any{field: "x"}, at(30*time.Second)) }
			r, settle := b.startSinks(t, conflict.SalesforceWins(), ext, b.sf)
			b.deleteMeetsERPEdit(func() {
				settle()
				forward()
				settle()
			})
			r.stop(t)
			logOutcomes(t, b)
			b.noLiveRecord(t, "Salesforce's delete wins")
		})
	}
}

// The dead-lettered part, requeued once Salesforce's delete has reached
// the ERP, finds the ERP's record deleted: it must not bring it back.
func TestRequeuedRepairPartNeverBringsTheRecordBack(t *testing.T) {
	b := newBidi(t)
	b.salesforceAsItIs(40 * time.Second)
	b.failFieldsPart(sfsync.Permanent(errors.New("rejected")), false)
	r, settled := b.startBoth(t, conflict.SalesforceWins())
	b.deleteMeetsERPEdit(settled)
	dead := outcomes(t, b.store, sfsync.OutcomeQuery{Status: sfsync.StatusDeadLettered})
	if len(dead) != 1 {
		t.Fatalf("%d dead letters, want the repair's part", len(dead))
	}
	if _, err := r.e.Requeue(context.Background(), dead[0].Key); err != nil {
		t.Fatal(err)
	}
	settled()
	r.stop(t)
	logOutcomes(t, b)
	if n := b.ext.Applications(dead[0].Key); n > 0 {
		t.Errorf("the requeued part was written to the ERP's deleted record %d times, want none", n)
	}
	b.noLiveRecord(t, "Salesforce's delete wins")
}
