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

// A delete is decided against the record's last change, not against the
// time Salesforce stamped on the engine's own write of an older change:
// that write carried the ERP's edit, and the last change of the record is
// a Salesforce user's. The delete ties with it within the skew, and
// Salesforce, the system of record, wins the tie, as it does when the
// two changes meet the other way round.
func TestDeleteIsDecidedAgainstTheLastChangeNotTheStampOfOurWrite(t *testing.T) {
	b := newBidi(t)
	b.salesforceByRecord(synctest.WithDeletedUnread(), synctest.WithWriteClock(func() sfsync.Version { return at(32 * time.Second) }))
	_, settled := b.startBoth(t, conflict.LastWriteWins(conflict.WithSkewTolerance(2*time.Second)))
	b.sf.Edit("Contact", "003A", map[string]any{"LastName": "n", "MailingCity": "c"}, at(time.Second))
	settled()
	b.ext.Edit("Contact", "003A", map[string]any{"LastName": "erp"}, at(28500*time.Millisecond))
	settled()
	b.sf.Edit("Contact", "003A", map[string]any{"MailingCity": "sf"}, at(29*time.Second))
	settled()
	del := b.ext.Remove("Contact", "003A", at(30500*time.Millisecond))
	settled()
	if st := statusByKey(t, b.store)[del.Key]; st != sfsync.StatusConflictLost {
		t.Errorf("the ERP's delete ended %s, want conflict_lost: it ties with Salesforce's update at 29s", st)
	}
	for _, side := range []*synctest.System{b.sf, b.ext} {
		if rec, ok := side.Record("Contact", "003A"); !ok || rec.Deleted {
			t.Errorf("%s holds %+v (found %v), want the record live", side.System(), rec, ok)
		}
	}
}

// A change that lost its conflict leaves its data in its own system only:
// the next change of that system is decided against what the target
// holds, not against the change that lost there.
func TestALosingChangeDoesNotDescribeTheTargetsField(t *testing.T) {
	b := newBidi(t)
	b.salesforceByRecord()
	_, settled := b.startBoth(t, conflict.LastWriteWins(conflict.WithSkewTolerance(2*time.Second)))
	b.sf.Edit("Contact", "003A", map[string]any{"LastName": "n"}, at(time.Second))
	settled()
	b.sf.Edit("Contact", "003A", map[string]any{"LastName": "sf"}, at(9*time.Second))
	settled()
	first := b.ext.Edit("Contact", "003A", map[string]any{"LastName": "erp1"}, at(9500*time.Millisecond))
	settled()
	second := b.ext.Edit("Contact", "003A", map[string]any{"LastName": "erp2"}, at(9600*time.Millisecond))
	settled()
	statuses := statusByKey(t, b.store)
	for _, c := range []sfsync.Change{first, second} {
		if st := statuses[c.Key]; st != sfsync.StatusConflictLost {
			t.Errorf("the ERP's edit %s ended %s, want conflict_lost: it ties with Salesforce's, which wins ties", c.Key, st)
		}
	}
	b.bothHold(t, "Contact", "003A", "LastName", "sf", "Salesforce's")
}

// A change that could not be written (dead-lettered) is still its own
// system's data: the other system's change, decided meanwhile against that
// system, is compared with it, and loses a tie to Salesforce as it would
// have had the write gone through.
func TestADeadLetteredChangeStillDescribesItsOwnSystem(t *testing.T) {
	b := newBidi(t)
	b.salesforceByRecord()
	_, settled := b.startBoth(t, conflict.LastWriteWins(conflict.WithSkewTolerance(2*time.Second)))
	b.sf.Edit("Contact", "003A", map[string]any{"LastName": "n"}, at(time.Second))
	settled()
	b.ext.InjectFault(synctest.Fault{Err: sfsync.Permanent(errors.New("validation rule"))})
	dead := b.sf.Edit("Contact", "003A", map[string]any{"LastName": "sf"}, at(6*time.Second))
	settled()
	if st := statusByKey(t, b.store)[dead.Key]; st != sfsync.StatusDeadLettered {
		t.Fatalf("Salesforce's edit ended %s, want dead_lettered", st)
	}
	erpEdit := b.ext.Edit("Contact", "003A", map[string]any{"LastName": "erp"}, at(4*time.Second))
	settled()
	if st := statusByKey(t, b.store)[erpEdit.Key]; st != sfsync.StatusConflictLost {
		t.Errorf("the ERP's edit ended %s, want conflict_lost: it ties with Salesforce's, which wins ties", st)
	}
	if got := field(t, b.sf, "Contact", "003A", "LastName"); got != "sf" {
		t.Errorf("Salesforce holds LastName=%v, want its own newer value", got)
	}
}

// The ERP's edits arrive after Salesforce's later changes of other fields
// were synced. Salesforce's record version is its last change's, but the
// field the ERP edited was last set in Salesforce long before: the ERP's
// newer edit of it wins, and both systems end with it.
func TestLateEditIsDecidedAgainstTheFieldsOwnVersionNotTheRecords(t *testing.T) {
	b := newBidi(t)
	b.salesforceByRecord()
	_, settled := b.startBoth(t, conflict.LastWriteWins())
	b.sf.Edit("Contact", "003A", map[string]any{"LastName": "n1", "Email": "e2"}, at(time.Second))
	created := b.ext.EditSilently("Contact", "003A", map[string]any{"LastName": "n5", "Email": "e6"}, at(time.Second))
	edited := b.ext.EditSilently("Contact", "003A", map[string]any{"LastName": "n9"}, at(6*time.Second))
	b.sf.Edit("Contact", "003A", map[string]any{"Email": "e18"}, at(8*time.Second))
	b.sf.Edit("Contact", "003A", map[string]any{"MailingCity": "c24"}, at(24*time.Second))
	settled()
	b.extLog.Append(created)
	b.extLog.Append(edited)
	settled()
	b.bothHold(t, "Contact", "003A", "LastName", "n9", "the ERP's n9 of 6s (Salesforce set it at 1s)")
	b.bothHold(t, "Contact", "003A", "Email", "e18", "Salesforce's e18 of 8s")
}

// A change dead-lettered before its record was deleted and undeleted in
// its own system is not made stale by that delete: the undelete brought
// the record back with the change's data, and the requeue still writes it
// where the other system does not hold it. Here the undelete left the
// field to the ERP's own edit, which lost its tie to that very change.
func TestRequeueAfterTheSourceUndeletedTheRecordApplies(t *testing.T) {
	b := newBidi(t)
	b.salesforceByRecord()
	r, settled := b.startBoth(t, conflict.LastWriteWins(conflict.WithSkewTolerance(time.Second)))
	b.sf.Edit("Contact", "003A", map[string]any{"LastName": "N", "Email": "e0"}, at(0))
	settled()

	b.ext.InjectFault(synctest.Fault{Err: sfsync.Permanent(errors.New("validation rule"))})
	dead := b.sf.Edit("Contact", "003A", map[string]any{"Email": "e1"}, at(7*time.Second))
	erpEdit := b.ext.EditSilently("Contact", "003A", map[string]any{"Email": "e2"}, at(6500*time.Millisecond))
	settled()
	b.sf.Remove("Contact", "003A", at(16*time.Second))
	b.sf.Restore("Contact", "003A", at(17*time.Second))
	settled()
	b.extLog.Append(erpEdit)
	settled()
	if st := statusByKey(t, b.store)[erpEdit.Key]; st != sfsync.StatusConflictLost {
		t.Fatalf("the ERP's edit ended %s, want conflict_lost: it ties with Salesforce's e1, and Salesforce wins ties", st)
	}
	if _, err := r.e.Requeue(context.Background(), dead.Key); err != nil {
		t.Fatal(err)
	}
	settled()
	b.bothHold(t, "Contact", "003A", "Email", "e1", "Salesforce's e1")
}

// The ERP creates a record whose email Salesforce owns: Salesforce's record
// is created without it, and the ERP's value is cleared. The ERP's clock
// runs ahead, so a Salesforce user's email set right after carries an
// earlier time than the ERP's create: it is still Salesforce's newest
// email, and reaches the ERP.
func TestOwnersEditAfterACreateThatLostTheFieldReachesTheLoser(t *testing.T) {
	b := newBidi(t)
	b.salesforceByRecord()
	_, settled := b.startBoth(t, conflict.FieldOwnership(conflict.Owners{"Email": sfsync.Salesforce}, conflict.SalesforceWins()))
	b.ext.Edit("Contact", "003A", map[string]any{"LastName": "N", "Email": "e16"}, at(8500*time.Millisecond))
	settled()
	if got := field(t, b.ext, "Contact", "003A", "Email"); got != nil {
		t.Fatalf("the ERP's email = %v after its create, want it cleared: Salesforce owns it and never set it", got)
	}
	b.sf.Edit("Contact", "003A", map[string]any{"Email": "e19"}, at(8*time.Second))
	settled()
	b.bothHold(t, "Contact", "003A", "Email", "e19", "Salesforce's e19")
}

// A repair writes the winner's value back to the loser, decided with the
// losing change's version, but the data is the winner's from long before:
// the version map must not take it as the winner's at the loser's time
// (another clock), or the winner's next edit looks older than it.
func TestRepairDoesNotClaimTheWinnersDataAtTheLosersTime(t *testing.T) {
	b := newBidi(t)
	b.salesforceByRecord()
	_, settled := b.startBoth(t, conflict.SalesforceWins())
	b.sf.Edit("Contact", "003A", map[string]any{"LastName": "N", "MailingCity": "c1"}, at(time.Second))
	settled()
	lost := b.ext.Edit("Contact", "003A", map[string]any{"MailingCity": "cE"}, at(8500*time.Millisecond))
	settled()
	if st := statusByKey(t, b.store)[lost.Key]; st != sfsync.StatusConflictLost {
		t.Fatalf("the ERP's edit ended %s, want conflict_lost", st)
	}
	b.sf.Edit("Contact", "003A", map[string]any{"MailingCity": "c25"}, at(8*time.Second))
	settled()
	b.bothHold(t, "Contact", "003A", "MailingCity", "c25", "Salesforce's c25")
}

// A repair that clears a field its winner never set was dead-lettered,
// and the winner set the field since: requeued, it clears nothing.
func TestRequeuedRepairOfAnUnsetFieldDoesNotClearItsLaterValue(t *testing.T) {
	b := newBidi(t)
	b.salesforceByRecord()
	r, settled := b.startBoth(t, conflict.FieldOwnership(conflict.Owners{"Email": sfsync.Salesforce}, conflict.LastWriteWins()))
	b.ext.InjectFault(synctest.Fault{Err: sfsync.Permanent(errors.New("validation rule")), Match: func(c sfsync.Change) bool { return c.Source == sfsync.Salesforce }})
	created := b.ext.Edit("Contact", "003A", map[string]any{"LastName": "N", "Email": "e1"}, at(10*time.Second))
	settled()
	var repair string
	for k, st := range statusByKey(t, b.store) {
		if st == sfsync.StatusDeadLettered {
			repair = k
		}
	}
	if repair != "repair:"+created.Key {
		t.Fatalf("dead letter %q, want the repair of the ERP's create", repair)
	}
	b.sf.Edit("Contact", "003A", map[string]any{"Email": "e23"}, at(18*time.Second))
	settled()
	if _, err := r.e.Requeue(context.Background(), repair); err != nil {
		t.Fatal(err)
	}
	settled()
	b.bothHold(t, "Contact", "003A", "Email", "e23", "Salesforce's e23")
}
