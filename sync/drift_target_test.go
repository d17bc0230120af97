package sync_test

import (
	"context"
	"fmt"
	"iter"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/conflict"
	"github.com/sfsync/sfsync/reconcile"
	sfsyncsync "github.com/sfsync/sfsync/sync"
	"github.com/sfsync/sfsync/sync/synctest"
)

// syncedContacts makes six Contacts in Salesforce, 00300 to 00305, with
// LastName N0 to N5, each announced by an event.
func syncedContacts(b *bidi) {
	for i := range 6 {
		b.sf.Edit("Contact", fmt.Sprintf("003%02d", i), map[string]any{"LastName": fmt.Sprint("N", i)}, at(time.Duration(i)*time.Second))
	}
}

// live returns a record of s that must exist and not be deleted.
func live(t *testing.T, s *synctest.System, id string) sfsync.Record {
	t.Helper()
	r, ok := s.Record("Contact", id)
	if !ok || r.Deleted {
		t.Fatalf("%s in %s: exists %v, deleted %v; want it live", id, s.System(), ok, r.Deleted)
	}
	return r
}

// In a one-way route, a drift check that compares the target finds what
// changed there where no event told (an edit, a delete, a record lost),
// and what Salesforce lost, and brings the target to Salesforce's state
// under keys of their own; records of the target's own are left alone.
// A second pass finds nothing.
func TestCheckDriftComparesTheTarget(t *testing.T) {
	b := newBidi(t)
	syncedContacts(b)
	src := b.sfLog.Source()
	e := oneWay(t, b, src)
	r := start(t, e)
	settle(t, b.sfLog, src)

	b.ext.EditSilently("Contact", "00301", map[string]any{"LastName": "Local"}, at(2*time.Minute))
	b.ext.RemoveSilently("Contact", "00302", at(2*time.Minute))
	b.ext.PurgeSilently("Contact", "00303")
	b.sf.PurgeSilently("Contact", "00304")
	b.sf.EditSilently("Contact", "00305", map[string]any{"LastName": "Drifted5"}, at(time.Minute))
	b.ext.EditSilently("Contact", "ext-own", map[string]any{"LastName": "Theirs"}, at(2*time.Minute))

	ctx := context.Background()
	report, err := e.CheckDrift(ctx, b.sf, "Contact", time.Time{}, sfsyncsync.CompareTarget(b.ext))
	if err != nil {
		t.Fatal(err)
	}
	want := sfsyncsync.DriftReport{Object: "Contact", Checked: 5, Drifted: 2, TargetChecked: 6, TargetDrifted: 3, TargetOnly: 1}
	if report != want {
		t.Errorf("report %+v, want %+v", report, want)
	}
	for id, name := range map[string]string{"00301": "N1", "00302": "N2", "00303": "N3", "00305": "Drifted5"} {
		if got := live(t, b.ext, id).Fields["LastName"]; got != name {
			t.Errorf("%s LastName = %v in the target after the check, want Salesforce's %q", id, got, name)
		}
	}
	if gone, ok := b.ext.Record("Contact", "00304"); !ok || !gone.Deleted {
		t.Errorf("00304, purged in Salesforce, is %+v in the target; want it deleted", gone)
	}
	if got := live(t, b.ext, "ext-own").Fields["LastName"]; got != "Theirs" {
		t.Errorf("the target's own record was changed: LastName %v", got)
	}

	again, err := e.CheckDrift(ctx, b.sf, "Contact", time.Time{}, sfsyncsync.CompareTarget(b.ext))
	want = sfsyncsync.DriftReport{Object: "Contact", Checked: 5, TargetChecked: 7, TargetOnly: 1}
	if err != nil || again != want {
		t.Errorf("second pass %+v (%v), want %+v", again, err, want)
	}
	// Lost again after its repair, at the same Salesforce version: news
	// all the same.
	b.ext.PurgeSilently("Contact", "00303")
	third, err := e.CheckDrift(ctx, b.sf, "Contact", time.Time{}, sfsyncsync.CompareTarget(b.ext))
	if err != nil || third.TargetDrifted != 1 {
		t.Errorf("third pass %+v (%v), want the record lost again found", third, err)
	}
	if got := live(t, b.ext, "00303").Fields["LastName"]; got != "N3" {
		t.Errorf("00303 lost again: LastName %v after the third pass, want N3", got)
	}
	r.stop(t)
	drift := 0
	for _, o := range outcomes(t, b.store, sfsync.OutcomeQuery{Object: "Contact"}) {
		if len(o.Key) > 6 && o.Key[:6] == "drift:" {
			drift++
			if o.Status != sfsync.StatusApplied {
				t.Errorf("drift repair %s: %s (%s), want applied", o.Key, o.Status, o.Reason)
			}
		}
	}
	if drift != 5 {
		t.Errorf("%d drift repairs in the ledger, want 5 (three target records, one purged, one lost again)", drift)
	}
}

// The same unchanged Salesforce version is re-emitted under a new key
// for each difference found: an earlier emission's outcome (here a
// reconciliation's) does not swallow the repair, and the same difference
// found again is a duplicate.
func TestCheckDriftRepairIsNotADuplicateOfTheReconciliation(t *testing.T) {
	b := newBidi(t)
	syncedContacts(b)
	src := b.sfLog.Source()
	e := oneWay(t, b, src)
	start(t, e)
	settle(t, b.sfLog, src)
	ctx := context.Background()
	if err := e.Reconcile(ctx, sfsync.Scope{Tenant: org, Object: "Contact", Reason: "first"}); err != nil {
		t.Fatal(err)
	}
	b.ext.EditSilently("Contact", "00300", map[string]any{"LastName": "Local"}, at(2*time.Minute))
	if err := e.Reconcile(ctx, sfsync.Scope{Tenant: org, Object: "Contact", Reason: "re-emit"}); err != nil {
		t.Fatal(err)
	}
	if got := field(t, b.ext, "Contact", "00300", "LastName"); got != "Local" {
		t.Fatalf("a re-emitting reconciliation repaired the target (%v); the test's premise is gone", got)
	}
	report, err := e.CheckDrift(ctx, b.sf, "Contact", time.Time{}, sfsyncsync.CompareTarget(b.ext))
	if err != nil || report.TargetDrifted != 1 {
		t.Fatalf("report %+v (%v), want 1 record drifted in the target", report, err)
	}
	if got := field(t, b.ext, "Contact", "00300", "LastName"); got != "N0" {
		t.Errorf("00300 LastName = %v after the drift check, want N0", got)
	}
}

// A windowed pass finds what changed in its window on the target's side,
// but takes no record missing for lost: the window leaves out what did
// not change.
func TestCheckDriftWindowedComparesOnlyChanges(t *testing.T) {
	b := newBidi(t)
	syncedContacts(b)
	src := b.sfLog.Source()
	e := oneWay(t, b, src)
	start(t, e)
	settle(t, b.sfLog, src)
	b.ext.EditSilently("Contact", "00301", map[string]any{"LastName": "Local"}, at(2*time.Minute))
	b.ext.PurgeSilently("Contact", "00303")
	report, err := e.CheckDrift(context.Background(), b.sf, "Contact", t0.Add(time.Minute), sfsyncsync.CompareTarget(b.ext))
	if err != nil {
		t.Fatal(err)
	}
	want := sfsyncsync.DriftReport{Object: "Contact", TargetChecked: 1, TargetDrifted: 1}
	if report != want {
		t.Errorf("report %+v, want %+v", report, want)
	}
	if got := field(t, b.ext, "Contact", "00301", "LastName"); got != "N1" {
		t.Errorf("00301 LastName = %v, want N1", got)
	}
	if _, ok := b.ext.Record("Contact", "00303"); ok {
		t.Error("a windowed pass brought back a record it cannot know is missing")
	}
}

// In a two-way route, a change made in the target where no event told is
// the user's edit whose event was lost: it goes to Salesforce as the
// target's change, decided by the policy; a record lost in the target is
// written back from Salesforce. The delete the check writes to Salesforce
// is no drift of Salesforce's on the next pass.
func TestCheckDriftTwoWaySendsTheTargetsChange(t *testing.T) {
	b := newBidi(t)
	syncedContacts(b)
	sfSrc, extSrc := b.sfLog.Source(), b.extLog.Source()
	e, err := sfsyncsync.New(sfSrc, nil, append(b.options(conflict.LastWriteWins()),
		sfsyncsync.WithSource(extSrc),
		sfsyncsync.WithReconciler(reconcile.New(b.sf, reconcile.WithTenant(org), reconcile.WithLogger(quiet()))))...)
	if err != nil {
		t.Fatal(err)
	}
	start(t, e)
	settle(t, b.sfLog, sfSrc, b.extLog, extSrc)

	b.ext.EditSilently("Contact", "00301", map[string]any{"LastName": "Local"}, at(2*time.Minute))
	b.ext.PurgeSilently("Contact", "00302")
	b.ext.RemoveSilently("Contact", "00303", at(2*time.Minute))
	b.ext.EditSilently("Contact", "ext-new", map[string]any{"LastName": "Created here"}, at(2*time.Minute))
	ctx := context.Background()
	report, err := e.CheckDrift(ctx, b.sf, "Contact", time.Time{}, sfsyncsync.CompareTarget(b.ext))
	if err != nil {
		t.Fatal(err)
	}
	if report.TargetDrifted != 4 || report.TargetOnly != 0 {
		t.Errorf("report %+v, want 4 records drifted in the target", report)
	}
	settle(t, b.sfLog, sfSrc, b.extLog, extSrc)
	if got := live(t, b.sf, "00301").Fields["LastName"]; got != "Local" {
		t.Errorf("00301 LastName = %v in Salesforce, want the target's later edit", got)
	}
	if got := live(t, b.ext, "00302").Fields["LastName"]; got != "N2" {
		t.Errorf("00302 LastName = %v in the target, want it written back", got)
	}
	if r, _ := b.sf.Record("Contact", "00303"); !r.Deleted {
		t.Errorf("00303 is %+v in Salesforce, want it deleted as in the target", r)
	}
	if got := live(t, b.sf, "ext-new").Fields["LastName"]; got != "Created here" {
		t.Errorf("ext-new LastName = %v in Salesforce, want the target's record created", got)
	}
	again, err := e.CheckDrift(ctx, b.sf, "Contact", time.Time{}, sfsyncsync.CompareTarget(b.ext))
	if err != nil || again.Drifted != 0 || again.TargetDrifted != 0 {
		t.Errorf("second pass %+v (%v), want nothing drifted", again, err)
	}
}

// racingAuthority is Salesforce whose next re-read by id returns what it
// read before a change that the engine applies meanwhile: a drift repair
// read outside the record's lane, overtaken by a live event.
type racingAuthority struct {
	*synctest.System
	overtake func()
}

func (a *racingAuthority) Scan(ctx context.Context, object string, ids []string, since time.Time) iter.Seq2[sfsync.Record, error] {
	if len(ids) == 0 || a.overtake == nil {
		return a.System.Scan(ctx, object, ids, since)
	}
	var read []sfsync.Record
	for r, err := range a.System.Scan(ctx, object, ids, since) {
		if err != nil {
			return func(yield func(sfsync.Record, error) bool) { yield(r, err) }
		}
		read = append(read, r)
	}
	a.overtake()
	a.overtake = nil
	return func(yield func(sfsync.Record, error) bool) {
		for _, r := range read {
			if !yield(r, nil) {
				return
			}
		}
	}
}

// A drift repair whose re-read a live event overtook is not settled as
// newer than that event: the event's data stays in the target.
func TestCheckDriftRepairOvertakenByAnEvent(t *testing.T) {
	b := newBidi(t)
	syncedContacts(b)
	src := b.sfLog.Source()
	auth := &racingAuthority{System: b.sf}
	e := oneWay(t, b, src, sfsyncsync.WithReconciler(reconcile.New(auth, reconcile.WithTenant(org), reconcile.WithLogger(quiet()))))
	start(t, e)
	settle(t, b.sfLog, src)
	b.ext.EditSilently("Contact", "00301", map[string]any{"LastName": "Local"}, at(2*time.Minute))
	auth.overtake = func() {
		b.sf.Edit("Contact", "00301", map[string]any{"LastName": "Newer"}, at(3*time.Minute))
		settle(t, b.sfLog, src)
	}
	report, err := e.CheckDrift(context.Background(), b.sf, "Contact", time.Time{}, sfsyncsync.CompareTarget(b.ext))
	if err != nil || report.TargetDrifted != 1 {
		t.Fatalf("report %+v (%v), want 1 record drifted in the target", report, err)
	}
	if auth.overtake != nil {
		t.Fatal("the repair did not re-read the record")
	}
	if got := field(t, b.ext, "Contact", "00301", "LastName"); got != "Newer" {
		t.Errorf("00301 LastName = %v in the target, want the event's Newer, applied after the repair's read", got)
	}
}
