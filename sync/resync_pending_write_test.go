package sync_test

import (
	"errors"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/conflict"
	"github.com/sfsync/sfsync/sync/synctest"
)

// A Salesforce user edits LastName right after the engine read the record
// to write the ERP's older edit of it; the write lands on top of the
// user's edit, and its acknowledgement is lost. The user's edit, newer,
// wins in the ERP over the ERP's edit, whose data the ERP's record showed
// at the decision, and the write it crossed is resynced: the user's value
// goes back to Salesforce. The crossing write's own outcome (applied, on
// its retry) may be recorded only after that decision: the version map
// then held no data of the ERP's field when the resync was planned, and
// the ERP's edit, recorded afterwards, looked like a change of the ERP's
// since the data the user's edit beat. The resync was dropped as stale,
// and Salesforce kept the ERP's losing value (simulator seed 5429).
func TestResyncIsNotStaleAgainstTheCrossedWriteRecordedLate(t *testing.T) {
	b := newBidi(t)
	b.salesforceByRecord(synctest.WithoutKeyIdempotency(), synctest.WithWriteClock(func() sfsync.Version { return at(13 * time.Second) }))
	b.sf.Edit("Contact", "003A", map[string]any{"LastName": "n", "Phone": "0"}, at(time.Second))
	b.sf.InjectFault(synctest.Fault{Err: sfsync.Retryable(errors.New("timeout")), AfterApply: true,
		Match: func(c sfsync.Change) bool { return c.Source == erp }})
	var user sfsync.Change
	sf := &editAfterRead{target: b.sf}
	sf.edit = func() { user = b.sf.Edit("Contact", "003A", map[string]any{"LastName": "sf"}, at(12*time.Second)) }
	_, settled := b.startThrough(t, conflict.LastWriteWins(), sf)
	settled()
	b.ext.Edit("Contact", "003A", map[string]any{"LastName": "erp"}, at(10*time.Second))
	settled()
	if user.Key == "" {
		t.Fatal("the Salesforce user never edited: the engine did not read Salesforce")
	}
	b.bothHold(t, "Contact", "003A", "LastName", "sf", "the Salesforce user's newer value")
	if t.Failed() {
		logOutcomes(t, b)
	}
}
