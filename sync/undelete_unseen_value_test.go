package sync_test

import (
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/conflict"
	"github.com/sfsync/sfsync/reconcile"
	sfsyncsync "github.com/sfsync/sfsync/sync"
	"github.com/sfsync/sfsync/sync/synctest"
)

// startModstamp starts an engine syncing b both ways under last write
// wins, Salesforce read as the REST API reads it (SystemModstamp, whole
// seconds, no field versions) and re-read by id through a reconciler; it
// returns the wait for both logs to be committed whole.
func startModstamp(t *testing.T, b *bidi) (settled func()) {
	t.Helper()
	a := &modstampAuthority{sys: b.sf, old: map[string]sfsync.Record{}}
	sfSrc, extSrc := b.sfLog.Source(), b.extLog.Source()
	e, err := sfsyncsync.New(sfSrc, nil,
		sfsyncsync.WithLogger(quiet()), sfsyncsync.WithTenant(org), sfsyncsync.WithClientID("sfsync"),
		sfsyncsync.WithStore(b.store), sfsyncsync.WithPolicy(conflict.LastWriteWins()),
		sfsyncsync.WithRoute(sfsyncsync.Route{From: sfsync.Salesforce, Sink: b.ext}),
		sfsyncsync.WithRoute(sfsyncsync.Route{From: erp, Sink: modstampReads{recordVersioned{b.sf}}}),
		sfsyncsync.WithReconciler(reconcile.New(a, reconcile.WithTenant(org), reconcile.WithLogger(quiet()))),
		sfsyncsync.WithSource(extSrc), fastRetries(5))
	if err != nil {
		t.Fatal(err)
	}
	start(t, e)
	settled = func() { t.Helper(); settle(t, b.sfLog, sfSrc, b.extLog, extSrc) }
	settled()
	return settled
}

// The ERP edits the city (at extEditAt); Salesforce edits it too
// (sfEdit) and deletes the contact (sfDelete). The ERP's edit is decided
// first, against Salesforce's tombstone as read (its second alone), and
// loses to the delete, which goes to the ERP. Salesforce's edit comes
// next, superseded by the delete it preceded, which the map holds
// already: before, its data never reached the version map. Salesforce's
// undelete restores the record with that city; the ERP's edit lost to the
// delete, and is decided against it on its merit. Where Salesforce's edit
// is the newer, its city stands: dated at the older data the map held
// (the create's), it lost to the ERP's older edit, which stood in the
// record brought back and was repaired over Salesforce's newer city (seen
// in the simulator, seed 89852). Where the ERP's edit is the newer, it
// stands, and goes to Salesforce (the delete's version, as a bound, would
// date Salesforce's edit too late).
func undeleteRestoresUnseenEdit(t *testing.T, extEditAt time.Duration, sfEdit, sfDelete sfsync.Version, want, why string) {
	b := newBidi(t)
	b.sf.Edit("Contact", "003A", map[string]any{"LastName": "N", "MailingCity": "c8"}, commitAt(1000, 3))
	settled := startModstamp(t, b)
	extEdit := b.ext.EditSilently("Contact", "003A", map[string]any{"MailingCity": "c13"}, at(extEditAt))
	edit := b.sf.EditSilently("Contact", "003A", map[string]any{"MailingCity": "c14"}, sfEdit)
	del := b.sf.RemoveSilently("Contact", "003A", sfDelete)
	b.extLog.Append(extEdit)
	settled()
	if rec, _ := b.ext.Record("Contact", "003A"); !rec.Deleted {
		t.Fatalf("the ERP holds %+v after its edit lost to Salesforce's delete, want it deleted", rec)
	}
	b.sfLog.Append(edit)
	settled()
	b.sfLog.Append(del)
	settled()
	b.sf.Restore("Contact", "003A", commitAt(16000, 9))
	settled()
	b.bothHold(t, "Contact", "003A", "MailingCity", want, why)
	for _, sys := range []*synctest.System{b.sf, b.ext} {
		if rec, ok := sys.Record("Contact", "003A"); !ok || rec.Deleted {
			t.Errorf("%s holds %+v, want the record live: Salesforce's undelete is its last change", sys.System(), rec)
		}
	}
	if t.Failed() {
		logOutcomes(t, b)
	}
}

// Salesforce's edit falls in the second of its delete's tombstone as read:
// its event, re-read by id, is read as the delete.
func TestUndeleteRestoresAnEditRereadAsItsDelete(t *testing.T) {
	undeleteRestoresUnseenEdit(t, 6*time.Second, commitAt(7200, 4), commitAt(7500, 5), "c14",
		"Salesforce's city, restored by its undelete, is newer than the ERP's edit, which lost to the delete")
}

// Salesforce's edit is of an earlier second than its delete's tombstone as
// read: its event is stale against that delete.
func TestUndeleteRestoresAnEditStaleAgainstItsDelete(t *testing.T) {
	undeleteRestoresUnseenEdit(t, 6*time.Second, commitAt(6300, 4), commitAt(7500, 5), "c14",
		"Salesforce's city, restored by its undelete, is newer than the ERP's edit, which lost to the delete")
}

// The same, with the ERP's edit newer than Salesforce's: it stands.
func TestUndeleteKeepsATargetEditNewerThanAnEditStaleAgainstItsDelete(t *testing.T) {
	undeleteRestoresUnseenEdit(t, 6600*time.Millisecond, commitAt(6300, 4), commitAt(7500, 5), "c13",
		"the ERP's city is newer than Salesforce's, and lost only to the delete")
}
