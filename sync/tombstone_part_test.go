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
	for _, side := range []*synctest.System{b.sf, b.ext} {
		for rec, err := range side.Scan(context.Background(), "Contact", nil, time.Time{}) {
			if err != nil {
				t.Fatal(err)
			}
			if !rec.Deleted {
				t.Errorf("%s has a live record %s %v: the ERP's delete wins", side.System(), rec.ID, rec.Fields)
			}
		}
	}
}

// Salesforce deletes a record and the ERP, its clock ahead, edits it: the
// edit loses to the delete (Salesforce wins), and the part of its repair
// that writes Salesforce's value of the edited field before deleting the
// ERP's record is dead-lettered. That part is Salesforce's data of before
// its delete, not a change of Salesforce's at the ERP's edit's time:
// Salesforce's own delete, when its event comes, is newer than it, and
// deletes the ERP's record.
func TestDeadLetteredRepairPartKeepsItsDataVersion(t *testing.T) {
	b := newBidi(t)
	b.salesforceAsItIs(40 * time.Second)
	b.ext.InjectFault(synctest.Fault{Err: sfsync.Permanent(errors.New("rejected")), Times: -1,
		Match: func(c sfsync.Change) bool { return strings.HasSuffix(c.Key, "/fields") }})
	r, settled := b.startBoth(t, conflict.SalesforceWins())
	b.sf.Edit("Contact", "003A", map[string]any{"LastName": "N", "MailingCity": "c1"}, at(0))
	settled()

	deleted := b.sf.RemoveSilently("Contact", "003A", at(21*time.Second))
	b.ext.Edit("Contact", "003A", map[string]any{"MailingCity": "c2"}, at(23*time.Second))
	settled()
	b.sfLog.Append(deleted)
	settled()
	r.stop(t)
	logOutcomes(t, b)
	for _, side := range []*synctest.System{b.sf, b.ext} {
		if rec, ok := side.Record("Contact", "003A"); ok && !rec.Deleted {
			t.Errorf("%s has the record live %v: Salesforce's delete wins", side.System(), rec.Fields)
		}
	}
}

// As above, with the part's write taking effect and its acknowledgement
// lost: confirmed by its echo, the part is still Salesforce's data of
// before its delete.
func TestConfirmedRepairPartKeepsItsDataVersion(t *testing.T) {
	b := newBidi(t)
	b.salesforceAsItIs(40 * time.Second)
	b.ext.InjectFault(synctest.Fault{Err: sfsync.Retryable(errors.New("timeout")), AfterApply: true,
		Match: func(c sfsync.Change) bool { return strings.HasSuffix(c.Key, "/fields") }})
	r, settled := b.startBoth(t, conflict.SalesforceWins())
	b.sf.Edit("Contact", "003A", map[string]any{"LastName": "N", "MailingCity": "c1"}, at(0))
	settled()

	deleted := b.sf.RemoveSilently("Contact", "003A", at(21*time.Second))
	b.ext.Edit("Contact", "003A", map[string]any{"MailingCity": "c2"}, at(23*time.Second))
	settled()
	b.sfLog.Append(deleted)
	settled()
	r.stop(t)
	logOutcomes(t, b)
	for _, side := range []*synctest.System{b.sf, b.ext} {
		if rec, ok := side.Record("Contact", "003A"); ok && !rec.Deleted {
			t.Errorf("%s has the record live %v: Salesforce's delete wins", side.System(), rec.Fields)
		}
	}
}

// As above, with the part's write taking effect, its acknowledgement lost,
// and the ERP's user editing the record before the write's echo comes: the
// retry waits for the echo, which confirms the write. Confirmed so, the
// part is still Salesforce's data of before its delete.
func TestRepairPartConfirmedByALateEchoKeepsItsDataVersion(t *testing.T) {
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
	b.ext.InjectFault(synctest.Fault{Err: sfsync.Retryable(errors.New("timeout")), AfterApply: true,
		Match: func(c sfsync.Change) bool { return strings.HasSuffix(c.Key, "/fields") }})
	ext := &lateEcho{target: b.ext, forward: forward}
	ext.edit = func() { b.ext.Edit("Contact", "003A", map[string]any{"LastName": "N2"}, at(30*time.Second)) }
	sfSrc, extSrc := b.sfLog.Source(), b.extLog.Source()
	e, err := sfsyncsync.New(sfSrc, nil,
		sfsyncsync.WithLogger(quiet()), sfsyncsync.WithTenant(org), sfsyncsync.WithClientID("sfsync"),
		sfsyncsync.WithStore(b.store), sfsyncsync.WithPolicy(conflict.SalesforceWins()),
		sfsyncsync.WithRoute(sfsyncsync.Route{From: sfsync.Salesforce, Sink: ext}),
		sfsyncsync.WithRoute(sfsyncsync.Route{From: erp, Sink: b.sf}),
		sfsyncsync.WithSource(extSrc), fastRetries(5))
	if err != nil {
		t.Fatal(err)
	}
	r := start(t, e)
	settled := func() {
		t.Helper()
		settle(t, b.sfLog, sfSrc, b.extLog, extSrc)
	}
	b.sf.Edit("Contact", "003A", map[string]any{"LastName": "N", "MailingCity": "c1"}, at(0))
	settled()
	forward()
	settled()

	deleted := b.sf.RemoveSilently("Contact", "003A", at(21*time.Second))
	b.ext.Edit("Contact", "003A", map[string]any{"MailingCity": "c2"}, at(23*time.Second))
	forward()
	settled()
	b.sfLog.Append(deleted)
	settled()
	forward()
	settled()
	r.stop(t)
	logOutcomes(t, b)
	for _, side := range []*synctest.System{b.sf, b.ext} {
		if rec, ok := side.Record("Contact", "003A"); ok && !rec.Deleted {
			t.Errorf("%s has the record live %v: Salesforce's delete wins", side.System(), rec.Fields)
		}
	}
}

// As above, with the ERP's user editing the part's own field after the
// part landed: the retry finds the record changed since the write's read,
// waits for the write's echo, and only the echo confirms the write.
func TestRepairPartConfirmedByItsEchoKeepsItsDataVersion(t *testing.T) {
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
	b.ext.InjectFault(synctest.Fault{Err: sfsync.Retryable(errors.New("timeout")), AfterApply: true,
		Match: func(c sfsync.Change) bool { return strings.HasSuffix(c.Key, "/fields") }})
	ext := &lateEcho{target: b.ext, forward: forward}
	ext.edit = func() { b.ext.Edit("Contact", "003A", map[string]any{"MailingCity": "c3"}, at(30*time.Second)) }
	sfSrc, extSrc := b.sfLog.Source(), b.extLog.Source()
	e, err := sfsyncsync.New(sfSrc, nil,
		sfsyncsync.WithLogger(quiet()), sfsyncsync.WithTenant(org), sfsyncsync.WithClientID("sfsync"),
		sfsyncsync.WithStore(b.store), sfsyncsync.WithPolicy(conflict.SalesforceWins()),
		sfsyncsync.WithRoute(sfsyncsync.Route{From: sfsync.Salesforce, Sink: ext}),
		sfsyncsync.WithRoute(sfsyncsync.Route{From: erp, Sink: b.sf}),
		sfsyncsync.WithSource(extSrc), fastRetries(5))
	if err != nil {
		t.Fatal(err)
	}
	r := start(t, e)
	settled := func() {
		t.Helper()
		settle(t, b.sfLog, sfSrc, b.extLog, extSrc)
	}
	b.sf.Edit("Contact", "003A", map[string]any{"LastName": "N", "MailingCity": "c1"}, at(0))
	settled()
	forward()
	settled()

	deleted := b.sf.RemoveSilently("Contact", "003A", at(21*time.Second))
	b.ext.Edit("Contact", "003A", map[string]any{"MailingCity": "c2"}, at(23*time.Second))
	forward()
	settled()
	b.sfLog.Append(deleted)
	settled()
	forward()
	settled()
	r.stop(t)
	logOutcomes(t, b)
	for _, side := range []*synctest.System{b.sf, b.ext} {
		if rec, ok := side.Record("Contact", "003A"); ok && !rec.Deleted {
			t.Errorf("%s has the record live %v: Salesforce's delete wins", side.System(), rec.Fields)
		}
	}
}

// The dead-lettered part of TestDeadLetteredRepairPartKeepsItsDataVersion,
// requeued once Salesforce's delete has reached the ERP, finds the ERP's
// record deleted: it must not bring it back.
func TestRequeuedRepairPartNeverBringsTheRecordBack(t *testing.T) {
	b := newBidi(t)
	b.salesforceAsItIs(40 * time.Second)
	b.ext.InjectFault(synctest.Fault{Err: sfsync.Permanent(errors.New("rejected")),
		Match: func(c sfsync.Change) bool { return strings.HasSuffix(c.Key, "/fields") }})
	r, settled := b.startBoth(t, conflict.SalesforceWins())
	b.sf.Edit("Contact", "003A", map[string]any{"LastName": "N", "MailingCity": "c1"}, at(0))
	settled()

	deleted := b.sf.RemoveSilently("Contact", "003A", at(21*time.Second))
	b.ext.Edit("Contact", "003A", map[string]any{"MailingCity": "c2"}, at(23*time.Second))
	settled()
	b.sfLog.Append(deleted)
	settled()
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
	for _, side := range []*synctest.System{b.sf, b.ext} {
		if rec, ok := side.Record("Contact", "003A"); ok && !rec.Deleted {
			t.Errorf("%s has the record live %v: Salesforce's delete wins", side.System(), rec.Fields)
		}
	}
}
