package sync_test

import (
	"context"
	stdsync "sync"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/conflict"
	sfsyncsync "github.com/sfsync/sfsync/sync"
	"github.com/sfsync/sfsync/sync/synctest"
)

// stallsAnotherRecord is the ERP as the engine writes it: a write of
// record stalled waits for release (see readsAfterTheWait), or for a write
// of another record, which only a decision of the waiting change makes.
type stallsAnotherRecord struct {
	*target
	stalled string
	release chan struct{}
	decided func()
}

func (s *stallsAnotherRecord) Write(ctx context.Context, cs []sfsync.Change) error {
	for _, c := range cs {
		if c.RecordID != s.stalled {
			// The waiting change was decided: nothing waits any more.
			s.decided()
		}
	}
	for _, c := range cs {
		if c.RecordID == s.stalled {
			select {
			case <-s.release:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	return s.target.Write(ctx, cs)
}

// readsAfterTheWait is Salesforce as the engine reads it: it opens the
// gated Salesforce stream at the first read of record watched, and closes
// release at the first read of it after the wait for a target's event is
// over.
type readsAfterTheWait struct {
	*target
	watched string
	first   time.Time
	mu      stdsync.Mutex
	opened  func()
	release chan struct{}
	done    bool
}

func (s *readsAfterTheWait) Read(ctx context.Context, object string, ids []string) (map[string]sfsync.Record, error) {
	recs, err := s.target.Read(ctx, object, ids)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range ids {
		if id != s.watched || s.done {
			continue
		}
		switch {
		case s.first.IsZero():
			s.first = time.Now()
			s.opened()
		case time.Since(s.first) > 2*time.Second+200*time.Millisecond:
			s.done = true
			close(s.release)
		}
	}
	return recs, err
}

// decided releases the stall once.
func (s *readsAfterTheWait) decided() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.done {
		s.done = true
		close(s.release)
	}
}

// An ERP edit whose decision finds Salesforce's record changed by events
// the engine has not decided waits for them. Those events have arrived:
// they are queued in the lane, behind a write of another record that
// stalls past the wait's 2 s. They are not lost, and the ERP edit waits on
// for them: taken as lost, Salesforce's old email was dated at the record's
// version (a later edit of another field) and beat the ERP's newer one
// (seed 96263).
func TestAChangeWaitsForTargetEventsQueuedBehindAStalledWrite(t *testing.T) {
	b := newBidi(t)
	b.sf = synctest.NewSystem(sfsync.Salesforce, synctest.WithFeed(b.sfLog), synctest.WithTenant(org), synctest.WithRecordVersionsOnly())
	for _, id := range []string{"003A", "003B"} {
		b.sf.EditSilently("Contact", id, map[string]any{"LastName": "N", "Email": "e1"}, at(time.Second))
		b.ext.EditSilently("Contact", id, map[string]any{"LastName": "N", "Email": "e1"}, at(time.Second))
	}
	// Salesforce: another record's edit, then this one's email (3 s) and
	// last name (8 s). The ERP: the email at 5 s, newer than Salesforce's.
	b.sf.Edit("Contact", "003B", map[string]any{"LastName": "x"}, at(2*time.Second))
	b.sf.Edit("Contact", "003A", map[string]any{"Email": "e3"}, at(3*time.Second))
	b.sf.Edit("Contact", "003A", map[string]any{"LastName": "n8"}, at(8*time.Second))
	b.ext.Edit("Contact", "003A", map[string]any{"Email": "e5"}, at(5*time.Second))

	release := make(chan struct{})
	sfSrc := newGatedSource(b.sfLog.Source())
	sfSrc.close()
	toSF := &readsAfterTheWait{target: b.sf, watched: "003A", release: release, opened: sfSrc.reopen}
	toExt := &stallsAnotherRecord{target: b.ext, stalled: "003B", release: release, decided: toSF.decided}
	extSrc := b.extLog.Source()
	e, err := sfsyncsync.New(sfSrc, nil,
		sfsyncsync.WithLogger(quiet()), sfsyncsync.WithTenant(org), sfsyncsync.WithClientID("sfsync"),
		sfsyncsync.WithStore(b.store), sfsyncsync.WithPolicy(conflict.LastWriteWins()),
		sfsyncsync.WithRoute(sfsyncsync.Route{From: sfsync.Salesforce, Sink: toExt}),
		sfsyncsync.WithRoute(sfsyncsync.Route{From: erp, Sink: toSF}),
		sfsyncsync.WithSource(extSrc), fastRetries(5), sfsyncsync.WithWorkers(1), sfsyncsync.WithMaxBatch(1))
	if err != nil {
		t.Fatal(err)
	}
	r := start(t, e)
	settle(t, b.sfLog, sfSrc.Source, b.extLog, extSrc)
	r.stop(t)
	logOutcomes(t, b)
	b.bothHold(t, "Contact", "003A", "Email", "e5", "the ERP's email (5 s) is newer than Salesforce's (3 s)")
	b.bothHold(t, "Contact", "003A", "LastName", "n8", "Salesforce's last name (8 s)")
}
