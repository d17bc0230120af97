package sync_test

import (
	"errors"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/conflict"
	"github.com/sfsync/sfsync/sync/synctest"
)

// The ERP creates a record (its clock a second ahead), the engine writes
// it to Salesforce, and Salesforce edits two of its fields in the same
// second; that edit's write to the ERP is rejected for now (a dead
// letter, requeued later). Meanwhile the ERP edits one of those fields, ties with
// Salesforce's value and loses, and the repair writes Salesforce's value
// with Salesforce's version into the ERP. When the late edit comes, the
// ERP shows its version on the repaired field, and on the other a version
// newer than it: the ERP's create, whose event was decided before
// Salesforce's edit existed. That field was never decided against the
// edit, and no event of the ERP's is left to decide it: both systems must
// still end with one value (seen in the simulator, seed 75111).
func TestAFieldNewerOnTheTargetByAnEventDecidedBeforeIsDecidedNow(t *testing.T) {
	b := newBidi(t)
	sfAt := sfCommits(301)
	sfClock := func() sfsync.Version { return sfAt(time.Second) }
	b.salesforceByRecord(synctest.WithWriteClock(sfClock))
	r, settled := b.startBoth(t, conflict.LastWriteWins(conflict.WithSkewTolerance(2*time.Second)))
	b.ext.Edit("Contact", "003A", map[string]any{"LastName": "n1", "Email": "e2", "Phone": "p3"}, at(2*time.Second))
	settled()
	b.ext.InjectFault(synctest.Fault{Err: sfsync.Permanent(errors.New("validation rule"))})
	b.sf.Edit("Contact", "003A", map[string]any{"Email": "e6", "Phone": "p5"}, sfClock())
	settled()
	dead := outcomes(t, b.store, sfsync.OutcomeQuery{Status: sfsync.StatusDeadLettered})
	if len(dead) != 1 {
		t.Fatalf("%d dead letters, want Salesforce's edit's", len(dead))
	}
	b.ext.Edit("Contact", "003A", map[string]any{"Phone": "p15"}, at(3*time.Second))
	settled()
	requeueTo(t, r, dead, erp)
	settled()
	r.stop(t)
	for _, f := range []string{"Email", "Phone"} {
		if s, e := field(t, b.sf, "Contact", "003A", f), field(t, b.ext, "Contact", "003A", f); s != e {
			t.Errorf("%s: Salesforce holds %v, the ERP %v: one of them must win", f, s, e)
		}
	}
	if t.Failed() {
		logOutcomes(t, b)
	}
}
