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

// A change that an engine applied and then crashed before recording its
// outcome is redelivered to the next engine, which must recognise it as
// applied from the field versions of the target. The policy kept only some
// of its fields, so the target shows its version on those and none on the
// field that lost: that is no sign that the change is missing.
func TestChangeAppliedBeforeACrashIsNotWrittenAgain(t *testing.T) {
	b, c := createLandedWithoutPhone(t, map[string]any{"LastName": "n", "Phone": "1", "Email": "sf@example.com"}, at(0))
	if n := b.ext.Applications(c.Key); n != 1 {
		t.Errorf("the create took effect %d times in the ERP, want once", n)
	}
	if st := statusByKey(t, b.store)[c.Key]; st != sfsync.StatusApplied {
		t.Errorf("the create ended %s, want applied", st)
	}
	// The crash may have lost the repair of the field that lost too.
	b.bothHold(t, "Contact", "003A", "Phone", nil, "none: the ERP owns it and never set it")
	b.bothHold(t, "Contact", "003A", "Email", "sf@example.com", "Salesforce's")
}

// Updates of a record whose delete won must all lose, however new they are
// on their own clock: the first one to lose is no sign that the record came
// back, and the next must not recreate it.
func TestUpdatesThatLoseToADeleteNeverBringTheRecordBack(t *testing.T) {
	b := newBidi(t)
	b.salesforceByRecord(synctest.WithDeletedUnread())
	_, settled := b.startBoth(t, conflict.SalesforceWins())
	b.sf.Edit("Contact", "003A", map[string]any{"LastName": "n"}, at(0))
	settled()
	b.sf.Remove("Contact", "003A", at(14*time.Second))
	settled()
	first := b.ext.Edit("Contact", "003A", map[string]any{"LastName": "e1"}, at(14500*time.Millisecond))
	settled()
	second := b.ext.Edit("Contact", "003A", map[string]any{"LastName": "e2"}, at(17500*time.Millisecond))
	settled()
	statuses := statusByKey(t, b.store)
	for _, c := range []sfsync.Change{first, second} {
		if st := statuses[c.Key]; st != sfsync.StatusConflictLost {
			t.Errorf("the ERP's update %s ended %s, want conflict_lost: Salesforce's delete wins", c.Key, st)
		}
	}
	if rec, ok := b.sf.Record("Contact", "003A"); !ok || !rec.Deleted {
		t.Errorf("Salesforce holds %+v (found %v), want the record deleted", rec, ok)
	}
}

// A delete whose acknowledgement was lost is not written again: the retry
// finds no live record, whether or not the target reads deleted ones.
func TestDeleteWithALostAcknowledgementIsWrittenOnce(t *testing.T) {
	b := newBidi(t)
	b.salesforceByRecord(synctest.WithDeletedUnread(), synctest.WithoutKeyIdempotency())
	_, settled := b.startBoth(t, conflict.LastWriteWins())
	b.sf.Edit("Contact", "003A", map[string]any{"LastName": "n"}, at(time.Second))
	settled()
	b.sf.InjectFault(synctest.Fault{Err: sfsync.Retryable(errors.New("timeout")), AfterApply: true})
	del := b.ext.Remove("Contact", "003A", at(5*time.Second))
	settled()
	if n := b.sf.Applications(del.Key); n != 1 {
		t.Errorf("the delete took effect %d times in Salesforce, want once", n)
	}
	if st := statusByKey(t, b.store)[del.Key]; st != sfsync.StatusApplied {
		t.Errorf("the delete ended %s, want applied", st)
	}
}

// A change applied before a crash, whose record the target deleted since,
// is recognised as applied from the tombstone's field versions: writing it
// again would bring the record back under its key. The delete decides for
// itself, and loses to Salesforce here, which brings the record back once.
func TestChangeAppliedBeforeTheTargetDeletedItIsNotWrittenAgain(t *testing.T) {
	b := newBidi(t, synctest.WithoutKeyIdempotency())
	c := b.sf.Edit("Contact", "003A", map[string]any{"LastName": "n", "Email": "sf@example.com"}, at(0))
	if err := b.ext.Write(context.Background(), []sfsync.Change{c}); err != nil {
		t.Fatal(err)
	}
	del := b.ext.Remove("Contact", "003A", at(5*time.Second))
	_, settled := b.startBoth(t, conflict.SalesforceWins())
	settled()
	if n := b.ext.Applications(c.Key); n != 1 {
		t.Errorf("the create took effect %d times in the ERP, want once", n)
	}
	if st := statusByKey(t, b.store)[del.Key]; st != sfsync.StatusConflictLost {
		t.Errorf("the ERP's delete ended %s, want conflict_lost: Salesforce wins", st)
	}
	for _, side := range []*synctest.System{b.sf, b.ext} {
		if rec, ok := side.Record("Contact", "003A"); !ok || rec.Deleted || rec.Fields["Email"] != "sf@example.com" {
			t.Errorf("%s holds %+v (found %v), want the record live with Salesforce's data", side.System(), rec, ok)
		}
	}
}

// The same with a create that landed in part: the ERP owns the phone, so
// the crashed engine wrote the create without it, and the ERP's tombstone
// shows the create's version on every field but that one. The delete came
// after the create's write, and decides for itself: the create is not
// decided again against it (Salesforce's data winning over the delete
// would bring the record back under the create's key, a second effect).
func TestChangeAppliedInPartBeforeTheTargetDeletedItIsNotWrittenAgain(t *testing.T) {
	b := newBidi(t, synctest.WithoutKeyIdempotency())
	c := b.sf.Edit("Contact", "003A", map[string]any{"LastName": "n", "Email": "sf@example.com", "Phone": "p1"}, at(0))
	written := c.Clone()
	delete(written.Fields, "Phone")
	if err := b.ext.Write(context.Background(), []sfsync.Change{written}); err != nil {
		t.Fatal(err)
	}
	del := b.ext.Remove("Contact", "003A", at(5*time.Second))
	_, settled := b.startBoth(t, conflict.FieldOwnership(conflict.Owners{"Phone": erp}, conflict.SalesforceWins()))
	settled()
	logOutcomes(t, b)
	if n := b.ext.Applications(c.Key); n != 1 {
		t.Errorf("the create took effect %d times in the ERP, want once", n)
	}
	if st := statusByKey(t, b.store)[c.Key]; st != sfsync.StatusApplied {
		t.Errorf("the create ended %s, want applied", st)
	}
	if st := statusByKey(t, b.store)[del.Key]; st != sfsync.StatusConflictLost {
		t.Errorf("the ERP's delete ended %s, want conflict_lost: Salesforce wins", st)
	}
	b.bothHold(t, "Contact", "003A", "Email", "sf@example.com", "Salesforce's: its record is back")
}

// The crashed engine's write of the ERP's create landed in Salesforce,
// which stamped it with the time it took it. That stamp is not a
// Salesforce user's edit: the ERP's own later edit of the field is newer
// than the data there, and wins.
func TestOurWriteLandedBeforeACrashDoesNotOutdateTheSourcesNextEdit(t *testing.T) {
	b := newBidi(t)
	b.salesforceByRecord(synctest.WithWriteClock(func() sfsync.Version { return at(49 * time.Second) }))
	created := b.ext.Edit("Contact", "003A", map[string]any{"LastName": "n17", "Email": "e1"}, at(6*time.Second))
	// What the crashed engine wrote: the create without the email,
	// which Salesforce owns.
	written := created.Clone()
	delete(written.Fields, "Email")
	if err := b.sf.Write(context.Background(), []sfsync.Change{written}); err != nil {
		t.Fatal(err)
	}
	b.ext.Edit("Contact", "003A", map[string]any{"LastName": "n23"}, at(43*time.Second))
	_, settled := b.startBoth(t, conflict.FieldOwnership(conflict.Owners{"Email": sfsync.Salesforce}, conflict.LastWriteWins()))
	settled()
	b.bothHold(t, "Contact", "003A", "LastName", "n23", "the ERP's newer n23")
}

// The crashed engine's create landed in the ERP, and a user of the ERP
// deleted the record after it, with an older time on the ERP's clock. The
// next engine leaves the record to that delete's event, which loses to
// the newer create and brings the record back as its repair: the create
// itself takes effect once.
func TestCreateAppliedBeforeACrashAndDeletedSinceIsNotWrittenAgain(t *testing.T) {
	b := newBidi(t, synctest.WithoutKeyIdempotency())
	r, settled := b.startBoth(t, conflict.LastWriteWins())
	b.sf.Edit("Contact", "003B", map[string]any{"LastName": "other"}, at(time.Second))
	settled()
	r.stop(t)

	c := b.sf.Edit("Contact", "003A", map[string]any{"LastName": "n", "Phone": "p1"}, at(10*time.Second))
	if err := b.ext.Write(context.Background(), []sfsync.Change{c.Clone()}); err != nil {
		t.Fatal(err)
	}
	del := b.ext.RemoveSilently("Contact", "003A", at(9*time.Second))
	_, settled = b.startBoth(t, conflict.LastWriteWins())
	settled()
	b.extLog.Append(del)
	settled()
	if n := b.ext.Applications(c.Key); n != 1 {
		t.Errorf("the create took effect %d times in the ERP, want once", n)
	}
	for _, side := range []*synctest.System{b.sf, b.ext} {
		if rec, ok := side.Record("Contact", "003A"); !ok || rec.Deleted || rec.Fields["Phone"] != "p1" {
			t.Errorf("%s holds %+v (found %v), want the record live with Phone p1: the create is newer than the delete", side.System(), rec, ok)
		}
	}
}

// The crashed engine's create landed in Salesforce, which versions only
// whole records and keeps no idempotency keys, and a Salesforce user
// edited the record after it. The next engine sees the create's echo come
// back from Salesforce (our origin): the record lives there because our
// write made it, so the ERP's create, redelivered, is not written again.
func TestCreateThatMadeTheTargetsRecordBeforeACrashIsNotWrittenAgain(t *testing.T) {
	b := newBidi(t)
	b.salesforceByRecord(synctest.WithoutKeyIdempotency(), synctest.WithWriteClock(func() sfsync.Version { return at(3 * time.Second) }))
	c := b.ext.Edit("Contact", "003A", map[string]any{"LastName": "n", "Phone": "p1"}, at(time.Second))
	if err := b.sf.Write(context.Background(), []sfsync.Change{c.Clone()}); err != nil {
		t.Fatal(err)
	}
	// The user's edit, in the same instant as our write (Salesforce stamps
	// records to the second), reaches the engine after the create.
	user := b.sf.EditSilently("Contact", "003A", map[string]any{"LastName": "sf"}, at(3*time.Second))
	_, settled := b.startBoth(t, conflict.ExternalWins())
	settled()
	b.sfLog.Append(user)
	settled()
	if n := b.sf.Applications(c.Key); n != 1 {
		t.Errorf("the create took effect %d times in Salesforce, want once", n)
	}
	if st := statusByKey(t, b.store)[c.Key]; st != sfsync.StatusApplied {
		t.Errorf("the create ended %s, want applied", st)
	}
	b.bothHold(t, "Contact", "003A", "LastName", "n", "the ERP's: it wins")
	b.bothHold(t, "Contact", "003A", "Phone", "p1", "the ERP's")
}

// The crashed engine's create landed in the ERP except the field the ERP
// owns, which lost. The next engine finds the ERP showing the create's
// version on the fields it wrote and decides the rest anew; the version
// map must learn those fields' data all the same: it is synced, at the
// create's version. Without it, a later decision that had to take the
// target's unseen changes as setting any field it could not place took
// Salesforce's synced LastName as changed at its record's newest version,
// and the ERP's newer edit of it lost (seen in the simulator).
func TestChangeShownAppliedInPartIsRememberedWhole(t *testing.T) {
	b, c := createLandedWithoutPhone(t, map[string]any{"LastName": "n", "Phone": "1"}, at(7*time.Second))
	vs, err := b.store.AppliedVersions(context.Background(), []string{c.RecordKey()})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		if v.Source == sfsync.Salesforce && v.Field == "LastName" && v.Version.Compare(c.Version) == 0 {
			return
		}
	}
	t.Errorf("the version map holds no Salesforce LastName at the create's version %s: %+v", c.Version, vs)
}

// createLandedWithoutPhone is b after an engine wrote Salesforce's create
// of 003A with fields to the ERP, all but the ERP-owned Phone, and crashed
// before its outcome; the next engine, syncing both ways under field
// ownership (Phone the ERP's, last write wins for the rest), has settled.
func createLandedWithoutPhone(t *testing.T, fields map[string]any, v sfsync.Version) (*bidi, sfsync.Change) {
	t.Helper()
	b := newBidi(t, synctest.WithoutKeyIdempotency())
	c := b.sf.Edit("Contact", "003A", fields, v)
	written := c.Clone()
	delete(written.Fields, "Phone")
	if err := b.ext.Write(context.Background(), []sfsync.Change{written}); err != nil {
		t.Fatal(err)
	}
	policy := conflict.FieldOwnership(conflict.Owners{"Phone": erp}, conflict.LastWriteWins())
	_, settled := b.startBoth(t, policy)
	settled()
	return b, c
}
