package sync_test

import (
	"testing"
	"time"

	"github.com/sfsync/sfsync/conflict"
	"github.com/sfsync/sfsync/sync/synctest"
)

// An update of a record the target does not have brings the record there
// whole, with the source's other fields, but only as far as the policy
// gives them: the ERP owns the email, and never set it, so Salesforce's
// email reaches the ERP neither as part of the update nor as a field
// taken along with it, and Salesforce's is cleared.
func TestUpdateThatBringsARecordAlongKeepsOutTheFieldsThePolicyDrops(t *testing.T) {
	for _, tc := range []struct {
		name   string
		update map[string]any
	}{
		{"the update sets the field", map[string]any{"LastName": "n2", "Email": "e2"}},
		{"the field is taken along", map[string]any{"LastName": "n2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBidi(t)
			b.salesforceByRecord()
			_, settled := b.startBoth(t, conflict.FieldOwnership(conflict.Owners{"Email": erp}, conflict.LastWriteWins()))
			// The create's event is gone (past retention, say): only the
			// update tells of the record.
			b.sf.EditSilently("Contact", "003A", map[string]any{"LastName": "n", "Email": "e1"}, at(time.Second))
			b.sf.Edit("Contact", "003A", tc.update, at(2*time.Second))
			settled()
			b.bothHold(t, "Contact", "003A", "LastName", "n2", "Salesforce's update")
			b.bothHold(t, "Contact", "003A", "Email", nil, "the ERP owns it and never set it")
		})
	}
}

// An update that brings back a record the target deleted, and loses some
// fields to the target's policy, brings the record back all the same: the
// fields that lost are repaired in the source, and the record stays.
func TestUpdateThatBringsADeletedRecordBackRepairsOnlyTheFieldsThatLost(t *testing.T) {
	b := newBidi(t)
	b.salesforceByRecord()
	_, settled := b.startBoth(t, conflict.FieldOwnership(conflict.Owners{"Email": erp}, conflict.LastWriteWins()))
	b.sf.Edit("Contact", "003A", map[string]any{"LastName": "n"}, at(time.Second))
	settled()
	// The ERP's delete is gone from its feed (an outage, say); Salesforce's
	// user edits the record later: last write wins brings it back, without
	// the email the ERP owns.
	b.ext.RemoveSilently("Contact", "003A", at(2*time.Second))
	b.sf.Edit("Contact", "003A", map[string]any{"LastName": "n2", "Email": "e2"}, at(4*time.Second))
	settled()
	for _, side := range []*synctest.System{b.sf, b.ext} {
		if rec, ok := side.Record("Contact", "003A"); !ok || rec.Deleted {
			t.Fatalf("%s holds %+v (found %v), want the record live", side.System(), rec, ok)
		}
	}
	b.bothHold(t, "Contact", "003A", "LastName", "n2", "Salesforce's update")
	b.bothHold(t, "Contact", "003A", "Email", nil, "the ERP owns it and never set it")
}
