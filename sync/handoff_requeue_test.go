package sync_test

import (
	"context"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/reconcile"
	sfsyncsync "github.com/sfsync/sfsync/sync"
)

// An event of the second of an applied row is re-read by id, and what the
// record holds is written, at a version just after the applied row's. That
// write is rejected for now (a dead letter), whose version-map entries are
// at that version. Requeued, the dead letter is the event as delivered, at
// its own commit time, which is older: it was taken as stale against its
// own dead letter's entries and never written, and the external system
// kept the row's older email (seen in the simulator, seed 86879). What
// failed to be written was the record as re-read: that is what the dead
// letter keeps, and its requeue re-reads the record again.
func TestRequeuedRereadEventIsNotStaleAgainstItsOwnDeadLetter(t *testing.T) {
	b := newBidi(t)
	b.sf.Edit("Contact", "003A", map[string]any{"LastName": "N", "Email": "e0"}, at(-time.Hour))
	a := &modstampAuthority{sys: b.sf, old: map[string]sfsync.Record{}}
	src := b.sfLog.Source()
	r := start(t, oneWay(t, b, src, sfsyncsync.WithReconciler(reconcile.New(a, reconcile.WithTenant(org), reconcile.WithLogger(quiet())))))
	settled := func() { t.Helper(); settle(t, b.sfLog, src) }
	settled()

	b.sf.EditSilently("Contact", "003A", map[string]any{"Email": "e1"}, commitAt(200, 7))
	if err := r.e.Reconcile(context.Background(), sfsync.Scope{Tenant: org, Object: "Contact", Reason: "backfill"}); err != nil {
		t.Fatal(err)
	}
	settled()
	second := b.sf.EditSilently("Contact", "003A", map[string]any{"Email": "e3"}, commitAt(700, 8))
	b.ext.InjectFault(rejectedOnce())
	b.sfLog.Append(second)
	settled()
	dead := outcomes(t, b.store, sfsync.OutcomeQuery{Status: sfsync.StatusDeadLettered})
	if len(dead) != 1 {
		logOutcomes(t, b)
		t.Fatalf("%d dead letters, want the re-read event's", len(dead))
	}
	d, err := b.store.DeadLetter(context.Background(), dead[0].Key)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := d.Change.Value("Email"); !d.Change.Snapshot || v != "e3" || d.Change.RecordID != "003A" {
		t.Errorf("the dead letter keeps %+v; want the record as read (a row, Email e3, its own id)", d.Change)
	}
	o, err := r.e.Requeue(context.Background(), dead[0].Key)
	if err != nil {
		t.Fatal(err)
	}
	settled()
	r.stop(t)
	if got := field(t, b.ext, "Contact", "003A", "Email"); o.Status != sfsync.StatusApplied || got != "e3" {
		logOutcomes(t, b)
		t.Errorf("requeued: %s (%s); external Email = %v, want e3, Salesforce's newest", o.Status, o.Reason, got)
	}
}
