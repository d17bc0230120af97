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

// firstEventSource is a stream started from its fallback, as a Pub/Sub
// subscription with no stored replay id is: it pins at once, and it knows
// since when it is whole (sync.GapFree) only once it has delivered its
// first event. It delivers nothing until the engine first asks it since
// when.
type firstEventSource struct {
	*synctest.Source
	asked     chan struct{}
	askedOnce stdsync.Once
	mu        stdsync.Mutex
	since     time.Time
}

func (s *firstEventSource) Pin(context.Context) (sfsync.Position, error) {
	return sfsync.Position{Stream: s.Stream(), Token: []byte("pinned-here")}, nil
}

func (s *firstEventSource) GapFreeSince() (time.Time, bool) {
	s.askedOnce.Do(func() { close(s.asked) })
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.since, !s.since.IsZero()
}

func (s *firstEventSource) Receive(ctx context.Context) ([]sfsync.Change, error) {
	select {
	case <-s.asked:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	cs, err := s.Source.Receive(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.since.IsZero() {
		for _, c := range cs {
			if !c.Version.IsZero() {
				s.since = c.Version.Time
				break
			}
		}
	}
	return cs, err
}

// A first start backfills, and its rows are decided against what the
// stream, started from its oldest retained event, will still deliver. Until
// that stream's first event says since when it is whole, a row is bounded
// only by the pin: a value the engine never saw is taken for one set by a
// change lost with its event, at the row's version. Here Salesforce's email
// was set long before (its event is in the stream), and the row's version
// is that of a later edit of the last name: dated at the row, the old email
// beat the ERP's newer edit, whose event came after the backfill (seed
// 96190).
func TestFirstStartBackfillWaitsForTheStreamToTellSinceWhenItIsWhole(t *testing.T) {
	b := newBidi(t)
	b.sf.Edit("Contact", "003A", map[string]any{"LastName": "N", "Email": "e-sf"}, at(time.Second))
	b.ext.EditSilently("Contact", "003A", map[string]any{"LastName": "N", "Email": "e-sf"}, at(time.Second))
	b.ext.Edit("Contact", "003A", map[string]any{"Email": "e-erp"}, at(10*time.Second))
	b.sf.Edit("Contact", "003A", map[string]any{"LastName": "N2"}, at(20*time.Second))

	src := &firstEventSource{Source: b.sfLog.Source(), asked: make(chan struct{})}
	// The ERP's edit reaches the engine after the backfill.
	extSrc := newGatedSource(b.extLog.Source())
	extSrc.close()
	policy := conflict.LastWriteWins(conflict.WithSkewTolerance(2 * time.Second))
	e, err := sfsyncsync.New(src, nil,
		sfsyncsync.WithLogger(quiet()), sfsyncsync.WithTenant(org), sfsyncsync.WithClientID("sfsync"),
		sfsyncsync.WithStore(b.store), sfsyncsync.WithPolicy(policy), fastRetries(5),
		sfsyncsync.WithClock(func() time.Time { return t0.Add(30 * time.Second) }),
		sfsyncsync.WithRoute(sfsyncsync.Route{From: sfsync.Salesforce, Sink: b.ext}),
		sfsyncsync.WithRoute(sfsyncsync.Route{From: erp, Sink: b.sf}),
		sfsyncsync.WithSource(extSrc), sfsyncsync.WithReconciler(reconcileOf(b)),
		sfsyncsync.WithBackfill("Contact"))
	if err != nil {
		t.Fatal(err)
	}
	r := start(t, e)
	waitFor(t, func() bool { return backfillState(t, b) == sfsyncsync.PhaseDone })
	extSrc.reopen()
	settle(t, b.sfLog, src.Source, b.extLog, extSrc.Source)
	r.stop(t)
	logOutcomes(t, b)
	b.bothHold(t, "Contact", "003A", "Email", "e-erp", "the ERP's email (10 s) is newer than Salesforce's (1 s)")
	b.bothHold(t, "Contact", "003A", "LastName", "N2", "Salesforce's last name (20 s) is the newest")
}
