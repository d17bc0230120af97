package sync_test

import (
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/conflict"
)

// Last write wins. Salesforce's edit of the city (6s) is rejected by the
// ERP for now (a dead letter); the ERP's older edit of it (5.5s) reaches
// Salesforce only after Salesforce deleted the record (8s), and the record
// stays deleted. The ERP then renames the contact (9s): the rename brings
// the record back in Salesforce, with Salesforce's own city from its
// tombstone, which is newer than the ERP's; that write is rejected for now
// too (a dead letter). The ERP's next rename (9.5s) brings it back the same
// way. Salesforce's delete then loses to the ERP's newer record, and its
// repair brings the record back as the ERP holds it, but for the fields
// whose Salesforce edit wins on its merit: the city. The rename's dead
// letter had claimed the city as the ERP's own data at 9s, though the city
// it carried was Salesforce's: the repair took the ERP's older city for
// the newer one and wrote it over Salesforce's, while the requeued edit
// brought Salesforce's city to the ERP (seen in the simulator, seed 78574).
func TestDeadLetterClaimsOnlyTheChangesOwnData(t *testing.T) {
	b := newBidi(t)
	b.salesforceByRecord()
	r, settled := b.startBoth(t, conflict.LastWriteWins())
	sfAt := sfCommits(501)
	b.sf.Edit("Contact", "003A", map[string]any{"LastName": "n1", "MailingCity": "c4"}, sfAt(time.Second))
	settled()
	b.ext.InjectFault(rejectedOnce())
	b.sf.Edit("Contact", "003A", map[string]any{"MailingCity": "c12"}, sfAt(6*time.Second))
	settled()
	city := b.ext.EditSilently("Contact", "003A", map[string]any{"MailingCity": "c13"}, at(5500*time.Millisecond))
	rename := b.ext.EditSilently("Contact", "003A", map[string]any{"LastName": "n15"}, at(9*time.Second))
	again := b.ext.EditSilently("Contact", "003A", map[string]any{"LastName": "n17"}, at(9500*time.Millisecond))
	del := b.sf.RemoveSilently("Contact", "003A", sfAt(8*time.Second))
	b.extLog.Append(city)
	settled()
	b.sf.InjectFault(rejectedOnce())
	b.extLog.Append(rename)
	settled()
	b.extLog.Append(again)
	settled()
	b.sfLog.Append(del)
	settled()
	dead := outcomes(t, b.store, sfsync.OutcomeQuery{Status: sfsync.StatusDeadLettered})
	if len(dead) != 2 {
		logOutcomes(t, b)
		t.Fatalf("%d dead letters, want Salesforce's city and the ERP's first rename", len(dead))
	}
	requeueTo(t, r, dead, erp)
	settled()
	r.stop(t)
	if rec, ok := b.sf.Record("Contact", "003A"); !ok || rec.Deleted {
		logOutcomes(t, b)
		t.Fatalf("Salesforce has no live contact: its delete (8s) is older than the ERP's renames")
	}
	b.bothHold(t, "Contact", "003A", "MailingCity", "c12", "Salesforce's city (6s) is the newest")
	b.bothHold(t, "Contact", "003A", "LastName", "n17", "the ERP's rename (9.5s) is the newest")
	if t.Failed() {
		logOutcomes(t, b)
	}
}
