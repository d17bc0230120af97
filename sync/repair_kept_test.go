package sync_test

import (
	"context"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/conflict"
)

// Last write wins. The ERP's email (3s) is rejected by Salesforce for now
// (a dead letter). The ERP then deletes the record (6s), which loses to
// Salesforce's newer rename (8s): the repair brings the record back in
// the ERP, where the ERP's own email, newer than Salesforce's, stands.
// That email is the ERP's alone: Salesforce never took it, and the version
// map must not hold it as data both systems hold. So held, it made the
// requeued email tie with itself in Salesforce, under the skew tolerance,
// and lose (seen in the simulator, seed 86605).
func TestRepairDoesNotClaimTheLosersOwnEditThatStands(t *testing.T) {
	b := newBidi(t)
	b.salesforceByRecord()
	r, settled := b.startBoth(t, conflict.LastWriteWins(conflict.WithSkewTolerance(time.Second)))
	sfAt := sfCommits(701)
	b.sf.Edit("Contact", "003A", map[string]any{"LastName": "n1", "Email": "e0"}, sfAt(time.Second))
	settled()
	b.sf.InjectFault(rejectedOnce())
	email := b.ext.Edit("Contact", "003A", map[string]any{"Email": "e5"}, at(3*time.Second))
	settled()
	rename := b.sf.EditSilently("Contact", "003A", map[string]any{"LastName": "n2"}, sfAt(8*time.Second))
	b.ext.Remove("Contact", "003A", at(6*time.Second))
	settled()
	b.sfLog.Append(rename)
	settled()
	if got := field(t, b.ext, "Contact", "003A", "Email"); got != "e5" {
		logOutcomes(t, b)
		t.Fatalf("the record brought back in the ERP holds Email=%v, want its own e5", got)
	}
	vs, err := b.store.AppliedVersions(context.Background(), []string{"Contact/003A"})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		if v.Source == erp && v.Field == "Email" && v.Version.Compare(email.Version) == 0 {
			logOutcomes(t, b)
			t.Errorf("the version map holds the ERP's email at %s as data both systems hold; Salesforce never took it", v.Version)
		}
	}
	dead := outcomes(t, b.store, sfsync.OutcomeQuery{Status: sfsync.StatusDeadLettered})
	requeueTo(t, r, dead, sfsync.Salesforce)
	settled()
	r.stop(t)
	b.bothHold(t, "Contact", "003A", "Email", "e5", "the ERP's email (3s) is newer than Salesforce's (1s)")
	b.bothHold(t, "Contact", "003A", "LastName", "n2", "Salesforce's rename is the newest")
}
