package sync_test

import (
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/conflict"
	"github.com/sfsync/sfsync/sync/synctest"
)

// The ERP's edit of a field finds Salesforce's record at a version nothing
// the engine recorded explains: a Salesforce user's newer edit, whose
// event is late. After waiting for it in vain, the engine decides. The
// value Salesforce holds is none the engine ever synced: Salesforce set
// it after the data the engine knows of, at the record's version at the
// latest, which is newer than the ERP's edit. The ERP's edit loses, and
// Salesforce's edit is never overwritten. (Decided against the older data
// the engine knows of, the ERP's edit would overwrite it, and only a
// crossing seen when Salesforce's event comes would bring it back; a
// change of Salesforce's decided before our write started shows none.)
func TestChangeDecidedAfterWaitingInVainDatesTheTargetsUnknownValue(t *testing.T) {
	b := newBidi(t)
	held := synctest.NewLog("held")
	b.salesforceByRecord(synctest.WithFeed(held))
	b.sf.Edit("Contact", "003A", map[string]any{"LastName": "n", "Phone": "0"}, at(time.Second))
	b.sfLog.Append(held.Changes()...)
	r, settled := b.startBoth(t, conflict.LastWriteWins())
	settled()

	b.sf.Edit("Contact", "003A", map[string]any{"Phone": "sf"}, at(12*time.Second))
	erpEdit := b.ext.Edit("Contact", "003A", map[string]any{"Phone": "erp"}, at(10*time.Second))
	b.waitDecided(t, erpEdit.Key)
	if n := b.sf.Applications(erpEdit.Key); n != 0 {
		logOutcomes(t, b)
		t.Errorf("the ERP's older edit was written to Salesforce %d times over the user's newer one", n)
	}
	b.sfLog.Append(held.Changes()[len(b.sfLog.Changes()):]...)
	settled()
	r.stop(t)
	b.bothHold(t, "Contact", "003A", "Phone", "sf", "Salesforce's edit is newer than the ERP's")
	if t.Failed() {
		logOutcomes(t, b)
	}
}

// waitDecided waits until the change with key has an outcome other than a
// duplicate's.
func (b *bidi) waitDecided(t *testing.T, key string) {
	t.Helper()
	waitFor(t, func() bool {
		for _, o := range outcomes(t, b.store, sfsync.OutcomeQuery{Key: key}) {
			if o.Status != sfsync.StatusDuplicate {
				return true
			}
		}
		return false
	})
}
