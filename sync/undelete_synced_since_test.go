package sync_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/conflict"
	"github.com/sfsync/sfsync/sync/synctest"
)

// restoredFirst is Salesforce as the engine's sink, whose user restores
// a deleted record just before the engine's first repair write reaches it.
type restoredFirst struct {
	*target  // an alias, so that the target's System method is promoted
	restored chan sfsync.Change
}

func (s *restoredFirst) Write(ctx context.Context, cs []sfsync.Change) error {
	for _, c := range cs {
		if strings.HasPrefix(c.Key, "repair:") {
			select {
			case s.restored <- s.RestoreSilently(c.Object, c.RecordID, at(15*time.Second)):
			default:
			}
		}
	}
	return s.target.Write(ctx, cs)
}

// The ERP edits the city at 6 s and the last name at 9 s, and Salesforce
// rejects both for now. Salesforce's delete at 5 s then loses to the ERP's
// record (9 s), and the repair that brings the record back in Salesforce
// lands just after Salesforce's user restored it at 15 s, with the city it
// had before its delete. The undelete's event, decided last, carries that
// older city: the ERP's, which Salesforce holds now, is newer. Dated at
// the undelete, the restored city beat it and overwrote it in the ERP,
// while Salesforce kept the ERP's (seed 89260).
func TestUndeleteRestoresNoValueOverDataTakenSinceTheDelete(t *testing.T) {
	b := newBidi(t)
	b.salesforceByRecord()
	var refuse atomic.Bool
	b.sf.InjectFault(synctest.Fault{Match: func(sfsync.Change) bool { return refuse.Load() },
		Err: sfsync.Permanent(errors.New("a validation rule an operator then fixes")), Times: -1})
	sf := &restoredFirst{target: b.sf, restored: make(chan sfsync.Change, 1)}
	r, settled := b.startSinks(t, conflict.FieldOwnership(conflict.Owners{"Email": sfsync.Salesforce}, conflict.LastWriteWins(conflict.WithSkewTolerance(2*time.Second))), b.ext, sf)
	b.ext.Edit("Contact", "003A", map[string]any{"Email": "e2", "LastName": "n1", "MailingCity": "c4", "Phone": "p3"}, at(time.Second))
	settled()

	refuse.Store(true)
	sfEdit := b.sf.EditSilently("Contact", "003A", map[string]any{"Email": "e16", "LastName": "n15"}, at(4*time.Second))
	b.ext.Edit("Contact", "003A", map[string]any{"MailingCity": "c19"}, at(6*time.Second))
	b.ext.Edit("Contact", "003A", map[string]any{"LastName": "n24"}, at(9*time.Second))
	settled()
	b.sfLog.Append(sfEdit)
	settled()
	refuse.Store(false)
	b.sf.Remove("Contact", "003A", at(5*time.Second))
	settled()
	var restored sfsync.Change
	select {
	case restored = <-sf.restored:
	default:
		logOutcomes(t, b)
		t.Fatal("no repair brought the record back in Salesforce")
	}
	if got := field(t, b.sf, "Contact", "003A", "MailingCity"); got != "c19" {
		logOutcomes(t, b)
		t.Fatalf("Salesforce's city after the repair = %v, want c19: the ERP's edit (6s) won over the delete (5s)", got)
	}
	b.sfLog.Append(restored)
	settled()
	for _, d := range outcomes(t, b.store, sfsync.OutcomeQuery{Status: sfsync.StatusDeadLettered}) {
		if _, err := r.e.Requeue(context.Background(), d.Key); err != nil {
			t.Fatal(err)
		}
		settled()
	}
	r.stop(t)
	logOutcomes(t, b)
	b.bothHold(t, "Contact", "003A", "MailingCity", "c19", "the ERP's edit (6s) is the city's newest; the undelete restores the city as of the delete")
	b.bothHold(t, "Contact", "003A", "LastName", "n24", "the ERP's edit (9s) is the last name's newest")
}
