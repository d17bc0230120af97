package sync_test

import (
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/conflict"
	"github.com/sfsync/sfsync/sync/synctest"
)

// Salesforce creates a record, which the engine writes to the ERP; then
// Salesforce edits a field and loses (external wins), and the repair
// writes the ERP's value back: Salesforce's own value from its create,
// which the ERP shows as Salesforce's. That value is not the ERP's own
// data: remembered as the ERP's at the repair's version (Salesforce's
// clock), it made the ERP's later edit of the field, on a clock behind
// Salesforce's, look older than the ERP's own data, and the edit never
// reached Salesforce (seen in the simulator, seed 77121).
func TestRepairOfAnotherSystemsDataDoesNotClaimItForTheWinner(t *testing.T) {
	b := newBidi(t)
	sfAt := sfCommits(301)
	b.salesforceByRecord(synctest.WithWriteClock(func() sfsync.Version { return sfAt(time.Second) }))
	r, settled := b.startBoth(t, conflict.ExternalWins())
	b.sf.Edit("Contact", "003A", map[string]any{"LastName": "n1", "MailingCity": "c4"}, sfAt(time.Second))
	settled()
	b.sf.Edit("Contact", "003A", map[string]any{"MailingCity": "c5"}, sfAt(time.Second))
	settled()
	// The ERP's clock is three seconds behind Salesforce's.
	b.ext.Edit("Contact", "003A", map[string]any{"MailingCity": "c16"}, at(-time.Second))
	settled()
	r.stop(t)
	if t.Failed() || field(t, b.sf, "Contact", "003A", "MailingCity") != "c16" {
		logOutcomes(t, b)
	}
	b.bothHold(t, "Contact", "003A", "MailingCity", "c16", "the ERP edited it last, and external wins")
}
