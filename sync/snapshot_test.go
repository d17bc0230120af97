package sync_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/conflict"
	"github.com/sfsync/sfsync/reconcile"
	sfsyncsync "github.com/sfsync/sfsync/sync"
	"github.com/sfsync/sfsync/sync/synctest"
)

// A record read from authoritative state carries one version, its
// SystemModstamp, for every field. A field the target already holds is no
// news: it must not be taken as changed at that version, or an edit the
// other side made to it a moment later would lose a last-write-wins tie
// to a value set long before.
func TestSnapshotDoesNotClaimFieldsTheTargetHolds(t *testing.T) {
	b := newBidi(t)
	b.sf.Edit("Contact", "003A", map[string]any{"LastName": "N", "MailingCity": "c9"}, at(0))
	r, settled := startSnapshotEngine(t, b)
	settled()

	// Salesforce changes the email where no event tells (a drift), and the
	// snapshot of the record is applied.
	b.sf.EditSilently("Contact", "003A", map[string]any{"Email": "e22"}, at(time.Hour))
	if err := r.e.Reconcile(context.Background(), sfsync.Scope{Tenant: org, Object: "Contact", IDs: []string{"003A"}, Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	// A second later the ERP edits the city, which Salesforce set an hour
	// before.
	b.ext.Edit("Contact", "003A", map[string]any{"MailingCity": "c28"}, at(time.Hour+time.Second))
	settled()
	r.stop(t)
	for _, side := range []string{"sf", "ext"} {
		sys := b.sf
		if side == "ext" {
			sys = b.ext
		}
		if got := field(t, sys, "Contact", "003A", "MailingCity"); got != "c28" {
			t.Errorf("%s MailingCity = %v, want the ERP's newer c28", side, got)
		}
		if got := field(t, sys, "Contact", "003A", "Email"); got != "e22" {
			t.Errorf("%s Email = %v, want the snapshot's e22", side, got)
		}
	}
}

// startSnapshotEngine starts a two-way engine under last write wins (2 s
// skew) whose Salesforce target versions whole records only
// (SystemModstamp): the engine's version map gives its fields their
// versions. It reconciles from b's Salesforce.
func startSnapshotEngine(t *testing.T, b *bidi) (r *running, settled func()) {
	t.Helper()
	sfSrc, extSrc := b.sfLog.Source(), b.extLog.Source()
	policy := conflict.LastWriteWins(conflict.WithSkewTolerance(2 * time.Second))
	e, err := sfsyncsync.New(sfSrc, nil,
		sfsyncsync.WithLogger(quiet()), sfsyncsync.WithTenant(org), sfsyncsync.WithClientID("sfsync"),
		sfsyncsync.WithStore(b.store), sfsyncsync.WithPolicy(policy), fastRetries(5),
		sfsyncsync.WithRoute(sfsyncsync.Route{From: sfsync.Salesforce, Sink: b.ext}),
		sfsyncsync.WithRoute(sfsyncsync.Route{From: erp, To: sfsync.Salesforce, Sink: plainTarget{b.sf}}),
		sfsyncsync.WithSource(extSrc), sfsyncsync.WithReconciler(reconcileOf(b)))
	if err != nil {
		t.Fatal(err)
	}
	return start(t, e), func() {
		t.Helper()
		settle(t, b.sfLog, sfSrc, b.extLog, extSrc)
	}
}

func reconcileOf(b *bidi) sfsync.Reconciler {
	return reconcile.New(b.sf, reconcile.WithTenant(org), reconcile.WithLogger(quiet()))
}

// A snapshot read after an outage must not overwrite a field the target
// changed after it was last synced: that edit's event is on its way and
// decides against Salesforce's value itself. The snapshot's version is the
// record's, and here only another field changed in Salesforce.
func TestSnapshotLeavesAFieldTheTargetChangedSinceItsLastSync(t *testing.T) {
	for _, synced := range []bool{true, false} {
		t.Run(map[bool]string{true: "field synced from the target before", false: "field only ever set by Salesforce"}[synced], func(t *testing.T) {
			snapshotLeavesPendingField(t, synced)
		})
	}
}

func snapshotLeavesPendingField(t *testing.T, synced bool) {
	b := newBidi(t)
	b.sf.Edit("Contact", "003A", map[string]any{"LastName": "N", "MailingCity": "c1"}, at(0))
	r, settled := startSnapshotEngine(t, b)
	settled()
	if synced {
		b.ext.Edit("Contact", "003A", map[string]any{"MailingCity": "c24"}, at(10*time.Second))
	} else {
		b.sf.Edit("Contact", "003A", map[string]any{"MailingCity": "c24"}, at(10*time.Second))
	}
	settled()

	// The ERP clears the city; its event is still on its way when
	// Salesforce's record, changed in another field, is read whole.
	cleared := b.ext.EditSilently("Contact", "003A", map[string]any{"MailingCity": nil}, at(20*time.Second))
	b.sf.EditSilently("Contact", "003A", map[string]any{"Email": "e22"}, at(time.Hour))
	if err := r.e.Reconcile(context.Background(), sfsync.Scope{Tenant: org, Object: "Contact", IDs: []string{"003A"}, Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	b.extLog.Append(cleared)
	settled()
	r.stop(t)
	b.bothHold(t, "Contact", "003A", "MailingCity", nil, "the ERP's later null")
	b.bothHold(t, "Contact", "003A", "Email", "e22", "the snapshot's e22")
}

// A field the target changed since it was last synced is left to that
// change's event, unless the event was decided already and lost: then the
// target holds data that lost, and a snapshot of the winner's record is
// what brings it the winning value.
func TestSnapshotWritesAFieldWhoseTargetChangeLost(t *testing.T) {
	b := newBidi(t)
	b.sf.Edit("Contact", "003A", map[string]any{"LastName": "N", "MailingCity": "c1"}, at(0))
	r, settled := startSnapshotEngine(t, b)
	settled()

	// Salesforce's new city cannot be written to the ERP (a validation
	// rule), and the ERP's own, older edit of it loses to it.
	b.ext.InjectFault(synctest.Fault{Err: sfsync.Permanent(errors.New("validation rule"))})
	b.sf.Edit("Contact", "003A", map[string]any{"MailingCity": "cS"}, at(10*time.Second))
	settled()
	b.ext.Edit("Contact", "003A", map[string]any{"MailingCity": "cE"}, at(5*time.Second))
	settled()
	if got := field(t, b.sf, "Contact", "003A", "MailingCity"); got != "cS" {
		t.Fatalf("Salesforce MailingCity = %v after the ERP's older edit, want cS", got)
	}

	// The record read whole from Salesforce brings the ERP the winner.
	if err := r.e.Reconcile(context.Background(), sfsync.Scope{Tenant: org, Object: "Contact", IDs: []string{"003A"}, Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	settled()
	r.stop(t)
	b.bothHold(t, "Contact", "003A", "MailingCity", "cS", "Salesforce's newer cS")
}

// A field whose target change waits in the dead letters is that change's
// to decide, once requeued: a snapshot read meanwhile carries the record's
// version, newer than the field's data, and written it would overwrite the
// target's newer value and win against its requeue too.
func TestSnapshotLeavesAFieldWhoseTargetChangeWaitsInTheDeadLetters(t *testing.T) {
	b := newBidi(t)
	b.sf.Edit("Contact", "003A", map[string]any{"LastName": "N", "MailingCity": "c1"}, at(0))
	r, settled := startSnapshotEngine(t, b)
	settled()

	// The ERP's newer city cannot be written to Salesforce (a validation
	// rule): dead-lettered. Salesforce's record changes later, elsewhere.
	b.sf.InjectFault(synctest.Fault{Err: sfsync.Permanent(errors.New("validation rule"))})
	dead := b.ext.Edit("Contact", "003A", map[string]any{"MailingCity": "cE"}, at(5*time.Second))
	settled()
	if st := statusByKey(t, b.store)[dead.Key]; st != sfsync.StatusDeadLettered {
		t.Fatalf("the ERP's edit ended %s, want dead_lettered", st)
	}
	b.sf.Edit("Contact", "003A", map[string]any{"Phone": "p"}, at(20*time.Second))
	settled()

	if err := r.e.Reconcile(context.Background(), sfsync.Scope{Tenant: org, Object: "Contact", IDs: []string{"003A"}, Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	settled()
	if got := field(t, b.ext, "Contact", "003A", "MailingCity"); got != "cE" {
		t.Fatalf("the ERP's MailingCity = %v after the snapshot, want its own cE: its change waits in the dead letters", got)
	}
	if _, err := r.e.Requeue(context.Background(), dead.Key); err != nil {
		t.Fatal(err)
	}
	settled()
	r.stop(t)
	b.bothHold(t, "Contact", "003A", "MailingCity", "cE", "the ERP's newer cE")
}

// A snapshot that brings back a record the target deleted carries its
// record whole, at its last change's version: a value it holds that was
// synced before is no news, and must not overwrite the target's own later
// edit of the field, made before its delete, whose event is still on its
// way (seen in the simulator after an outage past retention, seeds 70028
// and 70195: the ERP's edit made while the engine was down was overwritten
// by Salesforce's older value, and then lost to the row's version).
func TestSnapshotBringingARecordBackLeavesTheTargetsUnseenEdit(t *testing.T) {
	b := newBidi(t)
	b.sf.Edit("Contact", "003A", map[string]any{"LastName": "N", "Phone": "p1"}, at(0))
	r, settled := startSnapshotEngine(t, b)
	settled()

	// While its events are on their way, the ERP edits the phone and then
	// deletes the record; Salesforce renames it where no event tells.
	phone := b.ext.EditSilently("Contact", "003A", map[string]any{"Phone": "p24"}, at(16*time.Second))
	del := b.ext.RemoveSilently("Contact", "003A", at(20*time.Second))
	b.sf.EditSilently("Contact", "003A", map[string]any{"LastName": "n30"}, at(30*time.Second))
	if err := r.e.Reconcile(context.Background(), sfsync.Scope{Tenant: org, Object: "Contact", IDs: []string{"003A"}, Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	settled()
	b.extLog.Append(phone, del)
	settled()
	r.stop(t)
	b.bothHold(t, "Contact", "003A", "Phone", "p24", "the ERP's edit (16 s), newer than Salesforce's phone (0 s)")
	b.bothHold(t, "Contact", "003A", "LastName", "n30", "Salesforce's rename, newer than the ERP's delete")
	if t.Failed() {
		logOutcomes(t, b)
	}
}
