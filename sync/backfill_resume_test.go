package sync_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"strings"
	stdsync "sync"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/reconcile"
	sfsyncsync "github.com/sfsync/sfsync/sync"
	"github.com/sfsync/sfsync/sync/synctest"
)

// interruptedPages is a paged authority that stops after a number of pages
// and waits there for the engine to be stopped, like a process killed in
// the middle of a backfill. It records the resume token of each scan and
// counts the records it hands out.
type interruptedPages struct {
	*synctest.PagedSystem
	pages   int           // pages before stopping; 0 never stops
	stopped chan struct{} // closed when it stopped

	mu      stdsync.Mutex
	resumes [][]byte
	records int
}

func (a *interruptedPages) ScanPages(ctx context.Context, object string, since time.Time, resume []byte) iter.Seq2[reconcile.Page, error] {
	a.mu.Lock()
	a.resumes = append(a.resumes, resume)
	a.mu.Unlock()
	return func(yield func(reconcile.Page, error) bool) {
		n := 0
		for page, err := range a.PagedSystem.ScanPages(ctx, object, since, resume) {
			if err != nil {
				yield(page, err)
				return
			}
			if a.pages > 0 && n == a.pages {
				close(a.stopped)
				<-ctx.Done()
				yield(reconcile.Page{}, ctx.Err())
				return
			}
			n++
			records := page.Records
			page.Records = func(y func(sfsync.Record, error) bool) {
				for r, err := range records {
					a.mu.Lock()
					a.records++
					a.mu.Unlock()
					if !y(r, err) {
						return
					}
				}
			}
			if !yield(page, nil) {
				return
			}
		}
	}
}

func backfillState(t *testing.T, b *bidi) string {
	t.Helper()
	cp, err := b.store.LoadCheckpoint(context.Background(), "sfsync/backfill/Contact")
	if errors.Is(err, sfsync.ErrNotFound) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	return sfsyncsync.BackfillPhaseOf(cp.Token)
}

// A backfill killed half way resumes after the last page whose records
// all had outcomes: the second run neither reads nor writes again what the
// first one applied, and the whole object arrives.
func TestBackfillResumesAfterItsLastCommittedPage(t *testing.T) {
	b := newBidi(t)
	for i := range 10 {
		b.sf.EditSilently("Contact", fmt.Sprintf("003%02d", i), map[string]any{"LastName": fmt.Sprint("N", i)}, at(time.Duration(i)*time.Second))
	}
	first := &interruptedPages{PagedSystem: b.sf.Paged(3), pages: 2, stopped: make(chan struct{})}
	var mu stdsync.Mutex
	var reports []sfsyncsync.BackfillProgress
	src1 := b.sfLog.Source()
	e1 := oneWay(t, b, src1, sfsyncsync.WithBackfill("Contact"),
		sfsyncsync.WithReconciler(reconcile.New(first, reconcile.WithTenant(org), reconcile.WithLogger(quiet()))),
		sfsyncsync.WithBackfillProgress(func(p sfsyncsync.BackfillProgress) {
			mu.Lock()
			reports = append(reports, p)
			mu.Unlock()
		}))
	r1 := start(t, e1)
	<-first.stopped
	// The stream commits a position of its own meanwhile: the next run
	// resumes the stream, not a first start.
	b.sf.Edit("Contact", "003LIVE", map[string]any{"LastName": "Live"}, at(time.Hour))
	settle(t, b.sfLog, src1)
	if st := e1.Streams(); len(st) != 1 || st[0].Phase != sfsyncsync.StreamBackfilling || !strings.Contains(st[0].Reason, "6 records read") {
		t.Errorf("streams during the backfill: %+v, want backfilling with its progress", st)
	}
	if err := r1.stop(t); err != nil {
		t.Fatal(err)
	}
	if got := backfillState(t, b); got != sfsyncsync.PhaseReading {
		t.Fatalf("state after the interruption: phase %q, want %q", got, sfsyncsync.PhaseReading)
	}
	if p := e1.Backfills(); len(p) != 1 || p[0].Read != 6 || p[0].Phase != sfsyncsync.PhaseReading {
		t.Errorf("Backfills after two pages: %+v, want 6 records read", p)
	}
	mu.Lock()
	phases := []string{}
	for _, p := range reports {
		phases = append(phases, p.Phase)
	}
	mu.Unlock()
	if len(phases) < 3 || phases[0] != sfsyncsync.PhaseOwed || phases[1] != sfsyncsync.PhasePinned {
		t.Errorf("progress reports went through phases %v, want owed, pinned, then reading", phases)
	}
	changesBefore, _ := b.ext.Writes()

	second := &interruptedPages{PagedSystem: b.sf.Paged(3)}
	src2 := b.sfLog.Source()
	e2 := oneWay(t, b, src2, sfsyncsync.WithBackfill("Contact"),
		sfsyncsync.WithReconciler(reconcile.New(second, reconcile.WithTenant(org), reconcile.WithLogger(quiet()))))
	r2 := start(t, e2)
	waitFor(t, func() bool { return backfillState(t, b) == sfsyncsync.PhaseDone })
	if err := r2.stop(t); err != nil {
		t.Fatal(err)
	}

	if len(second.resumes) != 1 || second.resumes[0] == nil {
		t.Fatalf("second run scanned with resume tokens %q, want one token after the sixth record", second.resumes)
	}
	var tok struct{ ID string }
	if err := json.Unmarshal(second.resumes[0], &tok); err != nil || tok.ID != "00305" {
		t.Errorf("second run resumed after %q (%v), want after 00305", second.resumes[0], err)
	}
	// The 4 the first run did not read, and the live record, which the
	// engine already applied from the stream.
	if second.records != 5 {
		t.Errorf("second run read %d records, want the 4 the first did not apply and the live one", second.records)
	}
	changesAfter, _ := b.ext.Writes()
	if changesAfter-changesBefore != 4 {
		t.Errorf("second run wrote %d changes, want 4 (the live record is applied already)", changesAfter-changesBefore)
	}
	for i := range 10 {
		if got := field(t, b.ext, "Contact", fmt.Sprintf("003%02d", i), "LastName"); got != fmt.Sprint("N", i) {
			t.Errorf("003%02d LastName = %v", i, got)
		}
	}
	if p := e2.Backfills(); len(p) != 1 || p[0].Read != 11 || p[0].Phase != sfsyncsync.PhaseDone {
		t.Errorf("Backfills at the end: %+v, want done with 11 read", p)
	}
}

// pinningSource pins only when the test lets it.
type pinningSource struct {
	*synctest.Source
	asked   chan struct{}
	release chan struct{}
	// once closes asked: a backfill owed again while one waits for its
	// pin asks again.
	once stdsync.Once
}

func (s *pinningSource) Pin(ctx context.Context) (sfsync.Position, error) {
	s.once.Do(func() { close(s.asked) })
	select {
	case <-s.release:
		return sfsync.Position{Stream: s.Stream(), Token: []byte("pinned-here")}, nil
	case <-ctx.Done():
		return sfsync.Position{}, ctx.Err()
	}
}

// countingAuthority counts scans.
type countingAuthority struct {
	*synctest.System
	mu    stdsync.Mutex
	scans int
}

func (c *countingAuthority) Scan(ctx context.Context, object string, ids []string, since time.Time) iter.Seq2[sfsync.Record, error] {
	c.mu.Lock()
	c.scans++
	c.mu.Unlock()
	return c.System.Scan(ctx, object, ids, since)
}

// A backfill queries authoritative state only once every source pinned its
// stream, and stores the pinned positions with its state.
func TestBackfillQueriesOnlyAfterThePin(t *testing.T) {
	b := newBidi(t)
	b.sf.EditSilently("Contact", "003A", map[string]any{"LastName": "Before"}, at(0))
	src := &pinningSource{Source: b.sfLog.Source(), asked: make(chan struct{}), release: make(chan struct{})}
	auth := &countingAuthority{System: b.sf}
	var mu stdsync.Mutex
	var pinned []sfsync.Position
	e := oneWay(t, b, src, sfsyncsync.WithBackfill("Contact"),
		sfsyncsync.WithReconciler(reconcile.New(auth, reconcile.WithTenant(org), reconcile.WithLogger(quiet()))),
		sfsyncsync.WithBackfillProgress(func(p sfsyncsync.BackfillProgress) {
			if p.Phase == sfsyncsync.PhasePinned {
				mu.Lock()
				pinned = p.Pinned
				mu.Unlock()
			}
		}))
	r := start(t, e)
	<-src.asked
	auth.mu.Lock()
	scans := auth.scans
	auth.mu.Unlock()
	if scans != 0 {
		t.Fatalf("the backfill scanned %d times before the stream was pinned", scans)
	}
	close(src.release)
	waitFor(t, func() bool { return backfillState(t, b) == sfsyncsync.PhaseDone })
	r.stop(t)
	mu.Lock()
	defer mu.Unlock()
	if len(pinned) != 1 || string(pinned[0].Token) != "pinned-here" {
		t.Errorf("pinned positions %v, want the source's", pinned)
	}
	if got := field(t, b.ext, "Contact", "003A", "LastName"); got != "Before" {
		t.Errorf("003A LastName = %v, want the backfilled value", got)
	}
}

// windowReconciler records the scopes it is asked for.
type windowReconciler struct {
	mu     stdsync.Mutex
	scopes []sfsync.Scope
}

func (w *windowReconciler) Reconcile(ctx context.Context, scope sfsync.Scope, emit func(context.Context, sfsync.Change) error) error {
	w.mu.Lock()
	w.scopes = append(w.scopes, scope)
	w.mu.Unlock()
	return nil
}

func (w *windowReconciler) seen() []sfsync.Scope {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]sfsync.Scope(nil), w.scopes...)
}

// After an outage past retention, only what changed since the last
// committed event (less the margin) is backfilled; the engine stores when
// it last saw the stream as it commits.
func TestBackfillAfterLostPositionCoversOnlyTheLostWindow(t *testing.T) {
	b := newBidi(t)
	b.sf.Edit("Contact", "003A", map[string]any{"LastName": "Seen"}, at(time.Hour))
	src1 := b.sfLog.Source()
	e1 := oneWay(t, b, src1, sfsyncsync.WithReconciler(&windowReconciler{}))
	r1 := start(t, e1)
	settle(t, b.sfLog, src1)
	r1.stop(t)
	cp, err := b.store.LoadCheckpoint(context.Background(), "sfsync/seen/"+b.sfLog.Stream())
	if err != nil {
		t.Fatalf("the stream's last seen time was not stored: %v", err)
	}
	if got, want := string(cp.Token), t0.Add(time.Hour).Format(time.RFC3339Nano); got != want {
		t.Errorf("stored seen time %s, want %s", got, want)
	}

	rec := &windowReconciler{}
	src2 := b.sfLog.Source(synctest.PositionUnavailable())
	e2 := oneWay(t, b, src2, sfsyncsync.WithReconciler(rec), sfsyncsync.WithBackfill("Contact"),
		sfsyncsync.WithWindowMargin(5*time.Minute))
	r2 := start(t, e2)
	waitFor(t, func() bool { return backfillState(t, b) == sfsyncsync.PhaseDone })
	r2.stop(t)
	scopes := rec.seen()
	if len(scopes) != 1 || !scopes[0].Since.Equal(t0.Add(time.Hour-5*time.Minute)) {
		t.Errorf("backfill scopes %+v, want one since %v", scopes, t0.Add(time.Hour-5*time.Minute))
	}
}

// An overflow event resyncs only the window around its transaction.
func TestOverflowResyncsItsWindow(t *testing.T) {
	b := newBidi(t)
	b.sfLog.Append(sfsync.Change{Source: sfsync.Salesforce, Tenant: org, Object: "Contact", Op: sfsync.OpOverflow, Key: "overflow-1", Version: at(time.Hour)})
	rec := &windowReconciler{}
	src := b.sfLog.Source()
	e := oneWay(t, b, src, sfsyncsync.WithReconciler(rec), sfsyncsync.WithWindowMargin(time.Minute))
	r := start(t, e)
	settle(t, b.sfLog, src)
	r.stop(t)
	scopes := rec.seen()
	if len(scopes) != 1 || !scopes[0].Since.Equal(t0.Add(time.Hour-time.Minute)) || scopes[0].Object != "Contact" {
		t.Errorf("overflow scopes %+v, want Contact since %v", scopes, t0.Add(time.Hour-time.Minute))
	}
}
