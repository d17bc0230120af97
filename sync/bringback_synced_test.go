package sync_test

import (
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/conflict"
	sfsyncsync "github.com/sfsync/sfsync/sync"
	"github.com/sfsync/sfsync/sync/synctest"
)

// Salesforce edits a field whose value both systems hold (the ERP's, from
// 2.5 s on the ERP's clock, which runs ahead) at 2 s on its own clock, then
// deletes the record at 4 s; neither event has reached the engine when the
// ERP's edit at 7.5 s brings the record back. The tombstone's value is an
// edit the engine has not seen, over synced data: its event is on its way,
// and the ERP's change waits for it to be decided (the ERP's value is
// newer, and wins). Decided at once at the tombstone's version, the
// delete's 4 s, Salesforce's edit beat the ERP's value, the repair took it
// to the ERP, and its own event then found it applied already: both
// systems kept Salesforce's older edit (seed 97559).
func TestRecordBroughtBackLeavesAnUnseenEditOverSyncedDataToItsEvent(t *testing.T) {
	b := newBidi(t)
	b.salesforceByRecord(synctest.WithWriteClock(func() sfsync.Version { return at(time.Second) }))
	sfSrc, extSrc := b.sfLog.Source(), b.extLog.Source()
	e, err := sfsyncsync.New(sfSrc, nil, append(b.options(conflict.LastWriteWins()), sfsyncsync.WithSource(extSrc))...)
	if err != nil {
		t.Fatal(err)
	}
	r := start(t, e)
	settled := func() { t.Helper(); settle(t, b.sfLog, sfSrc, b.extLog, extSrc) }
	b.sf.Edit("Contact", "003A", map[string]any{"LastName": "N", "Email": "e0"}, at(0))
	settled()
	b.ext.Edit("Contact", "003A", map[string]any{"Email": "e-erp"}, at(2500*time.Millisecond))
	settled()
	sfEdit := b.sf.EditSilently("Contact", "003A", map[string]any{"Email": "e-sf"}, at(2*time.Second))
	sfDel := b.sf.RemoveSilently("Contact", "003A", at(4*time.Second))
	b.ext.Edit("Contact", "003A", map[string]any{"LastName": "E"}, at(7500*time.Millisecond))
	// Salesforce's events come while the ERP's change waits for them.
	decided := func() bool {
		return len(outcomes(t, b.store, sfsync.OutcomeQuery{Key: "external:erp:003A:2"})) > 0
	}
	waitFor(t, func() bool { return e.Parked() > 0 || decided() })
	if e.Parked() == 0 {
		logOutcomes(t, b)
		t.Fatal("the ERP's change brought the record back without waiting for Salesforce's events")
	}
	b.sfLog.Append(sfEdit)
	b.sfLog.Append(sfDel)
	settled()
	r.stop(t)
	logOutcomes(t, b)
	b.bothHold(t, "Contact", "003A", "Email", "e-erp", "the ERP's email (2.5 s) is newer than Salesforce's (2 s)")
	b.bothHold(t, "Contact", "003A", "LastName", "E", "the ERP's last name (7.5 s) is newer than the delete (4 s)")
}
