package sync_test

import (
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/conflict"
	"github.com/sfsync/sfsync/reconcile"
	sfsyncsync "github.com/sfsync/sfsync/sync"
	"github.com/sfsync/sfsync/sync/synctest"
)

// The ERP's edit of a field Salesforce owns loses, and its repair takes
// Salesforce's value back to the ERP: the ERP's value is kept in the
// version map as a change that lost, data of the ERP's alone. Then, while
// the engine is away past retention, a Salesforce user sets the field to
// that same value. The backfill's row carrying it brings news: Salesforce
// never held the ERP's lost value, so its holding it now is its own
// change, whose event was lost. Before, the row took the value for one
// the map knew, "synced before, no news", and the ERP kept the older
// value for good (the simulator's seed 99711, where the value was null).
func TestBackfillRowHoldingTheOtherSystemsLostValueIsNews(t *testing.T) {
	policy := conflict.FieldOwnership(conflict.Owners{"Email": sfsync.Salesforce}, conflict.LastWriteWins())
	b := newBidi(t)
	b.salesforceByRecord()
	r0, settled := b.startBoth(t, policy)
	b.sf.Edit("Contact", "003A", map[string]any{"LastName": "N0", "Phone": "p0", "Email": "e0"}, at(0))
	settled()
	// The ERP's email at 3s loses to the owner; the repair brings e0 back.
	b.ext.Edit("Contact", "003A", map[string]any{"Email": "e3"}, at(3*time.Second))
	settled()
	b.bothHold(t, "Contact", "003A", "Email", "e0", "Salesforce owns the email")
	if err := r0.stop(t); err != nil {
		t.Fatal(err)
	}

	// Away past retention: Salesforce sets the email to e3 at 8s; its
	// event expires unread (it never reaches the engine).
	b.sf.EditSilently("Contact", "003A", map[string]any{"Email": "e3"}, at(8*time.Second))

	sfSrc, extSrc := b.sfLog.Source(synctest.PositionUnavailable()), b.extLog.Source()
	r, _ := b.comeBack(t, policy, sfSrc, extSrc,
		sfsyncsync.WithReconciler(reconcile.New(b.sf, reconcile.WithTenant(org), reconcile.WithLogger(quiet()))))
	waitFor(t, b.contactsBackfilled)
	settle(t, b.sfLog, sfSrc, b.extLog, extSrc)
	r.stop(t)
	logOutcomes(t, b)
	b.bothHold(t, "Contact", "003A", "Email", "e3", "Salesforce, the owner, set the email to e3 at 8s; only the backfill's row tells of it")
}
