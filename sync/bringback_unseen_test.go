package sync_test

import (
	"errors"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/conflict"
	sfsyncsync "github.com/sfsync/sfsync/sync"
	"github.com/sfsync/sfsync/sync/synctest"
)

// A record brought back from the ERP into Salesforce, whose tombstone holds
// a Salesforce edit the engine has not seen yet (its event, and the
// delete's, are still on their way): the ERP's value of that field is its
// own change that lost (to the delete); taken along, it would overwrite
// Salesforce's edit, whose event then finds the ERP holding the same
// value it lost to. The tombstone's value stays, and the edit's own event
// decides the field, the same way in both directions.
func TestRecordBroughtBackKeepsATombstoneEditNotSeenYet(t *testing.T) {
	for _, retried := range []bool{false, true} {
		name := "written at once"
		if retried {
			// The retry writes the create as the first attempt built it:
			// the tombstone's value stays Salesforce's data, not claimed
			// at the ERP's version.
			name = "written on retry"
		}
		t.Run(name, func(t *testing.T) { recordBroughtBackKeepsATombstoneEditNotSeenYet(t, retried) })
	}
}

func recordBroughtBackKeepsATombstoneEditNotSeenYet(t *testing.T, retried bool) {
	b := newBidi(t)
	b.salesforceByRecord()
	sfSrc, extSrc := b.sfLog.Source(), newGatedSource(b.extLog.Source())
	e, err := sfsyncsync.New(sfSrc, nil, append(b.options(conflict.LastWriteWins(conflict.WithSkewTolerance(2*time.Second))), sfsyncsync.WithSource(extSrc))...)
	if err != nil {
		t.Fatal(err)
	}
	r := start(t, e)
	settled := func() { t.Helper(); settle(t, b.sfLog, sfSrc, b.extLog, extSrc.Source) }
	b.sf.Edit("Contact", "003A", map[string]any{"LastName": "N", "Phone": "p0"}, at(0))
	settled()
	// The ERP's two edits below are made on its live record, before the
	// engine reads either: held back until then, so that no write of the
	// engine's reaches the ERP in between.
	extSrc.close()
	// Salesforce sets Phone at 3s and deletes the record at 8s; neither
	// event has reached the engine yet.
	sfEdit := b.sf.EditSilently("Contact", "003A", map[string]any{"Phone": "p13"}, at(3*time.Second))
	sfDel := b.sf.RemoveSilently("Contact", "003A", at(8*time.Second))
	// The ERP sets Phone at 4.5s (a tie with Salesforce's 3s within the
	// skew, which Salesforce, the system of record, wins), then edits
	// LastName at 10.5s, after the delete beyond the skew: the record
	// comes back.
	b.ext.Edit("Contact", "003A", map[string]any{"Phone": "p10"}, at(4500*time.Millisecond))
	if retried {
		b.sf.InjectFault(synctest.Fault{Err: sfsync.Retryable(errors.New("REQUEST_LIMIT_EXCEEDED"))})
	}
	b.ext.Edit("Contact", "003A", map[string]any{"LastName": "E"}, at(10500*time.Millisecond))
	extSrc.reopen()
	settled()
	// (Salesforce brings a record back by a create under a new id: what
	// the create writes is what the record holds until Salesforce's own
	// events are decided.)
	if got := field(t, b.sf, "Contact", "003A", "Phone"); got != "p13" {
		t.Errorf("Salesforce Phone = %v after the record came back, want p13: its own edit, which the engine has not seen yet, in place of the ERP's value that lost", got)
	}
	if retried {
		// And Salesforce's edit is rejected by the ERP for now: the
		// delete, which loses, brings the record back in Salesforce
		// before the edit is decided.
		b.ext.InjectFault(synctest.Fault{Err: sfsync.Permanent(errors.New("validation rule"))})
	}
	b.sfLog.Append(sfEdit)
	b.sfLog.Append(sfDel)
	settled()
	if retried {
		requeueTo(t, r, outcomes(t, b.store, sfsync.OutcomeQuery{Status: sfsync.StatusDeadLettered}), erp)
		settled()
	}
	for _, sys := range []*synctest.System{b.sf, b.ext} {
		if rec, ok := sys.Record("Contact", "003A"); !ok || rec.Deleted {
			t.Errorf("%s holds %+v, want the record live: the ERP's edit at 10.5s is newer than the delete", sys.System(), rec)
		}
	}
	b.bothHold(t, "Contact", "003A", "LastName", "E", "the ERP's edit that brought the record back")
	b.bothHold(t, "Contact", "003A", "Phone", "p13", "Salesforce's edit ties with the ERP's within the skew, and Salesforce wins ties")
	if t.Failed() {
		logOutcomes(t, b)
	}
}
