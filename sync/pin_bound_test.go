package sync_test

import (
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/conflict"
	sfsyncsync "github.com/sfsync/sfsync/sync"
)

// A backfill's row carries the record's SystemModstamp, the time of its
// last change, which may be a change the stream delivers after the pin.
// Every field the stream does not change after the pin was set before it:
// the row must not claim those fields at its later version, or a newer
// edit of the other system, made after the pin, loses a last-write-wins
// decision to a value set long before.
func TestBackfillRowClaimsFieldsTheStreamLeftAtThePin(t *testing.T) {
	t.Run("bound by the pin", func(t *testing.T) {
		backfillRowClaim(t, t0.Add(10*time.Second), time.Time{})
	})
	// The engine asks for the pin late (30 s), but the source says it
	// has streamed every commit since 8 s (a subscription from the oldest
	// retained event): that is the bound.
	t.Run("bound by the source's gap-free stream", func(t *testing.T) {
		backfillRowClaim(t, t0.Add(30*time.Second), t0.Add(8*time.Second))
	})
}

// gapFreeSource is a pinningSource that says since when it streamed every
// commit (sync.GapFree).
type gapFreeSource struct {
	*pinningSource
	since time.Time
}

func (g gapFreeSource) GapFreeSince() (time.Time, bool) { return g.since, true }

func backfillRowClaim(t *testing.T, pinned, gapFree time.Time) {
	b := newBidi(t)
	// Both systems held the record before the engine ever ran; then
	// Salesforce changed the email where no event reaches the engine (an
	// outage past the stream's retention).
	b.sf.EditSilently("Contact", "003A", map[string]any{"LastName": "N", "Email": "e0"}, at(0))
	b.ext.EditSilently("Contact", "003A", map[string]any{"LastName": "N", "Email": "e0"}, at(0))
	b.sf.EditSilently("Contact", "003A", map[string]any{"Email": "e1"}, at(5*time.Second))

	src := &pinningSource{Source: b.sfLog.Source(), asked: make(chan struct{}), release: make(chan struct{})}
	var source sfsync.EventSource = src
	if !gapFree.IsZero() {
		source = gapFreeSource{pinningSource: src, since: gapFree}
	}
	extSrc := b.extLog.Source()
	policy := conflict.LastWriteWins(conflict.WithSkewTolerance(2 * time.Second))
	e, err := sfsyncsync.New(source, nil,
		sfsyncsync.WithLogger(quiet()), sfsyncsync.WithTenant(org), sfsyncsync.WithClientID("sfsync"),
		sfsyncsync.WithStore(b.store), sfsyncsync.WithPolicy(policy), fastRetries(5),
		sfsyncsync.WithClock(func() time.Time { return pinned }),
		sfsyncsync.WithRoute(sfsyncsync.Route{From: sfsync.Salesforce, Sink: b.ext}),
		sfsyncsync.WithRoute(sfsyncsync.Route{From: erp, To: sfsync.Salesforce, Sink: plainTarget{b.sf}}),
		sfsyncsync.WithSource(extSrc), sfsyncsync.WithReconciler(reconcileOf(b)),
		sfsyncsync.WithBackfill("Contact"))
	if err != nil {
		t.Fatal(err)
	}
	r := start(t, e)
	<-src.asked
	// After the pin, Salesforce changes the last name: the row the
	// backfill reads has its time, and its event comes after the row.
	lastName := b.sf.EditSilently("Contact", "003A", map[string]any{"LastName": "N2"}, at(20*time.Second))
	close(src.release)
	waitFor(t, func() bool { return backfillState(t, b) == sfsyncsync.PhaseDone })
	b.sfLog.Append(lastName)
	settle(t, b.sfLog, src.Source, b.extLog, extSrc)
	b.bothHold(t, "Contact", "003A", "Email", "e1", "the backfilled e1")

	// The ERP edits the email after the pin: Salesforce's e1 is older (it
	// was there before the pin), so the ERP's edit wins.
	b.ext.Edit("Contact", "003A", map[string]any{"Email": "e15"}, at(15*time.Second))
	settle(t, b.sfLog, src.Source, b.extLog, extSrc)
	r.stop(t)
	logOutcomes(t, b)
	b.bothHold(t, "Contact", "003A", "Email", "e15", "the ERP's edit after the pin is newer than Salesforce's e1")
	b.bothHold(t, "Contact", "003A", "LastName", "N2", "Salesforce's edit after the pin")
}
