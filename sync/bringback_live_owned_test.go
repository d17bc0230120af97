package sync_test

import (
	"testing"
	"time"

	"github.com/sfsync/sfsync/conflict"
	sfsyncsync "github.com/sfsync/sfsync/sync"
)

// The ERP owns Phone and never set it; last write wins the rest.
// Salesforce made a contact with a phone (which the ERP's record never
// took), then set the phone again at 6 s and the last name at 8 s; the
// ERP deleted the record at 7 s. The ERP's delete came first and waited
// for Salesforce's events; the last name's, newer than the delete, brought
// the record back in the ERP (without the phone, which the ERP owns), and
// then the delete lost to it. Its repair, a create of the record as
// Salesforce holds it, found the record back already, at its own version:
// the policy, asked of the whole record, kept every field from the target
// (a tie), and the repair wrote the record whole, Salesforce's phone with
// it, which the ERP's record never had. Salesforce's phone was emptied
// there by a repair of the owner's value (the phone's own event lost): the
// ERP kept a phone its owner never set (seed 7347).
func TestRepairBringingBackALiveRecordLeavesOutTheLosersUnsyncedOwnedField(t *testing.T) {
	b := newBidi(t)
	b.salesforceByRecord()
	sfSrc, extSrc := b.sfLog.Source(), b.extLog.Source()
	policy := conflict.FieldOwnership(conflict.Owners{"Phone": erp}, conflict.LastWriteWins())
	e, err := sfsyncsync.New(sfSrc, nil, append(b.options(policy), sfsyncsync.WithSource(extSrc))...)
	if err != nil {
		t.Fatal(err)
	}
	r := start(t, e)
	settled := func() { t.Helper(); settle(t, b.sfLog, sfSrc, b.extLog, extSrc) }
	b.sf.Edit("Contact", "003A", map[string]any{"LastName": "n1", "Email": "e2", "MailingCity": "c4", "Phone": "p3"}, at(time.Second))
	settled()
	phone := b.sf.EditSilently("Contact", "003A", map[string]any{"Phone": "p14"}, at(6*time.Second))
	name := b.sf.EditSilently("Contact", "003A", map[string]any{"LastName": "n22"}, at(8*time.Second))
	b.ext.Remove("Contact", "003A", at(7*time.Second))
	// The delete waits for Salesforce's events (its record is ahead).
	waitFor(t, func() bool { return e.Parked() > 0 })
	b.sfLog.Append(name)
	settled()
	b.sfLog.Append(phone)
	settled()
	r.stop(t)
	logOutcomes(t, b)
	b.bothHold(t, "Contact", "003A", "Phone", nil, "the ERP owns the phone and never set it")
	b.bothHold(t, "Contact", "003A", "LastName", "n22", "Salesforce's last name (8 s) is newer than the ERP's delete (7 s)")
}
