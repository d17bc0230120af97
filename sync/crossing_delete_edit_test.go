package sync_test

import (
	"context"
	"slices"
	stdsync "sync"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/conflict"
)

// The ERP's phone edit (4.5s) loses to Salesforce's delete (8s), whose
// event has not come yet: the repair deletes the record in the ERP. An ERP
// user edits the last name (10.5s) after that delete's read and before it
// lands: the delete removes the edit with the record. The edit's event
// comes before the delete's echo, newer than Salesforce's delete: it wins,
// brings the record back in Salesforce from the ERP's tombstone, and the
// resync brings it back in the ERP. Before, the ERP keeps field versions,
// and a read of such a record was taken to have seen every change (see
// sawChange): the edit was written to Salesforce's deleted record as an
// update, and the record stayed deleted on both sides (seen in
// TestRecordBroughtBackKeepsATombstoneEditNotSeenYet, when the ERP's two
// edits reached the engine apart).
func TestDeleteOfOursCrossingAnEditOfAFieldVersionedTarget(t *testing.T) {
	b := newBidi(t)
	b.salesforceByRecord()
	ext := &editBeforeDelete{target: b.ext}
	r, settled := b.startSinks(t, conflict.LastWriteWins(conflict.WithSkewTolerance(2*time.Second)), ext, b.sf)
	t.Cleanup(func() {
		if t.Failed() {
			logOutcomes(t, b)
		}
	})

	b.sf.Edit("Contact", "003A", map[string]any{"LastName": "N", "Phone": "p0"}, at(0))
	settled()
	sfEdit := b.sf.EditSilently("Contact", "003A", map[string]any{"Phone": "p13"}, at(3*time.Second))
	sfDel := b.sf.RemoveSilently("Contact", "003A", at(8*time.Second))
	ext.beforeDelete(func() {
		b.ext.Edit("Contact", "003A", map[string]any{"LastName": "E"}, at(10500*time.Millisecond))
	})
	b.ext.Edit("Contact", "003A", map[string]any{"Phone": "p10"}, at(4500*time.Millisecond))
	settled()
	b.sfLog.Append(sfEdit)
	b.sfLog.Append(sfDel)
	settled()
	r.stop(t)
	if !ext.edited() {
		t.Fatal("the repair wrote no delete to the ERP")
	}
	b.bothLive(t, "003A", "the ERP's edit at 10.5s is newer than the delete")
	b.bothHold(t, "Contact", "003A", "LastName", "E", "the ERP's edit that the delete crossed, newer than Salesforce's delete")
	b.bothHold(t, "Contact", "003A", "Phone", "p13", "Salesforce's edit ties with the ERP's within the skew, and Salesforce wins ties")
}

// editBeforeDelete is a sink that runs an edit of its system just before
// the first delete written to it: a user's edit after the delete's read.
type editBeforeDelete struct {
	*target
	mu   stdsync.Mutex
	edit func()
	done bool
}

func (s *editBeforeDelete) beforeDelete(edit func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.edit = edit
}

func (s *editBeforeDelete) edited() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.done
}

func (s *editBeforeDelete) Write(ctx context.Context, changes []sfsync.Change) error {
	s.mu.Lock()
	if s.edit != nil && !s.done && slices.ContainsFunc(changes, func(c sfsync.Change) bool { return c.Op == sfsync.OpDelete }) {
		s.edit()
		s.done = true
	}
	s.mu.Unlock()
	return s.target.Write(ctx, changes)
}
