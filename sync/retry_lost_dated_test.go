package sync_test

import (
	"errors"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/conflict"
	"github.com/sfsync/sfsync/sync/synctest"
)

// Salesforce versions whole records only. An ERP edit of two fields loses
// one of them (LastName) to Salesforce's newer edit, and the write of the
// other is taken but its acknowledgement lost. The retry decides on the
// change as written, without LastName, and then plans the repair of
// LastName: it dates Salesforce's data of LastName (5s) as the first
// attempt did, not at Salesforce's record version (9s). Claimed at 9s,
// the repair would make a later ERP edit of LastName (7s) lose to data it
// is newer than.
func TestRetryDatesTheFieldsItsFirstAttemptLost(t *testing.T) {
	b := newBidi(t)
	b.salesforceByRecord()
	r, settled := b.startBoth(t, conflict.LastWriteWins())
	b.sf.Edit("Contact", "003A", map[string]any{"LastName": "N0", "Phone": "p0", "MailingCity": "c0"}, at(0))
	settled()
	b.sf.Edit("Contact", "003A", map[string]any{"LastName": "S5"}, at(5*time.Second))
	settled()
	b.sf.Edit("Contact", "003A", map[string]any{"Phone": "s9"}, at(9*time.Second))
	settled()

	b.sf.InjectFault(synctest.Fault{Err: sfsync.Retryable(errors.New("timeout")), AfterApply: true})
	b.ext.Edit("Contact", "003A", map[string]any{"LastName": "E3", "MailingCity": "e3"}, at(3*time.Second))
	settled()
	b.ext.Edit("Contact", "003A", map[string]any{"LastName": "E7"}, at(7*time.Second))
	settled()
	r.stop(t)
	b.bothHold(t, "Contact", "003A", "LastName", "E7", "the ERP's edit (7s) is newer than Salesforce's (5s)")
	b.bothHold(t, "Contact", "003A", "MailingCity", "e3", "the ERP's edit (3s)")
	b.bothHold(t, "Contact", "003A", "Phone", "s9", "Salesforce's edit (9s)")
	if t.Failed() {
		logOutcomes(t, b)
	}
}
