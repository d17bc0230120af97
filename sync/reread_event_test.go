package sync_test

import (
	"context"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/conflict"
	"github.com/sfsync/sfsync/reconcile"
	sfsyncsync "github.com/sfsync/sfsync/sync"
)

// An event re-read because it falls in the second of an applied snapshot
// row (see the hand-off) is still the change it was: the fields it set,
// which the record still holds with its values, changed at its version.
// Taken as a snapshot's fields (of unknown age), they were left to a
// pending edit of the same field in the other system, which, older than
// the event, then overwrote Salesforce's newer value.
func TestRereadEventKeepsItsFieldsAgainstAnOlderPendingEdit(t *testing.T) {
	b := newBidi(t)
	b.salesforceByRecord()
	b.sf.Edit("Contact", "003A", map[string]any{"LastName": "N", "Email": "e0"}, at(-time.Hour))
	a := &modstampAuthority{sys: b.sf, old: map[string]sfsync.Record{}}
	r, settled := b.startBoth(t, conflict.LastWriteWins(),
		sfsyncsync.WithReconciler(reconcile.New(a, reconcile.WithTenant(org), reconcile.WithLogger(quiet()))))
	settled()

	// The ERP's edit (12:00:00.100) and Salesforce's later one
	// (12:00:00.200): both events are late.
	erpEdit := b.ext.EditSilently("Contact", "003A", map[string]any{"Email": "erp"}, commitAt(100, 0))
	sfEdit := b.sf.EditSilently("Contact", "003A", map[string]any{"Email": "sf"}, commitAt(200, 7))
	// A backfill's row of 12:00:00 holds Salesforce's value; the ERP's
	// edit is not decided yet, and decides the field.
	if err := r.e.Reconcile(context.Background(), sfsync.Scope{Tenant: org, Object: "Contact", Reason: "backfill"}); err != nil {
		t.Fatal(err)
	}
	settled()
	// Salesforce's event, of the row's second, is re-read.
	b.sfLog.Append(sfEdit)
	settled()
	wantRereads(t, a, 1)
	// The ERP's edit is older than Salesforce's.
	b.extLog.Append(erpEdit)
	settled()
	r.stop(t)
	logOutcomes(t, b)
	b.bothHold(t, "Contact", "003A", "Email", "sf", "Salesforce's edit (12:00:00.200) is newer than the ERP's (12:00:00.100)")
}

// The other way round: the ERP's edit is newer than Salesforce's event,
// and older than the record the re-read finds (Salesforce changed another
// field since). The event's own field changed at the event's version, not
// the record's: the ERP's edit wins it. Seen in the simulator (seed
// 70402): a record created on both sides, Salesforce's create re-read in
// the second of a backfill's row and decided at the record's later
// version, overwrote the ERP's newer values.
func TestRereadEventFieldOlderThanTheTargetsEditLoses(t *testing.T) {
	b := newBidi(t)
	b.salesforceByRecord()
	a := &modstampAuthority{sys: b.sf, old: map[string]sfsync.Record{}}
	r, settled := b.startBoth(t, conflict.LastWriteWins(),
		sfsyncsync.WithReconciler(reconcile.New(a, reconcile.WithTenant(org), reconcile.WithLogger(quiet()))))
	settled()

	// Created on both sides, the ERP's a moment later; Salesforce renames
	// it a second later. No event has come yet.
	sfCreate := b.sf.EditSilently("Contact", "003A", map[string]any{"LastName": "N", "Email": "sf"}, commitAt(100, 7))
	read, _ := b.sf.Record("Contact", "003A")
	erpCreate := b.ext.EditSilently("Contact", "003A", map[string]any{"LastName": "N", "Email": "erp"}, commitAt(200, 0))
	rename := b.sf.EditSilently("Contact", "003A", map[string]any{"LastName": "n2"}, commitAt(1300, 8))
	// A backfill's row read before the rename (12:00:00).
	a.old["003A"] = read
	if err := r.e.Reconcile(context.Background(), sfsync.Scope{Tenant: org, Object: "Contact", Reason: "backfill"}); err != nil {
		t.Fatal(err)
	}
	settled()
	// Salesforce's create, of the row's second, is re-read: the record
	// now holds the rename too.
	b.sfLog.Append(sfCreate)
	settled()
	wantRereads(t, a, 1)
	b.sfLog.Append(rename)
	b.extLog.Append(erpCreate)
	settled()
	r.stop(t)
	b.bothHold(t, "Contact", "003A", "Email", "erp", "the ERP's create (12:00:00.200) is newer than Salesforce's (12:00:00.100)")
	b.bothHold(t, "Contact", "003A", "LastName", "n2", "Salesforce's rename (12:00:01.300)")
	if t.Failed() {
		logOutcomes(t, b)
	}
}
