package sync_test

import (
	"context"
	stdsync "sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/conflict"
	"github.com/sfsync/sfsync/sync/synctest"
)

// onNextRead is a target that runs a function, once armed, after the next
// read of a record. It is readHook (repair_order_test.go) with the target
// embedded through the alias, so that the target's System method is
// promoted: the engine then knows the sink writes to Salesforce, whose
// changes flow back, and waits for them as it does for the real sink.
type onNextRead struct {
	*target
	mu   stdsync.Mutex
	next func()
}

func (s *onNextRead) arm(f func()) {
	s.mu.Lock()
	s.next = f
	s.mu.Unlock()
}

func (s *onNextRead) Read(ctx context.Context, object string, ids []string) (map[string]sfsync.Record, error) {
	recs, err := s.target.Read(ctx, object, ids)
	s.mu.Lock()
	f := s.next
	s.next = nil
	s.mu.Unlock()
	if f != nil {
		f()
	}
	return recs, err
}

// Salesforce stamps a record with whole seconds. A Salesforce user edits a
// field in the same second as our write there; the record's version is
// that second, which our write's echo explains. The ERP then edits the
// field, and the engine reads the record before the user's event comes:
// the record's value is not the one our echo carried, so the engine waits
// for Salesforce's change and decides against it, rather than against the
// ERP's older data it believed Salesforce held. The two edits tie under
// last write wins with skew, and the tie is decided once, the same way in
// both directions.
func TestEditInTheSecondOfOurEchoIsWaitedFor(t *testing.T) {
	b := newBidi(t)
	var commit atomic.Int64
	commit.Store(300)
	b.salesforceByRecord(synctest.WithWriteClock(func() sfsync.Version {
		return sfsync.Version{Time: at(9 * time.Second).Time, Commit: commit.Add(1)}
	}))
	sf := &onNextRead{target: b.sf}
	_, settled := b.startThrough(t, conflict.LastWriteWins(conflict.WithSkewTolerance(3*time.Second)), sf)
	b.ext.Edit("Contact", "003A", map[string]any{"LastName": "n", "Phone": "p2"}, at(2*time.Second))
	settled()

	user := b.sf.EditSilently("Contact", "003A", map[string]any{"Phone": "p9"}, sfsync.Version{Time: at(9 * time.Second).Time, Commit: commit.Add(1)})
	sf.arm(func() { b.sfLog.Append(user) })
	b.ext.Edit("Contact", "003A", map[string]any{"Phone": "p10"}, at(10*time.Second))
	settled()

	sfPhone, extPhone := field(t, b.sf, "Contact", "003A", "Phone"), field(t, b.ext, "Contact", "003A", "Phone")
	if sfPhone != extPhone {
		logOutcomes(t, b)
		t.Errorf("Salesforce holds Phone=%v and the ERP %v: the tie between the user's edit (9s) and the ERP's (10s) was decided both ways", sfPhone, extPhone)
	}
}
