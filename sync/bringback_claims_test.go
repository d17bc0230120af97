package sync_test

import (
	"testing"
	"time"

	"github.com/sfsync/sfsync/conflict"
)

// The ERP wins. Salesforce deletes a record the ERP keeps, whose LastName
// the ERP set long before its last edit: the delete loses, and its repair
// brings the record back in Salesforce whole. The version map takes each
// field of the record brought back at the version of its own data, not
// all at the record's newest: a later Salesforce edit of LastName loses,
// and its repair, which writes the ERP's LastName back, is not stale
// against a version that field never had.
func TestRecordBroughtBackWholeClaimsEachFieldAtItsOwnVersion(t *testing.T) {
	b := newBidi(t)
	b.salesforceAsItIs(10 * time.Second) // our writes there: 11s, 12s, 13s...
	r, settled := b.startBoth(t, conflict.ExternalWins())
	// The ERP's clock runs ahead of Salesforce's.
	b.ext.Edit("Contact", "003A", map[string]any{"LastName": "N0", "Phone": "p0"}, at(0))
	settled()
	b.ext.Edit("Contact", "003A", map[string]any{"Phone": "p30"}, at(30*time.Second))
	settled()
	b.sf.Remove("Contact", "003A", at(12500*time.Millisecond))
	settled()
	if rec, ok := b.sf.Record("Contact", "003A"); !ok || rec.Deleted {
		logOutcomes(t, b)
		t.Fatalf("Salesforce's record live %v, want it brought back: the ERP wins over Salesforce's delete", ok && !rec.Deleted)
	}

	b.sf.Edit("Contact", "003A", map[string]any{"LastName": "S14"}, at(14*time.Second))
	settled()
	r.stop(t)
	b.bothHold(t, "Contact", "003A", "LastName", "N0", "the ERP wins, and its LastName is repaired over Salesforce's edit")
	b.bothHold(t, "Contact", "003A", "Phone", "p30", "the ERP's edit")
}
