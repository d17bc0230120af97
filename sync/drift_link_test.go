package sync_test

import (
	"context"
	"fmt"
	"iter"
	"strings"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/conflict"
	"github.com/sfsync/sfsync/reconcile"
	sfsyncsync "github.com/sfsync/sfsync/sync"
	"github.com/sfsync/sfsync/sync/synctest"
)

// linkField is the Salesforce external id field linked mappings use.
const linkField = "External_Id__c"

func linkedMapping() *sfsyncsync.Mapping {
	return &sfsyncsync.Mapping{Object: "Contact", LinkField: linkField, Fields: []sfsyncsync.Field{
		{Salesforce: "LastName", External: "last_name"},
	}}
}

// contactID is the Salesforce id of test Contact i.
func contactID(i int) string { return fmt.Sprintf("0030000000000%02dAAA", i) }

// linkedContacts makes Contacts 0 to n-1 in Salesforce, each announced by
// an event, with LastName N<i>: linked to the external system's P-<i>,
// but for those in unlinked, which have no link yet.
func linkedContacts(b *bidi, n int, unlinked ...int) {
	for i := range n {
		fields := map[string]any{"LastName": fmt.Sprint("N", i), linkField: fmt.Sprint("P-", i)}
		for _, u := range unlinked {
			if u == i {
				delete(fields, linkField)
			}
		}
		b.sf.Edit("Contact", contactID(i), fields, at(time.Duration(i)*time.Second))
	}
}

// lastName returns the last_name of a record of the external system that
// must be live.
func lastName(t *testing.T, s *synctest.System, id string) any {
	t.Helper()
	return live(t, s, id).Fields["last_name"]
}

// noSalesforceIDs fails if the external system holds a record under the
// Salesforce id of a linked contact: it knows them by their links.
func noSalesforceIDs(t *testing.T, s *synctest.System, linked ...int) {
	t.Helper()
	for _, i := range linked {
		if r, ok := s.Record("Contact", contactID(i)); ok {
			t.Errorf("linked contact %d reached %s under its Salesforce id: %+v", i, s.System(), r)
		}
	}
}

// driftRepairsApplied fails unless every drift repair in the ledger was
// applied, and returns how many there were.
func driftRepairsApplied(t *testing.T, b *bidi) int {
	t.Helper()
	n := 0
	for _, o := range outcomes(t, b.store, sfsync.OutcomeQuery{Object: "Contact"}) {
		if strings.HasPrefix(o.Key, "drift:") {
			n++
			if o.Status != sfsync.StatusApplied {
				t.Errorf("drift repair %s: %s (%s), want applied", o.Key, o.Status, o.Reason)
			}
		}
	}
	return n
}

// In a one-way route of a linked mapping, a drift check that compares the
// target keys the target's records as the version map does (by link, or
// by Salesforce id for records not linked yet) and finds what changed on
// either side where no event told: edits, deletes and losses in the
// target, records Salesforce deleted, purged or created, linked or not.
// The target is brought to Salesforce's state under the links; its own
// records are left alone, and a second pass finds nothing.
func TestCheckDriftComparesTheTargetOfALinkedMapping(t *testing.T) {
	b := newBidi(t)
	linkedContacts(b, 7, 6)
	src := b.sfLog.Source()
	e := oneWay(t, b, src, sfsyncsync.WithMapping(linkedMapping()), sfsyncsync.WithLinkReader(b.sf))
	r := start(t, e)
	settle(t, b.sfLog, src)

	// The target: an edit, a delete, a linked and an unlinked record
	// lost, and a record of its own.
	b.ext.EditSilently("Contact", "P-1", map[string]any{"last_name": "Local"}, at(2*time.Minute))
	b.ext.RemoveSilently("Contact", "P-2", at(2*time.Minute))
	b.ext.PurgeSilently("Contact", "P-3")
	b.ext.PurgeSilently("Contact", contactID(6))
	b.ext.EditSilently("Contact", "ext-own", map[string]any{"last_name": "Theirs"}, at(2*time.Minute))
	// Salesforce: a purge, a delete, an edit, and two creates, one linked.
	b.sf.PurgeSilently("Contact", contactID(0))
	b.sf.RemoveSilently("Contact", contactID(4), at(time.Minute))
	b.sf.EditSilently("Contact", contactID(5), map[string]any{"LastName": "Drifted5"}, at(time.Minute))
	b.sf.EditSilently("Contact", contactID(7), map[string]any{"LastName": "New7"}, at(time.Minute))
	b.sf.EditSilently("Contact", contactID(8), map[string]any{"LastName": "New8", linkField: "P-8"}, at(time.Minute))

	ctx := context.Background()
	report, err := e.CheckDrift(ctx, b.sf, "Contact", time.Time{}, sfsyncsync.CompareTarget(b.ext))
	if err != nil {
		t.Fatal(err)
	}
	want := sfsyncsync.DriftReport{Object: "Contact", Checked: 8, Drifted: 5, TargetChecked: 8, TargetDrifted: 4, TargetOnly: 1}
	if report != want {
		t.Errorf("report %+v, want %+v", report, want)
	}
	for id, name := range map[string]string{"P-1": "N1", "P-2": "N2", "P-3": "N3", contactID(6): "N6", "P-5": "Drifted5", contactID(7): "New7", "P-8": "New8"} {
		if got := lastName(t, b.ext, id); got != name {
			t.Errorf("%s last_name = %v in the target after the check, want Salesforce's %q", id, got, name)
		}
	}
	for _, id := range []string{"P-0", "P-4"} {
		if gone, ok := b.ext.Record("Contact", id); !ok || !gone.Deleted {
			t.Errorf("%s, gone from Salesforce, is %+v in the target; want it deleted", id, gone)
		}
	}
	if got := lastName(t, b.ext, "ext-own"); got != "Theirs" {
		t.Errorf("the target's own record was changed: last_name %v", got)
	}
	noSalesforceIDs(t, b.ext, 0, 1, 2, 3, 4, 5, 8)

	again, err := e.CheckDrift(ctx, b.sf, "Contact", time.Time{}, sfsyncsync.CompareTarget(b.ext))
	want = sfsyncsync.DriftReport{Object: "Contact", Checked: 8, TargetChecked: 10, TargetOnly: 1}
	if err != nil || again != want {
		t.Errorf("second pass %+v (%v), want %+v", again, err, want)
	}
	r.stop(t)
	if n := driftRepairsApplied(t, b); n != 5 {
		t.Errorf("%d drift repairs in the ledger, want 5 (four target records, one purged)", n)
	}
}

// A windowed pass of a linked mapping finds a record changed in the
// target that Salesforce's window did not list: the record's Salesforce
// id is found by its link, and it is read from Salesforce and written
// back under the link.
func TestCheckDriftWindowedFindsTheLinkedRecordsSalesforceID(t *testing.T) {
	b := newBidi(t)
	linkedContacts(b, 4)
	src := b.sfLog.Source()
	e := oneWay(t, b, src, sfsyncsync.WithMapping(linkedMapping()), sfsyncsync.WithLinkReader(b.sf))
	start(t, e)
	settle(t, b.sfLog, src)
	b.ext.EditSilently("Contact", "P-1", map[string]any{"last_name": "Local"}, at(2*time.Minute))
	b.ext.RemoveSilently("Contact", "P-2", at(2*time.Minute))
	b.ext.PurgeSilently("Contact", "P-3")
	report, err := e.CheckDrift(context.Background(), b.sf, "Contact", t0.Add(time.Minute), sfsyncsync.CompareTarget(b.ext))
	if err != nil {
		t.Fatal(err)
	}
	want := sfsyncsync.DriftReport{Object: "Contact", TargetChecked: 2, TargetDrifted: 2}
	if report != want {
		t.Errorf("report %+v, want %+v", report, want)
	}
	for id, name := range map[string]string{"P-1": "N1", "P-2": "N2"} {
		if got := lastName(t, b.ext, id); got != name {
			t.Errorf("%s last_name = %v after the windowed check, want %s", id, got, name)
		}
	}
	if _, ok := b.ext.Record("Contact", "P-3"); ok {
		t.Error("a windowed pass brought back a record it cannot know is missing")
	}
	noSalesforceIDs(t, b.ext, 0, 1, 2, 3)
}

// In a two-way route of a linked mapping, the target's changes where no
// event told go to Salesforce under their links (an edit, a delete, and a
// record created there and not linked yet, which Salesforce creates with
// the link), a record lost there and one created in Salesforce without a
// link are written to the target, and one Salesforce purged is deleted
// there. A second pass finds nothing.
func TestCheckDriftTwoWayOfALinkedMapping(t *testing.T) {
	b := newBidi(t)
	b.sf = synctest.NewSystem(sfsync.Salesforce, synctest.WithFeed(b.sfLog), synctest.WithTenant(org), synctest.WithExternalID("Contact", linkField))
	linkedContacts(b, 5, 4)
	sfSrc, extSrc := b.sfLog.Source(), b.extLog.Source()
	e, err := sfsyncsync.New(sfSrc, nil, b.options(conflict.LastWriteWins(),
		sfsyncsync.WithSource(extSrc), sfsyncsync.WithMapping(linkedMapping()), sfsyncsync.WithLinkReader(b.sf),
		sfsyncsync.WithReconciler(reconcile.New(b.sf, reconcile.WithTenant(org), reconcile.WithLogger(quiet()))))...)
	if err != nil {
		t.Fatal(err)
	}
	start(t, e)
	settle(t, b.sfLog, sfSrc, b.extLog, extSrc)

	b.ext.EditSilently("Contact", "P-1", map[string]any{"last_name": "Local"}, at(2*time.Minute))
	b.ext.RemoveSilently("Contact", "P-2", at(2*time.Minute))
	b.ext.PurgeSilently("Contact", "P-3")
	b.ext.EditSilently("Contact", "ext-new", map[string]any{"last_name": "Created here"}, at(2*time.Minute))
	b.sf.PurgeSilently("Contact", contactID(0))
	b.sf.EditSilently("Contact", contactID(5), map[string]any{"LastName": "New5"}, at(time.Minute))
	ctx := context.Background()
	report, err := e.CheckDrift(ctx, b.sf, "Contact", time.Time{}, sfsyncsync.CompareTarget(b.ext))
	if err != nil {
		t.Fatal(err)
	}
	want := sfsyncsync.DriftReport{Object: "Contact", Checked: 5, Drifted: 2, TargetChecked: 6, TargetDrifted: 4}
	if report != want {
		t.Errorf("report %+v, want %+v", report, want)
	}
	settle(t, b.sfLog, sfSrc, b.extLog, extSrc)

	if got := live(t, b.sf, contactID(1)).Fields["LastName"]; got != "Local" {
		t.Errorf("%s LastName = %v in Salesforce, want the target's later edit", contactID(1), got)
	}
	if r, _ := b.sf.Record("Contact", contactID(2)); !r.Deleted {
		t.Errorf("%s is %+v in Salesforce, want it deleted as in the target", contactID(2), r)
	}
	if got := lastName(t, b.ext, "P-3"); got != "N3" {
		t.Errorf("P-3 last_name = %v in the target, want it written back", got)
	}
	if got := lastName(t, b.ext, contactID(5)); got != "New5" {
		t.Errorf("%s last_name = %v in the target, want Salesforce's new record", contactID(5), got)
	}
	if gone, ok := b.ext.Record("Contact", "P-0"); !ok || !gone.Deleted {
		t.Errorf("P-0, purged in Salesforce, is %+v in the target; want it deleted", gone)
	}
	created := 0
	for rec, err := range b.sf.VersionsWith(ctx, "Contact", time.Time{}, linkField, "LastName") {
		if err != nil {
			t.Fatal(err)
		}
		if rec.Fields[linkField] == "ext-new" {
			created++
			if rec.Fields["LastName"] != "Created here" || rec.ID == "ext-new" {
				t.Errorf("the target's new record is %+v in Salesforce, want it created there with its link", rec)
			}
		}
	}
	if created != 1 {
		t.Errorf("%d Salesforce records linked to ext-new, want 1", created)
	}
	for _, id := range []string{"P-1", "P-2", "P-3"} {
		if r, ok := b.sf.Record("Contact", id); ok {
			t.Errorf("Salesforce holds a record under the link %s: %+v", id, r)
		}
	}
	noSalesforceIDs(t, b.ext, 0, 1, 2, 3)

	again, err := e.CheckDrift(ctx, b.sf, "Contact", time.Time{}, sfsyncsync.CompareTarget(b.ext))
	if err != nil || again.Drifted != 0 || again.TargetDrifted != 0 || again.TargetOnly != 0 {
		t.Errorf("second pass %+v (%v), want nothing drifted", again, err)
	}
}

// hidingLister is Salesforce whose version listings leave out some
// records: ones made while a listing ran, or purged.
type hidingLister struct {
	*synctest.System
	hide map[string]bool
}

func (h hidingLister) Versions(ctx context.Context, object string, since time.Time) iter.Seq2[sfsync.Record, error] {
	return h.VersionsWith(ctx, object, since)
}

func (h hidingLister) VersionsWith(ctx context.Context, object string, since time.Time, fields ...string) iter.Seq2[sfsync.Record, error] {
	return func(yield func(sfsync.Record, error) bool) {
		for rec, err := range h.System.VersionsWith(ctx, object, since, fields...) {
			if err == nil && h.hide[rec.ID] {
				continue
			}
			if !yield(rec, err) {
				return
			}
		}
	}
}

// A linked record that Salesforce's listing lacks has no Salesforce id to
// re-read it by, so it is taken for gone from Salesforce only when the
// engine's Salesforce data of it is older than the listing: one created
// while the listing ran (its event applied, the listing begun before) is
// left alone, while one the map knew of long before is deleted in the
// target.
func TestCheckDriftTakesOnlyOldLinkedRecordsForGone(t *testing.T) {
	b := newBidi(t)
	linkedContacts(b, 3)
	b.sf.Edit("Contact", contactID(3), map[string]any{"LastName": "Made during the listing", linkField: "P-3"}, at(90*time.Second))
	src := b.sfLog.Source()
	e := oneWay(t, b, src, sfsyncsync.WithMapping(linkedMapping()), sfsyncsync.WithLinkReader(b.sf),
		sfsyncsync.WithClock(func() time.Time { return t0.Add(91 * time.Second) }))
	start(t, e)
	settle(t, b.sfLog, src)
	lister := hidingLister{System: b.sf, hide: map[string]bool{contactID(0): true, contactID(3): true}}
	report, err := e.CheckDrift(context.Background(), lister, "Contact", time.Time{}, sfsyncsync.CompareTarget(b.ext))
	if err != nil {
		t.Fatal(err)
	}
	want := sfsyncsync.DriftReport{Object: "Contact", Checked: 2, Drifted: 1, TargetChecked: 4}
	if report != want {
		t.Errorf("report %+v, want %+v", report, want)
	}
	if gone, ok := b.ext.Record("Contact", "P-0"); !ok || !gone.Deleted {
		t.Errorf("P-0, unlisted and known long before the listing, is %+v in the target; want it deleted", gone)
	}
	if got := lastName(t, b.ext, "P-3"); got != "Made during the listing" {
		t.Errorf("P-3, made while the listing ran, has last_name %v; want it left alone", got)
	}
}

// A record synced before it was linked is in the target under its
// Salesforce id, and once linked under its link too; the version map and
// the check know it by its link. The check deletes the copy under the
// Salesforce id (Salesforce lists no record by that id now), and later
// changes of the record still reach it under its link.
func TestCheckDriftDeletesTheCopyOfARecordLinkedLater(t *testing.T) {
	b := newBidi(t)
	linkedContacts(b, 2, 1)
	src := b.sfLog.Source()
	e := oneWay(t, b, src, sfsyncsync.WithMapping(linkedMapping()), sfsyncsync.WithLinkReader(b.sf))
	start(t, e)
	settle(t, b.sfLog, src)
	if got := lastName(t, b.ext, contactID(1)); got != "N1" {
		t.Fatalf("the unlinked contact has last_name %v under its Salesforce id, want N1", got)
	}
	b.sf.Edit("Contact", contactID(1), map[string]any{"LastName": "Linked", linkField: "P-1"}, at(time.Minute))
	settle(t, b.sfLog, src)

	report, err := e.CheckDrift(context.Background(), b.sf, "Contact", time.Time{}, sfsyncsync.CompareTarget(b.ext))
	if err != nil {
		t.Fatal(err)
	}
	want := sfsyncsync.DriftReport{Object: "Contact", Checked: 2, Drifted: 1, TargetChecked: 3}
	if report != want {
		t.Errorf("report %+v, want %+v", report, want)
	}
	if got := lastName(t, b.ext, "P-1"); got != "Linked" {
		t.Errorf("P-1 last_name = %v after the check, want Linked", got)
	}
	if stale, _ := b.ext.Record("Contact", contactID(1)); !stale.Deleted {
		t.Errorf("the copy under the Salesforce id is %+v, want it deleted", stale)
	}
	b.sf.Edit("Contact", contactID(1), map[string]any{"LastName": "Later"}, at(3*time.Minute))
	settle(t, b.sfLog, src)
	if got := lastName(t, b.ext, "P-1"); got != "Later" {
		t.Errorf("P-1 last_name = %v after a later change, want Later: the change went elsewhere", got)
	}
}
