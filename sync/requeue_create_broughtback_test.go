package sync_test

import (
	"context"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/conflict"
	sfsyncsync "github.com/sfsync/sfsync/sync"
)

// The record is made in both systems at once; Salesforce wins. Salesforce's
// create is rejected by the ERP and dead-lettered. Salesforce then deletes
// the record and brings it back, and both are written to the ERP while the
// ERP's own create waits in the park for Salesforce's events: undecided, it
// has the undelete leave the ERP's last name there for it to decide. It
// then loses, before our undelete's echo (which makes the record ours in
// the ERP) is read; its repair leaves the last name to Salesforce's create,
// the winner's newer value on its way as its own event. The create,
// requeued, found the record made by our own write and took itself for
// applied already: the undelete never carried its last name, and the ERP
// kept its own, which lost, for good (seed 9607; the simulator's
// FieldOwnership policy falls back to Salesforce wins for the last name).
func TestRequeuedCreateWritesWhatTheUndeleteLeftToIt(t *testing.T) {
	b := newBidi(t)
	b.salesforceByRecord()
	sfSrc, extSrc := b.sfLog.Source(), newGatedSource(b.extLog.Source())
	e, err := sfsyncsync.New(sfSrc, nil, append(b.options(conflict.SalesforceWins()), sfsyncsync.WithSource(extSrc))...)
	if err != nil {
		t.Fatal(err)
	}
	r := start(t, e)
	settled := func() { t.Helper(); settle(t, b.sfLog, sfSrc, b.extLog, extSrc.Source) }

	// Both systems make the record; Salesforce's create reaches the ERP
	// first, and is rejected there.
	extCreate := b.ext.EditSilently("Contact", "003A", map[string]any{"LastName": "n5", "Email": "e6"}, at(time.Second))
	b.ext.InjectFault(rejectedOnce())
	b.sf.Edit("Contact", "003A", map[string]any{"LastName": "n1", "Email": "e2"}, at(1500*time.Millisecond))
	settled()
	dead := outcomes(t, b.store, sfsync.OutcomeQuery{Status: sfsync.StatusDeadLettered})
	if len(dead) != 1 {
		logOutcomes(t, b)
		t.Fatalf("dead letters %+v, want Salesforce's create", dead)
	}
	// Salesforce deletes the record, brings it back and edits it; the
	// ERP's create comes first, and waits in the park for those events.
	sfDelete := b.sf.RemoveSilently("Contact", "003A", at(42*time.Second))
	sfUndelete := b.sf.RestoreSilently("Contact", "003A", at(45*time.Second))
	sfEdit := b.sf.EditSilently("Contact", "003A", map[string]any{"Email": "e14"}, at(46*time.Second))
	b.extLog.Append(extCreate)
	waitFor(t, func() bool {
		return e.ParkedKey(extCreate.Key) || len(outcomes(t, b.store, sfsync.OutcomeQuery{Key: extCreate.Key})) > 0
	})
	if !e.ParkedKey(extCreate.Key) {
		logOutcomes(t, b)
		t.Fatal("the ERP's create did not wait for Salesforce's events")
	}
	// The delete and the undelete are decided while it waits; their
	// echoes are late.
	extSrc.close()
	b.sfLog.Append(sfDelete)
	b.sfLog.Append(sfUndelete)
	decided := func(key string) func() bool {
		return func() bool { return len(outcomes(t, b.store, sfsync.OutcomeQuery{Key: key})) > 0 }
	}
	waitFor(t, decided(sfUndelete.Key))
	if !e.ParkedKey(extCreate.Key) {
		logOutcomes(t, b)
		t.Fatal("the ERP's create was decided before Salesforce's undelete")
	}
	// Salesforce's edit lets the ERP's create go on, before the echoes.
	b.sfLog.Append(sfEdit)
	waitFor(t, decided(extCreate.Key))
	extSrc.reopen()
	settled()

	o, err := r.e.Requeue(context.Background(), dead[0].Key)
	if err != nil {
		t.Fatal(err)
	}
	settled()
	r.stop(t)
	logOutcomes(t, b)
	if o.Status != sfsync.StatusApplied {
		t.Errorf("requeued create %s: %s", o.Status, o.Reason)
	}
	b.bothHold(t, "Contact", "003A", "LastName", "n1", "Salesforce wins, and its create's last name is its newest")
}
