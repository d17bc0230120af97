package sync_test

import (
	"testing"
	"time"

	"github.com/sfsync/sfsync/conflict"
)

// The ERP owns Phone and never set it; the ERP wins the rest. Salesforce
// made the record with a phone of its own, which the ERP's record never
// took, and deleted it before the engine ran: the repair that would have
// emptied the phone in Salesforce found the record deleted. The delete
// loses, and the record brought back in Salesforce keeps its own values
// only of fields the policy lets it fill: the phone is the owner's, and
// its emptiness is its value (seed 98439: the phone came back from the
// Recycle Bin).
func TestRecordBroughtBackDoesNotKeepANonOwnersValueOfAnOwnedField(t *testing.T) {
	b := newBidi(t)
	policy := conflict.FieldOwnership(conflict.Owners{"Phone": erp}, conflict.ExternalWins())
	b.sf.Edit("Contact", "003A", map[string]any{"LastName": "n", "Phone": "p7"}, at(time.Second))
	b.sf.Remove("Contact", "003A", at(9*time.Second))
	_, settled := b.startBoth(t, policy)
	settled()
	logOutcomes(t, b)
	rec, ok := b.sf.Record("Contact", "003A")
	if !ok || rec.Deleted {
		t.Fatalf("Salesforce's delete lost, but its record is not back: %+v", rec)
	}
	b.bothHold(t, "Contact", "003A", "LastName", "n", "Salesforce's create")
	if got, ok := rec.Fields["Phone"]; ok && got != nil {
		t.Errorf("Salesforce's phone = %v, want it empty: the ERP owns it and never set it", got)
	}
	if rec, _ := b.ext.Record("Contact", "003A"); rec.Fields["Phone"] != nil {
		t.Errorf("the ERP's phone = %v, want it empty", rec.Fields["Phone"])
	}
}
