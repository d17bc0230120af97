package sync_test

import (
	"context"
	stdsync "sync"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/conflict"
)

// External wins. Salesforce's create reached the ERP on a retry after a
// lost acknowledgement: the retry changed nothing there, no echo answers
// it, and its mark lingers. A Salesforce user then changes the email and
// deletes the record; the ERP's later rename wins over the delete and
// brings the record back in Salesforce, keeping the user's email from the
// tombstone until that edit's own event decides it. The rename is an
// update of a record the ERP always had: no write of ours crossed it.
// Before, the resync took the change as brought back (a create) and the
// lingering mark's read (no record then) for a crossing, and wrote the
// whole record, the user's email with it, back to the ERP as the rename's
// data: the email's own event then came stale, and the user's email stood
// on both sides where the ERP's wins (the simulator's seed 90730).
func TestRecordBroughtBackIsNotResyncedByALingeringMark(t *testing.T) {
	b := newBidi(t)
	b.salesforceByRecord()
	// The ERP takes Salesforce's create without an event of it: no echo
	// ever answers that write (as when a retry changed nothing).
	ext := &unechoedCreate{target: b.ext}
	r, settled := b.startSinks(t, conflict.ExternalWins(), ext, b.sf)
	t.Cleanup(func() {
		if t.Failed() {
			logOutcomes(t, b)
		}
	})
	b.sf.Edit("Contact", "003A", map[string]any{"LastName": "n1", "Email": "e2"}, at(0))
	settled()
	if _, ok := b.ext.Record("Contact", "003A"); !ok {
		t.Fatal("the create did not reach the ERP")
	}
	email := b.sf.EditSilently("Contact", "003A", map[string]any{"Email": "e17"}, at(41*time.Second))
	del := b.sf.RemoveSilently("Contact", "003A", at(42*time.Second))
	b.ext.Edit("Contact", "003A", map[string]any{"LastName": "n18"}, at(43*time.Second))
	settled()
	b.sfLog.Append(email)
	b.sfLog.Append(del)
	settled()
	r.stop(t)
	b.bothHold(t, "Contact", "003A", "LastName", "n18", "the ERP's rename, which brought the record back")
	b.bothHold(t, "Contact", "003A", "Email", "e2", "the ERP holds an email, and the external system wins")
}

// unechoedCreate is a sink that applies the first create written to it
// without an event of it.
type unechoedCreate struct {
	*target
	mu   stdsync.Mutex
	done bool
}

func (s *unechoedCreate) Write(ctx context.Context, changes []sfsync.Change) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.done && len(changes) == 1 && changes[0].Op == sfsync.OpCreate {
		s.done = true
		c := changes[0]
		s.EditSilently(c.Object, c.RecordID, c.Fields, c.Version)
		return nil
	}
	return s.target.Write(ctx, changes)
}
