package sync_test

import (
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/conflict"
	sfsyncsync "github.com/sfsync/sfsync/sync"
	"github.com/sfsync/sfsync/sync/synctest"
)

// The span of Salesforce's changes lost with their events ends where the
// stream began delivering every commit again: the run that found its
// position past retention knows it, and a later run must too. Here the
// run that owed the backfill stops before it pins, after its stream
// brought a change and committed past it; the next run resumes that
// stream from the stored position, its backfill still owed and not
// pinned. Salesforce's email, set by a lost change, is behind the change
// the stream brought: an older ERP edit of it, decided before the
// backfill's row, must lose to it. Before, the later run took no change
// as lost (it had not owed the backfill itself, and a subscription
// resumed from a stored replay id cannot tell since when it streams every
// commit): the ERP's edit won and overwrote Salesforce's newer email (the
// simulator's seed 78690, when its engine crashed before the pin).
//
// The later run may lose its stream's position too (its stored replay id
// expired meanwhile) and owe the backfill again: its own stream then has
// not told yet where it begins, but the earlier run's record still bounds
// the changes that run lost.
func TestALostValueIsDatedByTheGapAfterARestartBeforeThePin(t *testing.T) {
	for _, tc := range []struct {
		name              string
		watched, losesToo bool
	}{
		{"plain sources", false, false},
		{"watched sources", true, false},
		{"the later run loses its position too", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lostValueAfterARestartBeforeThePin(t, tc.watched, tc.losesToo)
		})
	}
}

func lostValueAfterARestartBeforeThePin(t *testing.T, watched, losesToo bool) {
	policy := conflict.LastWriteWins()
	b := syncedThenStopped(t, policy)

	// Away past retention: the ERP changes the email at 6s, Salesforce at
	// 8s (its event expires unread).
	erpEdit := b.ext.Edit("Contact", "003A", map[string]any{"Email": "e6"}, at(6*time.Second))
	b.sf.Edit("Contact", "003A", map[string]any{"Email": "e8"}, at(8*time.Second))

	// The engine comes back at 10s, finds its position lost and owes a
	// backfill. Before the backfill pins, Salesforce changes the phone
	// (12s), and its event is applied and committed; the ERP's stream
	// stalls. Then the engine stops.
	sfSrc := &pinningSource{Source: b.sfLog.Source(synctest.PositionUnavailable()), asked: make(chan struct{}), release: make(chan struct{})}
	extSrc := newGatedSource(b.extLog.Source())
	extSrc.close()
	var sfIn, extIn sfsync.EventSource = sfSrc, extSrc
	if watched {
		progress := synctest.NewProgress()
		sfIn, extIn = progress.Watch(sfSrc), progress.Watch(extSrc)
	}
	r, _ := b.comeBack(t, policy, sfIn, extIn, sfsyncsync.WithReconciler(reconcileOf(b)),
		sfsyncsync.WithClock(func() time.Time { return at(10 * time.Second).Time }))
	<-sfSrc.asked
	phone := b.sf.Edit("Contact", "003A", map[string]any{"Phone": "p12"}, at(12*time.Second))
	b.waitApplied(t, phone.Key)
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	if b.contactsBackfilled() {
		t.Fatal("the backfill finished before its pin")
	}

	// The next run resumes both streams from their stored positions; its
	// backfill waits for the pin while the ERP's email edit is decided.
	var lost []synctest.SourceOption
	if losesToo {
		lost = append(lost, synctest.PositionUnavailable())
	}
	sfSrc = &pinningSource{Source: b.sfLog.Source(lost...), asked: make(chan struct{}), release: make(chan struct{})}
	extLogSrc := b.extLog.Source()
	sfIn, extIn = sfSrc, extLogSrc
	if watched {
		progress := synctest.NewProgress()
		sfIn, extIn = progress.Watch(sfSrc), progress.Watch(extLogSrc)
	}
	r, _ = b.comeBack(t, policy, sfIn, extIn, sfsyncsync.WithReconciler(reconcileOf(b)),
		sfsyncsync.WithClock(func() time.Time { return at(14 * time.Second).Time }))
	<-sfSrc.asked
	waitFor(t, func() bool { return len(outcomes(t, b.store, sfsync.OutcomeQuery{Key: erpEdit.Key})) > 0 })
	close(sfSrc.release)
	waitFor(t, b.contactsBackfilled)
	settle(t, b.sfLog, sfSrc.Source, b.extLog, extLogSrc)
	r.stop(t)
	if got := field(t, b.sf, "Contact", "003A", "Email"); got != "e8" {
		logOutcomes(t, b)
	}
	b.bothHold(t, "Contact", "003A", "Email", "e8", "Salesforce's email (8s) is newer than the ERP's (6s)")
	b.bothHold(t, "Contact", "003A", "Phone", "p12", "Salesforce's phone (12s)")
}
