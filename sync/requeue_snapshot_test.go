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

// A backfill's row holds the record as it was read. Dead-lettered and
// requeued later, it is read again: written as it was read, it would put
// back a value that a later write of ours to Salesforce replaced, whose
// change (on the ERP's clock) looks older than the row's record version.
func TestRequeuedSnapshotRowIsReadAgain(t *testing.T) {
	b := newBidi(t)
	b.salesforceByRecord()
	r, settled := b.startBoth(t, conflict.LastWriteWins(),
		sfsyncsync.WithReconciler(reconcile.New(b.sf, reconcile.WithTenant(org), reconcile.WithLogger(quiet()))))
	b.sf.Edit("Contact", "003A", map[string]any{"LastName": "N0", "Phone": "p0"}, at(0))
	settled()
	b.sf.Edit("Contact", "003A", map[string]any{"Phone": "p20"}, at(20*time.Second))
	settled()

	// A backfill's row of the record (20s) is rejected by the ERP for now.
	b.ext.InjectFault(synctest.Fault{Err: sfsync.Permanent(errors.New("validation rule"))})
	b.sf.EditSilently("Contact", "003A", map[string]any{"Email": "e20"}, at(20*time.Second))
	if err := r.e.Reconcile(context.Background(), sfsync.Scope{Tenant: org, Object: "Contact", Reason: "backfill"}); err == nil {
		t.Fatal("reconciliation with a row dead-lettered succeeded")
	}
	settled()
	dead := outcomes(t, b.store, sfsync.OutcomeQuery{Status: sfsync.StatusDeadLettered})
	if len(dead) != 1 {
		t.Fatalf("dead letters %+v, want the row", dead)
	}
	// The ERP renames the contact, on its clock at 10s; the rename reaches
	// Salesforce.
	b.ext.Edit("Contact", "003A", map[string]any{"LastName": "E10"}, at(10*time.Second))
	settled()
	// Salesforce changes the phone again.
	b.sf.Edit("Contact", "003A", map[string]any{"Phone": "p30"}, at(30*time.Second))
	settled()

	if _, err := r.e.Requeue(context.Background(), dead[0].Key); err != nil {
		t.Fatal(err)
	}
	settled()
	r.stop(t)
	logOutcomes(t, b)
	b.bothHold(t, "Contact", "003A", "LastName", "E10", "the row was read before the rename reached Salesforce")
	b.bothHold(t, "Contact", "003A", "Email", "e20", "the row carries Salesforce's email")
	b.bothHold(t, "Contact", "003A", "Phone", "p30", "Salesforce's last phone")
}
