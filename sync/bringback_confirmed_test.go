package sync_test

import (
	"errors"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/conflict"
	"github.com/sfsync/sfsync/sync/synctest"
)

// A Salesforce update brings back a record the ERP deleted, taking along
// the fields it did not change, and the write's acknowledgement is lost.
// The retry finds the record written and confirms it: the fields taken
// along are Salesforce's older data, not the update's, and are not
// remembered at the update's version. A later ERP edit of such a field,
// newer than Salesforce's data of it though older than the update, wins.
func TestConfirmedBringBackKeepsTheVersionsOfTheFieldsTakenAlong(t *testing.T) {
	b := newBidi(t)
	b.salesforceByRecord()
	_, settled := b.startBoth(t, conflict.LastWriteWins())
	b.sf.Edit("Contact", "003A", map[string]any{"LastName": "N", "MailingCity": "c1"}, at(time.Second))
	settled()
	deleted := b.ext.RemoveSilently("Contact", "003A", at(9500*time.Millisecond))
	b.ext.InjectFault(synctest.Fault{Err: sfsync.Retryable(errors.New("timeout")), AfterApply: true})
	b.sf.Edit("Contact", "003A", map[string]any{"LastName": "N2"}, at(10*time.Second))
	settled()
	if rec, ok := b.ext.Record("Contact", "003A"); !ok || rec.Deleted || rec.Fields["MailingCity"] != "c1" {
		t.Fatalf("the ERP holds %+v, want the record brought back whole (MailingCity c1)", rec)
	}
	// The ERP's clock is behind: its edit, made now, says 5s.
	b.ext.Edit("Contact", "003A", map[string]any{"MailingCity": "cE"}, at(5*time.Second))
	settled()
	b.extLog.Append(deleted)
	settled()
	b.bothHold(t, "Contact", "003A", "MailingCity", "cE", "the ERP's edit (5s) is newer than Salesforce's value (1s), which the update (10s) only took along")
	b.bothHold(t, "Contact", "003A", "LastName", "N2", "Salesforce's update")
	if t.Failed() {
		logOutcomes(t, b)
	}
}
