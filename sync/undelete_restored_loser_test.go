package sync_test

import (
	"context"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/conflict"
	"github.com/sfsync/sfsync/sync/synctest"
)

// editedFirst is Salesforce as the engine's sink, whose user edits a
// record just before the engine's first delete of it lands there: the
// edit's event is the caller's to append (see edited).
type editedFirst struct {
	*target // an alias, so that the target's System method is promoted
	fields  map[string]any
	at      sfsync.Version
	edited  chan sfsync.Change
}

func (s *editedFirst) Write(ctx context.Context, cs []sfsync.Change) error {
	for _, c := range cs {
		if c.Op == sfsync.OpDelete {
			select {
			case s.edited <- s.EditSilently(c.Object, c.RecordID, s.fields, s.at):
			default:
			}
		}
	}
	return s.target.Write(ctx, cs)
}

// The ERP creates a record at 3.5 s on its clock, which runs ahead, and
// deletes it at 4 s; Salesforce's user edits the last name at 2 s on its
// own clock just before the delete lands there. The edit's event, decided
// after, loses to the ERP's delete, and the repair of its fields finds the
// record deleted in Salesforce already: Salesforce's tombstone keeps the
// edit's value, which is older than the ERP's (3.5 s) and loses to it
// field by field too. Salesforce then restores the record at 5 s: the
// undelete restores that losing value, it does not change it. Dated at
// the undelete, it beat the ERP's newer value and overwrote it in the ERP
// (seed 4296).
func TestUndeleteRestoresNoLosingEditOverNewerData(t *testing.T) {
	b := newBidi(t)
	b.salesforceByRecord(synctest.WithWriteClock(func() sfsync.Version { return at(time.Second) }))
	sf := &editedFirst{target: b.sf, fields: map[string]any{"LastName": "n11"}, at: at(2 * time.Second), edited: make(chan sfsync.Change, 1)}
	r, settled := b.startSinks(t, conflict.LastWriteWins(), b.ext, sf)
	b.ext.Edit("Contact", "003A", map[string]any{"LastName": "n6", "Email": "e7"}, at(3500*time.Millisecond))
	settled()

	b.ext.Remove("Contact", "003A", at(4*time.Second))
	settled()
	var edit sfsync.Change
	select {
	case edit = <-sf.edited:
	default:
		logOutcomes(t, b)
		t.Fatal("the ERP's delete never reached Salesforce")
	}
	if rec, _ := b.sf.Record("Contact", "003A"); !rec.Deleted {
		logOutcomes(t, b)
		t.Fatalf("Salesforce holds %+v after the ERP's delete, want it deleted", rec)
	}
	b.sfLog.Append(edit)
	settled()
	if st := statusByKey(t, b.store)[edit.Key]; st != sfsync.StatusConflictLost {
		t.Logf("Salesforce's edit ended %s (the test means it to lose to the ERP's delete)", st)
	}

	b.sf.Restore("Contact", "003A", at(5*time.Second))
	settled()
	r.stop(t)
	logOutcomes(t, b)
	b.bothHold(t, "Contact", "003A", "LastName", "n6", "the ERP's last name (3.5 s) is newer than Salesforce's edit (2 s), which the undelete only restores")
	b.bothHold(t, "Contact", "003A", "Email", "e7", "never edited since the ERP's create")
	for _, s := range []*synctest.System{b.sf, b.ext} {
		if rec, ok := s.Record("Contact", "003A"); !ok || rec.Deleted {
			t.Errorf("%s holds %+v, want the record live: Salesforce's undelete (5 s) is newer than the ERP's delete (4 s)", s.System(), rec)
		}
	}
}
