package sync_test

import (
	"testing"
	"time"

	"github.com/sfsync/sfsync/conflict"
	"github.com/sfsync/sfsync/reconcile"
	sfsyncsync "github.com/sfsync/sfsync/sync"
	"github.com/sfsync/sfsync/sync/synctest"
)

// Under external-wins, a Salesforce edit of the phone loses to the ERP's
// value, and its repair takes the ERP's value back to Salesforce: the
// version map keeps Salesforce's value as its change that lost. Then,
// while the engine is away past retention, a Salesforce user sets the
// phone to that same value again. The backfill's row carrying it brings
// news: the repair landed, so Salesforce no longer held the lost value,
// and holding it now is a change of its own whose event was lost. It
// loses to the ERP's value in turn, and its repair takes that back.
// Before, the row took the value for the lost change's, "synced before,
// no news", and Salesforce kept it for good against the ERP's (the
// simulator's seed 100506, where the value was null and the repair found
// the ERP's value there already).
func TestBackfillRowHoldingARepairedLostValueIsNews(t *testing.T) {
	policy := conflict.ExternalWins()
	b := newBidi(t)
	b.salesforceByRecord()
	r0, settled := b.startBoth(t, policy)
	b.sf.Edit("Contact", "003A", map[string]any{"LastName": "N0", "Phone": "p0"}, at(0))
	settled()
	b.ext.Edit("Contact", "003A", map[string]any{"Phone": "p2"}, at(2*time.Second))
	settled()
	// Salesforce's phone at 4s loses to the ERP's; the repair brings p2 back.
	b.sf.Edit("Contact", "003A", map[string]any{"Phone": "p4"}, at(4*time.Second))
	settled()
	b.bothHold(t, "Contact", "003A", "Phone", "p2", "the ERP wins")
	if err := r0.stop(t); err != nil {
		t.Fatal(err)
	}

	// Away past retention: Salesforce sets the phone to p4 again at 8s;
	// its event expires unread (it never reaches the engine).
	b.sf.EditSilently("Contact", "003A", map[string]any{"Phone": "p4"}, at(8*time.Second))

	sfSrc, extSrc := b.sfLog.Source(synctest.PositionUnavailable()), b.extLog.Source()
	r, _ := b.comeBack(t, policy, sfSrc, extSrc,
		sfsyncsync.WithReconciler(reconcile.New(b.sf, reconcile.WithTenant(org), reconcile.WithLogger(quiet()))))
	waitFor(t, b.contactsBackfilled)
	settle(t, b.sfLog, sfSrc, b.extLog, extSrc)
	r.stop(t)
	logOutcomes(t, b)
	b.bothHold(t, "Contact", "003A", "Phone", "p2", "Salesforce's p4 at 8s, which only the backfill's row tells of, loses to the ERP's value as its first p4 did")
}
