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
	sfsyncsync "github.com/sfsync/sfsync/sync"
	"github.com/sfsync/sfsync/sync/synctest"
)

// Two changes of the losing side that both lose the same owned field, in
// one batch, the second also setting a field its side owns: both systems
// end with the owner's value of each field.
func TestTwoLosingChangesInOneBatchLeaveTheOwnersValue(t *testing.T) {
	b := newBidi(t)
	b.salesforceByRecord()
	policy := conflict.FieldOwnership(conflict.Owners{"Email": sfsync.Salesforce, "MailingCity": erp}, conflict.SalesforceWins())
	b.ext.Edit("Contact", "P-1", map[string]any{"LastName": "n", "MailingCity": "c"}, at(0))
	_, settled := b.startBoth(t, policy)
	settled()
	b.ext.Edit("Contact", "P-1", map[string]any{"Email": "e1"}, at(2*time.Second))
	b.ext.Edit("Contact", "P-1", map[string]any{"Email": "e2", "MailingCity": nil}, at(3*time.Second))
	settled()
	for _, side := range []*synctest.System{b.sf, b.ext} {
		if got := field(t, side, "Contact", "P-1", "Email"); got != nil {
			t.Errorf("%s holds Email=%v, want none: Salesforce owns it and never set it", side.System(), got)
		}
		if got := field(t, side, "Contact", "P-1", "MailingCity"); got != nil {
			t.Errorf("%s holds MailingCity=%v, want the ERP's null", side.System(), got)
		}
	}
}

// A change delivered again after a crash lost its outcome, to a target
// without field versions: the policy drops a field Salesforce changed
// since, and the fields it keeps are there already from the first
// delivery. Writing them again would be a second effect of one change.
func TestRedeliveryAfterALostOutcomeDoesNotWriteKeptFieldsAgain(t *testing.T) {
	b := newBidi(t)
	b.salesforceByRecord(synctest.WithoutKeyIdempotency())
	policy := conflict.LastWriteWins()
	b.sf.Edit("Account", "001A", map[string]any{"Name": "n0", "BillingCity": "c0"}, at(0))
	edit := b.ext.Edit("Account", "001A", map[string]any{"Name": "n1", "BillingCity": "c1"}, at(10*time.Second))

	run := func(store stateStore) {
		sfSrc, extSrc := b.sfLog.Source(), b.extLog.Source()
		b.store = store
		e, err := sfsyncsync.New(sfSrc, nil, append(b.options(policy), sfsyncsync.WithSource(extSrc))...)
		if err != nil {
			t.Fatal(err)
		}
		r := start(t, e)
		settle(t, b.sfLog, sfSrc, b.extLog, extSrc)
		r.stop(t)
	}
	run(b.store)
	if n := b.sf.Applications(edit.Key); n != 1 {
		t.Fatalf("the ERP edit took effect %d times, want 1", n)
	}
	// Salesforce renames the account; then an engine whose state lost the
	// edit's outcome (a crash before its commit) gets it again.
	b.sf.Edit("Account", "001A", map[string]any{"Name": "n2"}, at(20*time.Second))
	run(newState(t))
	if n := b.sf.Applications(edit.Key); n != 1 {
		t.Errorf("the ERP edit took effect %d times in Salesforce, want 1", n)
	}
	for _, sys := range []*synctest.System{b.sf, b.ext} {
		if got := field(t, sys, "Account", "001A", "Name"); got != "n2" {
			t.Errorf("%s Name = %v, want Salesforce's newer n2", sys.System(), got)
		}
		if got := field(t, sys, "Account", "001A", "BillingCity"); got != "c1" {
			t.Errorf("%s BillingCity = %v, want the ERP's c1", sys.System(), got)
		}
	}
}

// External wins: a Salesforce edit of a field the ERP holds loses, and
// Salesforce is repaired to the ERP's value.
func TestExternalWinsRepairsSalesforce(t *testing.T) {
	b := newBidi(t)
	b.salesforceByRecord()
	_, settled := b.startBoth(t, conflict.ExternalWins())
	b.ext.Edit("Contact", "P-2", map[string]any{"LastName": "n5", "Email": "e6"}, at(6*time.Second))
	settled()
	b.sf.Edit("Contact", "P-2", map[string]any{"LastName": "n16"}, at(12*time.Second))
	settled()
	for _, sys := range []*synctest.System{b.sf, b.ext} {
		if got := field(t, sys, "Contact", "P-2", "LastName"); got != "n5" {
			t.Errorf("%s LastName = %v, want the ERP's n5", sys.System(), got)
		}
	}
}

// A repair that waits for the losing side's event (Salesforce shows a
// record version no event has explained yet) holds the losing change's
// outcome until it has its own: released before, the change counted as
// done (settled, or committed before a stop) with its repair unmade.
func TestLosingChangeOutcomeWaitsForItsParkedRepair(t *testing.T) {
	b := newBidi(t)
	b.salesforceByRecord()
	_, settled := b.startBoth(t, conflict.ExternalWins())
	b.ext.Edit("Contact", "P-2", map[string]any{"LastName": "n5"}, at(6*time.Second))
	settled()
	// Salesforce renames the contact, then changes it again where no event
	// tells: the repair to Salesforce waits for that change's event.
	lost := b.sf.EditSilently("Contact", "P-2", map[string]any{"LastName": "n16"}, at(12*time.Second))
	b.sf.EditSilently("Contact", "P-2", map[string]any{"Email": "e17"}, at(13*time.Second))
	b.sfLog.Append(lost)
	settled()
	st := statusByKey(t, b.store)
	if st[lost.Key] != sfsync.StatusConflictLost || st["repair:"+lost.Key] != sfsync.StatusApplied {
		t.Errorf("the change ended %q and its repair %q, want conflict_lost and applied", st[lost.Key], st["repair:"+lost.Key])
	}
	for _, sys := range []*synctest.System{b.sf, b.ext} {
		if got := field(t, sys, "Contact", "P-2", "LastName"); got != "n5" {
			t.Errorf("%s LastName = %v, want the ERP's n5", sys.System(), got)
		}
	}
}

// A Salesforce update newer than the ERP's delete brings the record back
// whole. A field the ERP edited before deleting, whose event is still on
// its way, keeps the ERP's value and is then decided by that edit's own
// version: the resurrecting create neither overwrites it with Salesforce's
// older value nor claims that value at the update's version.
func TestResurrectingCreateLeavesTheTargetsUndecidedEdits(t *testing.T) {
	b := newBidi(t)
	b.salesforceByRecord()
	_, settled := b.startBoth(t, conflict.LastWriteWins())
	b.ext.Edit("Contact", "P-1", map[string]any{"LastName": "n1", "Phone": "p3"}, at(0))
	settled()
	phone := b.ext.EditSilently("Contact", "P-1", map[string]any{"Phone": "p5"}, at(time.Second))
	del := b.ext.RemoveSilently("Contact", "P-1", at(48*time.Second))
	back := b.sf.Edit("Contact", "P-1", map[string]any{"Email": "e35"}, at(51*time.Second))
	settled()
	for _, o := range outcomes(t, b.store, sfsync.OutcomeQuery{Key: back.Key}) {
		if want := "wrote [Email LastName] to external:erp"; !strings.HasPrefix(o.Reason, want) {
			t.Errorf("the update that brings the record back: %q, want it to begin %q", o.Reason, want)
		}
	}
	b.extLog.Append(phone, del)
	settled()
	for _, sys := range []*synctest.System{b.sf, b.ext} {
		r, ok := sys.Record("Contact", "P-1")
		if !ok || r.Deleted {
			t.Errorf("%s: the record is gone, want it live (Salesforce's update is newer than the delete)", sys.System())
			continue
		}
		if r.Fields["Phone"] != "p5" || r.Fields["Email"] != "e35" {
			t.Errorf("%s holds Phone=%v Email=%v, want the ERP's p5 and Salesforce's e35", sys.System(), r.Fields["Phone"], r.Fields["Email"])
		}
	}
}

// External wins, and the ERP deleted the record; its delete's event has not
// been decided (it is on its way, or in the dead letters). A Salesforce
// update then finds the ERP's tombstone without knowing who made it: the
// target made it, so the policy weighs the ERP's delete, which wins, and
// Salesforce is repaired to match instead of the record coming back.
func TestUnexplainedTombstoneIsTheTargetsOwnDelete(t *testing.T) {
	b := newBidi(t)
	b.salesforceByRecord()
	_, settled := b.startBoth(t, conflict.ExternalWins())
	b.sf.Edit("Contact", "P-1", map[string]any{"LastName": "n1", "Phone": "p3"}, at(5*time.Second))
	settled()
	del := b.ext.RemoveSilently("Contact", "P-1", at(18*time.Second))
	b.sf.Edit("Contact", "P-1", map[string]any{"Phone": "p17"}, at(19*time.Second))
	settled()
	b.extLog.Append(del)
	settled()
	for _, sys := range []*synctest.System{b.sf, b.ext} {
		if r, ok := sys.Record("Contact", "P-1"); ok && !r.Deleted {
			t.Errorf("%s has the record live, want it deleted: the ERP's delete wins", sys.System())
		}
	}
}

// External wins, and Salesforce deletes a record the ERP holds: the delete
// loses, and the record is written back to Salesforce whole. (A delete
// touches no field, so the repair needs the record itself marked lost.)
func TestLosingDeleteIsRepairedWithTheWholeRecord(t *testing.T) {
	b := newBidi(t)
	_, settled := b.startBoth(t, conflict.ExternalWins())
	b.ext.Edit("Contact", "P-3", map[string]any{"LastName": "n11", "MailingCity": "c15"}, at(15*time.Second))
	settled()
	del := b.sf.Remove("Contact", "P-3", at(19*time.Second))
	settled()
	st := statusByKey(t, b.store)
	if st[del.Key] != sfsync.StatusConflictLost || st["repair:"+del.Key] != sfsync.StatusApplied {
		t.Errorf("the delete ended %q and its repair %q, want conflict_lost and applied", st[del.Key], st["repair:"+del.Key])
	}
	for _, sys := range []*synctest.System{b.sf, b.ext} {
		r, ok := sys.Record("Contact", "P-3")
		if !ok || r.Deleted || r.Fields["MailingCity"] != "c15" {
			t.Errorf("%s holds %+v (exists %v), want the ERP's record live", sys.System(), r.Fields, ok && !r.Deleted)
		}
	}
}

// With field ownership, a Salesforce delete that loses (the fallback lets
// the ERP keep records) brings the record back to Salesforce whole, with
// the fields Salesforce owns: they went with the record it deleted.
func TestLosingDeleteRepairKeepsTheDeletersOwnedFields(t *testing.T) {
	b := newBidi(t)
	sfSrc, extSrc := b.sfLog.Source(), b.extLog.Source()
	policy := conflict.FieldOwnership(conflict.Owners{"Email": sfsync.Salesforce}, conflict.ExternalWins())
	e, err := sfsyncsync.New(sfSrc, nil, append(b.options(policy), sfsyncsync.WithSource(extSrc))...)
	if err != nil {
		t.Fatal(err)
	}
	start(t, e)
	b.sf.Edit("Contact", "P-8", map[string]any{"LastName": "n1", "Email": "e2"}, at(time.Second))
	settle(t, b.sfLog, sfSrc, b.extLog, extSrc)
	del := b.sf.Remove("Contact", "P-8", at(7*time.Second))
	settle(t, b.sfLog, sfSrc, b.extLog, extSrc)
	// Salesforce (like the fake org) makes a new record of a create: what
	// the repair wrote is all it will hold.
	repaired := false
	for _, o := range outcomes(t, b.store, sfsync.OutcomeQuery{}) {
		if o.Key == "repair:"+del.Key && o.Status == sfsync.StatusApplied {
			repaired = true
			if !strings.Contains(o.Reason, "wrote [Email LastName]") {
				t.Errorf("the repair %q, want it to write the whole record", o.Reason)
			}
		}
	}
	if !repaired {
		t.Error("the delete that lost has no applied repair")
	}
	for _, sys := range []*synctest.System{b.sf, b.ext} {
		r, ok := sys.Record("Contact", "P-8")
		if !ok || r.Deleted || r.Fields["Email"] != "e2" || r.Fields["LastName"] != "n1" {
			t.Errorf("%s holds %+v (live %v), want the record live with Salesforce's email", sys.System(), r.Fields, ok && !r.Deleted)
		}
	}
}

// Salesforce wins and deletes a record; an ERP update of it is decided
// before the delete's event. Salesforce no longer has the record, and the
// version map knows it had it: the update waits for that delete instead of
// creating the record anew, and then loses to it.
func TestUpdateWaitsForTheDeleteOfARecordGoneFromTheTarget(t *testing.T) {
	b := newBidi(t)
	b.salesforceByRecord(synctest.WithDeletedUnread())
	sf := &readHook{System: b.sf}
	sfSrc, extSrc := b.sfLog.Source(), b.extLog.Source()
	e, err := sfsyncsync.New(sfSrc, nil,
		sfsyncsync.WithLogger(quiet()), sfsyncsync.WithTenant(org), sfsyncsync.WithClientID("sfsync"),
		sfsyncsync.WithStore(b.store), sfsyncsync.WithPolicy(conflict.SalesforceWins()), fastRetries(5),
		sfsyncsync.WithRoute(sfsyncsync.Route{From: sfsync.Salesforce, Sink: b.ext}),
		sfsyncsync.WithRoute(sfsyncsync.Route{From: erp, To: sfsync.Salesforce, Sink: sf}),
		sfsyncsync.WithSource(extSrc))
	if err != nil {
		t.Fatal(err)
	}
	start(t, e)
	b.sf.Edit("Contact", "P-2", map[string]any{"LastName": "n5"}, at(5*time.Second))
	settle(t, b.sfLog, sfSrc, b.extLog, extSrc)
	// The delete's event reaches the engine only once the engine has read
	// Salesforce to decide the ERP's update.
	del := b.sf.RemoveSilently("Contact", "P-2", at(14*time.Second))
	sf.onRead(func() { b.sfLog.Append(del) })
	upd := b.ext.Edit("Contact", "P-2", map[string]any{"LastName": "n23"}, at(17*time.Second))
	settle(t, b.extLog, extSrc)
	settle(t, b.sfLog, sfSrc, b.extLog, extSrc)
	if st := statusByKey(t, b.store)[upd.Key]; st != sfsync.StatusConflictLost {
		t.Errorf("the ERP update ended %s, want conflict_lost: Salesforce's delete wins", st)
	}
	if r, ok := b.ext.Record("Contact", "P-2"); ok && !r.Deleted {
		t.Errorf("the ERP has the record live (%v), want it deleted", r.Fields)
	}
}

// readHook is a target that runs a function once, on its first read.
type readHook struct {
	*synctest.System
	mu   stdsync.Mutex
	hook func()
}

func (h *readHook) onRead(f func()) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.hook = f
}

func (h *readHook) Read(ctx context.Context, object string, ids []string) (map[string]sfsync.Record, error) {
	recs, err := h.System.Read(ctx, object, ids)
	h.mu.Lock()
	f := h.hook
	h.hook = nil
	h.mu.Unlock()
	if f != nil {
		f()
	}
	return recs, err
}

// An ERP update of a record whose create never reached Salesforce (it is
// in the dead letters) creates the record there whole, as the ERP holds
// it: written as it is, it would create a record with only the update's
// fields, and the create, requeued, would find those fields filled.
func TestUpdateOfARecordTheTargetLacksCreatesItWhole(t *testing.T) {
	b := newBidi(t)
	b.sf.InjectFault(synctest.Fault{Err: sfsync.Permanent(errors.New("rejected by a validation rule")), Match: func(c sfsync.Change) bool { return c.Op == sfsync.OpCreate }})
	_, settled := b.startBoth(t, conflict.SalesforceWins())
	create := b.ext.Edit("Contact", "P-3", map[string]any{"LastName": "n13", "Email": "e14"}, at(3*time.Second))
	settled()
	if st := statusByKey(t, b.store)[create.Key]; st != sfsync.StatusDeadLettered {
		t.Fatalf("the create ended %s, want dead_lettered", st)
	}
	b.ext.Edit("Contact", "P-3", map[string]any{"LastName": "n17"}, at(4*time.Second))
	settled()
	for _, sys := range []*synctest.System{b.sf, b.ext} {
		r, ok := sys.Record("Contact", "P-3")
		if !ok || r.Fields["Email"] != "e14" || r.Fields["LastName"] != "n17" {
			t.Errorf("%s holds %+v (exists %v), want the ERP's whole record", sys.System(), r.Fields, ok)
		}
	}
}

// A Salesforce change the ERP refused (dead-lettered) still tells which
// fields Salesforce changed at its version: an ERP edit of another field,
// newer than that field's last change, is written, not lost to the
// record's newer version.
func TestDeadLetteredChangeExplainsItsRecordVersion(t *testing.T) {
	b := newBidi(t)
	b.salesforceByRecord()
	_, settled := b.startBoth(t, conflict.LastWriteWins())
	b.ext.Edit("Contact", "P-3", map[string]any{"LastName": "n11", "Phone": "p13", "MailingCity": "c14"}, at(6500*time.Millisecond))
	settled()
	b.ext.InjectFault(synctest.Fault{Err: sfsync.Permanent(errors.New("rejected by a validation rule"))})
	refused := b.sf.Edit("Contact", "P-3", map[string]any{"MailingCity": "c38"}, at(17*time.Second))
	settled()
	if st := statusByKey(t, b.store)[refused.Key]; st != sfsync.StatusDeadLettered {
		t.Fatalf("the Salesforce edit ended %s, want dead_lettered", st)
	}
	phone := b.ext.EditSilently("Contact", "P-3", map[string]any{"Phone": "p15"}, at(7500*time.Millisecond))
	b.extLog.Append(phone)
	settled()
	if st := statusByKey(t, b.store)[phone.Key]; st != sfsync.StatusApplied {
		t.Errorf("the ERP's phone edit ended %s, want applied: Salesforce never changed the phone after it", st)
	}
	if got := field(t, b.sf, "Contact", "P-3", "Phone"); got != "p15" {
		t.Errorf("Salesforce holds Phone=%v, want p15", got)
	}
}

// An undelete brings the record back with the values it had before its
// delete, all carried at the undelete's version. A field the ERP changed
// since, whose edit is not decided yet, keeps the ERP's value, and the
// restored values are not taken as changed at the undelete: the ERP's
// edit, newer than the field's last change in Salesforce, then wins.
func TestUndeleteLeavesTheTargetsUndecidedEdits(t *testing.T) {
	b := newBidi(t)
	b.salesforceByRecord()
	_, settled := b.startBoth(t, conflict.LastWriteWins())
	b.sf.Edit("Account", "001A", map[string]any{"Name": "n22", "Phone": "p24"}, at(11*time.Second))
	b.sf.Edit("Account", "001A", map[string]any{"Phone": "p30"}, at(12*time.Second))
	settled()
	b.sf.Remove("Account", "001A", at(50*time.Second))
	settled()
	cleared := b.ext.EditSilently("Account", "001A", map[string]any{"Phone": nil}, at(51*time.Second))
	b.sf.Restore("Account", "001A", at(63*time.Second))
	settled()
	b.extLog.Append(cleared)
	settled()
	for _, sys := range []*synctest.System{b.sf, b.ext} {
		r, ok := sys.Record("Account", "001A")
		if !ok || r.Deleted || r.Fields["Phone"] != nil || r.Fields["Name"] != "n22" {
			t.Errorf("%s holds %+v (live %v), want the record back with the ERP's later null phone", sys.System(), r.Fields, ok && !r.Deleted)
		}
	}
}
