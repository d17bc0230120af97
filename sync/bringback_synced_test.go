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

// Salesforce made a record at 7 s and deleted it in the same second (its
// delete's event not come yet); the ERP's edit of the last name at 7 s,
// no newer than the delete, lost to it, and the repair's delete lost in
// turn to the ERP's next edit, at 8 s, which brings the record back. The
// last name in Salesforce's tombstone, a tie with the ERP's that the
// target keeps, stays in the record brought back: the ERP must get it too.
// Its own losing edit's repair was a delete, which carries no value, and
// Salesforce's create was decided long before: the two systems parted
// (seed 100033).
func TestRecordBroughtBackTakesTheTombstonesValueToTheSource(t *testing.T) {
	b := newBidi(t)
	b.salesforceByRecord()
	sfSrc, extSrc := b.sfLog.Source(), newGatedSource(b.extLog.Source())
	e, err := sfsyncsync.New(sfSrc, nil, append(b.options(conflict.LastWriteWins()), sfsyncsync.WithSource(extSrc))...)
	if err != nil {
		t.Fatal(err)
	}
	r := start(t, e)
	settled := func() { t.Helper(); settle(t, b.sfLog, sfSrc, b.extLog, extSrc.Source) }
	b.sf.Edit("Contact", "003A", map[string]any{"LastName": "n10", "Phone": "p12"}, at(7*time.Second))
	settled()
	deleted := b.sf.RemoveSilently("Contact", "003A", at(7*time.Second))
	// Both ERP edits are made before the engine reads either.
	extSrc.close()
	b.ext.Edit("Contact", "003A", map[string]any{"LastName": "n14"}, at(7*time.Second))
	b.ext.Edit("Contact", "003A", map[string]any{"Phone": "p15"}, at(8*time.Second))
	extSrc.reopen()
	settled()
	b.sfLog.Append(deleted)
	settled()
	r.stop(t)
	logOutcomes(t, b)
	sfName, extName := field(t, b.sf, "Contact", "003A", "LastName"), field(t, b.ext, "Contact", "003A", "LastName")
	if sfName != extName {
		t.Errorf("Salesforce holds LastName %v, the ERP %v: the record brought back must agree", sfName, extName)
	}
	b.bothHold(t, "Contact", "003A", "Phone", "p15", "the ERP's edit that brought the record back")
}
