package sync_test

import (
	"context"
	stdsync "sync"
	"sync/atomic"
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

// unpinnedSource is a stream started from its fallback that knows since
// when it is whole from its first event on, and whose pin never comes (a
// subscription at the tip of a quiet topic, say, stopped before).
type unpinnedSource struct {
	*synctest.Source
	mu    stdsync.Mutex
	since time.Time
}

func (s *unpinnedSource) Pin(ctx context.Context) (sfsync.Position, error) {
	<-ctx.Done()
	return sfsync.Position{}, ctx.Err()
}

func (s *unpinnedSource) GapFreeSince() (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.since, !s.since.IsZero()
}

func (s *unpinnedSource) Receive(ctx context.Context) ([]sfsync.Change, error) {
	cs, err := s.Source.Receive(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range cs {
		if s.since.IsZero() && !c.Version.IsZero() {
			s.since = c.Version.Time
		}
	}
	return cs, err
}

// resumedSource is a stream resumed from a stored position, as a Pub/Sub
// subscription with a stored replay id is: it pins at once, and it cannot
// tell since when it is whole (its stream began in an earlier run). It
// delivers its first delivery at once, and the rest once opened.
type resumedSource struct {
	*gatedSource
	delivered atomic.Bool
}

func (s *resumedSource) Pin(context.Context) (sfsync.Position, error) {
	return sfsync.Position{Stream: s.Stream(), Token: []byte("pinned-here")}, nil
}

func (s *resumedSource) GapFreeSince() (time.Time, bool) { return time.Time{}, false }

func (s *resumedSource) Receive(ctx context.Context) ([]sfsync.Change, error) {
	if !s.delivered.Swap(true) {
		return s.Source.Receive(ctx)
	}
	return s.gatedSource.Receive(ctx)
}

// A run started from its stream's fallback learns since when the stream is
// whole (its first event) and commits that event; it stops before its
// backfill pinned. The next run resumes the stream from the stored
// position, where the stream cannot tell that time, and backfills: its row
// carries Salesforce's email of an edit whose event the stream is about to
// deliver, with the version of a later edit of the last name. Bounded by
// the pin alone (this run's), the email was taken as set at the row's
// version and beat the ERP's newer edit (seed 96190, its second variant);
// the time the first run stored bounds it.
func TestBackfillOfAResumedStreamTakesTheStoredTimeSinceWhenItIsWhole(t *testing.T) {
	b := newBidi(t)
	policy := conflict.LastWriteWins(conflict.WithSkewTolerance(2 * time.Second))
	options := func(ext sfsync.EventSource, now time.Duration) []sfsyncsync.Option {
		return backfillingBothWays(b, policy, ext, reconcileOf(b), now)
	}

	// First run: a first start, whose backfill never pins.
	b.sf.Edit("Contact", "003A", map[string]any{"LastName": "N", "Email": "e0"}, at(time.Second))
	src1 := &unpinnedSource{Source: b.sfLog.Source()}
	ext1 := b.extLog.Source()
	e1, err := sfsyncsync.New(src1, nil, options(ext1, 2*time.Second)...)
	if err != nil {
		t.Fatal(err)
	}
	r1 := start(t, e1)
	settle(t, b.sfLog, src1.Source, b.extLog, ext1)
	if err := r1.stop(t); err != nil {
		t.Fatal(err)
	}
	if got := backfillState(t, b); got != sfsyncsync.PhaseOwed {
		t.Fatalf("after the first run the backfill is %q, want it still owed", got)
	}

	// Meanwhile: an edit of another record, Salesforce's email (its
	// event after the stored position), the ERP's newer email,
	// Salesforce's later last name.
	b.sf.Edit("Contact", "003B", map[string]any{"LastName": "B"}, at(3*time.Second))
	b.sf.Edit("Contact", "003A", map[string]any{"Email": "e-sf"}, at(5*time.Second))
	b.ext.Edit("Contact", "003A", map[string]any{"Email": "e-erp"}, at(10*time.Second))
	b.sf.Edit("Contact", "003A", map[string]any{"LastName": "N2"}, at(20*time.Second))

	// Second run: the stream resumes from the stored position (its
	// first delivery says it could); both streams deliver the rest only
	// after the backfill.
	src2 := &resumedSource{gatedSource: newGatedSource(b.sfLog.Source())}
	src2.close()
	ext2 := newGatedSource(b.extLog.Source())
	ext2.close()
	e2, err := sfsyncsync.New(src2, nil, options(ext2, 30*time.Second)...)
	if err != nil {
		t.Fatal(err)
	}
	r2 := start(t, e2)
	waitFor(t, func() bool { return backfillState(t, b) == sfsyncsync.PhaseDone })
	src2.reopen()
	ext2.reopen()
	settle(t, b.sfLog, src2.Source, b.extLog, ext2.Source)
	r2.stop(t)
	logOutcomes(t, b)
	b.bothHold(t, "Contact", "003A", "Email", "e-erp", "the ERP's email (10 s) is newer than Salesforce's (5 s)")
	b.bothHold(t, "Contact", "003A", "LastName", "N2", "Salesforce's last name (20 s) is the newest")
}

// expiredSource is a stream whose stored position is past retention: its
// first Receive fails with ErrPositionUnavailable, but only once opened.
// It pins at once, and cannot tell since when it is whole.
type expiredSource struct{ *gatedSource }

func (s expiredSource) Pin(context.Context) (sfsync.Position, error) {
	return sfsync.Position{Stream: s.Stream(), Token: []byte("pinned-here")}, nil
}

func (s expiredSource) GapFreeSince() (time.Time, bool) { return time.Time{}, false }

// The time since which a stream is whole, stored by the run whose stream
// began from its fallback, holds for a later run only once that run's
// stream has delivered from the stored position: one past retention
// begins again from the fallback, and what it lost is owed to a backfill.
// Here a run owes that backfill (its position expired after an outage, in
// which Salesforce changed the email) and stops before it is done; the
// next run resumes the backfill while its stream has not yet found the
// position expired. Taken at the first run's time, the row's email was
// dated before Salesforce's synced one and dropped as stale: the ERP never
// got the change made in the outage (seed 100168).
func TestStoredTimeSinceWhenWholeWaitsForTheStreamToResume(t *testing.T) {
	b := newBidi(t)
	policy := conflict.LastWriteWins()
	run := func(src sfsync.EventSource, rec sfsync.Reconciler, now time.Duration) *running {
		t.Helper()
		e, err := sfsyncsync.New(src, nil, backfillingBothWays(b, policy, b.extLog.Source(), rec, now)...)
		if err != nil {
			t.Fatal(err)
		}
		return start(t, e)
	}

	// First run: a first start; the stream tells it is whole since 1 s.
	b.sf.Edit("Contact", "003A", map[string]any{"LastName": "N", "Email": "e0"}, at(time.Second))
	src1 := &firstEventSource{Source: b.sfLog.Source(), asked: make(chan struct{})}
	r1 := run(src1, reconcileOf(b), 2*time.Second)
	waitFor(t, func() bool { return backfillState(t, b) == sfsyncsync.PhaseDone })
	settle(t, b.sfLog, src1.Source)
	if err := r1.stop(t); err != nil {
		t.Fatal(err)
	}

	// An outage past retention, in which Salesforce changed the email.
	b.sf.EditSilently("Contact", "003A", map[string]any{"Email": "e-sf"}, at(20*time.Second))

	// Second run: the stored position is past retention; the backfill it
	// owes does not finish.
	rec := &blockingReconciler{started: make(chan struct{}, 1)}
	r2 := run(b.sfLog.Source(synctest.PositionUnavailable()), rec, time.Hour)
	<-rec.started
	if err := r2.stop(t); err != nil {
		t.Fatal(err)
	}

	// Third run: the backfill resumes before the stream finds its
	// position expired.
	src3 := expiredSource{newGatedSource(b.sfLog.Source(synctest.PositionUnavailable()))}
	src3.close()
	r3 := run(src3, reconcileOf(b), 2*time.Hour)
	waitFor(t, func() bool { return backfillState(t, b) == sfsyncsync.PhaseDone })
	src3.reopen()
	r3.stop(t)
	logOutcomes(t, b)
	b.bothHold(t, "Contact", "003A", "Email", "e-sf", "Salesforce's email from the outage (20 s) is the newest")
}

// backfillingBothWays are the options of an engine syncing b both ways
// under policy, with ext as the ERP's source, backfilling contacts with
// rec, its clock now after t0.
func backfillingBothWays(b *bidi, policy sfsync.ConflictPolicy, ext sfsync.EventSource, rec sfsync.Reconciler, now time.Duration) []sfsyncsync.Option {
	return []sfsyncsync.Option{
		sfsyncsync.WithLogger(quiet()), sfsyncsync.WithTenant(org), sfsyncsync.WithClientID("sfsync"),
		sfsyncsync.WithStore(b.store), sfsyncsync.WithPolicy(policy), fastRetries(5),
		sfsyncsync.WithClock(func() time.Time { return t0.Add(now) }),
		sfsyncsync.WithRoute(sfsyncsync.Route{From: sfsync.Salesforce, Sink: b.ext}),
		sfsyncsync.WithRoute(sfsyncsync.Route{From: erp, Sink: b.sf}),
		sfsyncsync.WithSource(ext), sfsyncsync.WithReconciler(rec),
		sfsyncsync.WithBackfill("Contact"),
	}
}
