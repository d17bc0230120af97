package sync_test

import (
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/conflict"
	"github.com/sfsync/sfsync/sync/synctest"
)

// Salesforce owns Title; the ERP wins the rest. The ERP makes a record at
// 14.5 s on its clock, which runs ahead, with a title of its own: the
// record made in Salesforce leaves the title out, and Salesforce shows it
// empty, never set. The ERP's next edit, at 15.5 s, sets the title again
// and loses it to the owner; its repair empties it in the ERP. Then
// Salesforce sets the title, at 14 s on its own clock. The repair's empty
// title is no data of Salesforce's: Salesforce never set it, and the
// record's version (our write of the ERP's create, at 14.5 s on the ERP's
// clock) is not its version. Claimed at it, the repair made Salesforce's
// first real title look older than its own absence: its event was
// dropped as stale, and the ERP kept the title empty (seed 9194).
func TestRepairOfAFieldTheWinnerNeverSetClaimsNoVersion(t *testing.T) {
	b := newBidi(t)
	clock := sfCommits(1)
	b.salesforceByRecord(
		synctest.WithSchema("Contact", "LastName", "Phone", "Title"),
		synctest.WithEmptyFieldsShown(),
		synctest.WithWriteClock(func() sfsync.Version { return clock(14 * time.Second) }),
	)
	policy := conflict.FieldOwnership(conflict.Owners{"Title": sfsync.Salesforce}, conflict.ExternalWins())
	r, settled := b.startBoth(t, policy)
	b.ext.Edit("Contact", "003A", map[string]any{"LastName": "n", "Phone": "p1", "Title": "t-erp"}, at(14500*time.Millisecond))
	settled()
	b.ext.Edit("Contact", "003A", map[string]any{"Phone": "p2", "Title": "t-erp2"}, at(15500*time.Millisecond))
	settled()
	b.sf.Edit("Contact", "003A", map[string]any{"Title": "t-sf"}, clock(14*time.Second))
	settled()
	r.stop(t)
	logOutcomes(t, b)
	b.bothHold(t, "Contact", "003A", "Title", "t-sf", "Salesforce owns the title, and set it after our write")
	b.bothHold(t, "Contact", "003A", "Phone", "p2", "the ERP's newest phone")
}
