package sync_test

import (
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/conflict"
	sfsyncsync "github.com/sfsync/sfsync/sync"
	"github.com/sfsync/sfsync/sync/synctest"
)

// A Salesforce change whose event was lost past retention may be behind a
// later change whose event the stream brings: the record's version is
// then explained by a change the engine saw, but a field still holds a
// value only the lost change set. An older ERP edit of that field decided
// before the backfill's row of the record is decided against that value,
// set before the stream's gap-free start at the latest, and loses. Before,
// the value was taken as the one synced before the outage, the ERP's edit
// won and overwrote it in Salesforce, and the row then found nothing to
// tell (the simulator's seed 78690).
//
// Sources watched by a synctest.Progress (as the simulator's are) all pin:
// one whose inner source pins nothing says its stream holds nothing back
// since the zero time. That must not bound the span of the lost changes
// to nothing (the ERP's source here).
func TestALostValueBehindASeenChangeIsDatedByTheGap(t *testing.T) {
	for _, watched := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain sources", true: "watched sources"}[watched], func(t *testing.T) {
			lostValueBehindASeenChange(t, watched)
		})
	}
}

func lostValueBehindASeenChange(t *testing.T, watched bool) {
	b := syncedThenStopped(t, conflict.LastWriteWins())

	// Away past retention: the ERP changes the email at 6s, Salesforce at
	// 8s (its event expires unread).
	erpEdit := b.ext.Edit("Contact", "003A", map[string]any{"Email": "e6"}, at(6*time.Second))
	b.sf.Edit("Contact", "003A", map[string]any{"Email": "e8"}, at(8*time.Second))

	// The engine comes back at 10s; the backfill's row waits. Salesforce
	// changes the phone at 12s, and its event arrives and is applied before
	// the ERP's change is read.
	rec := b.newReadEarly(true)
	sfSrc, extLogSrc := b.sfLog.Source(synctest.PositionUnavailable()), b.extLog.Source()
	extSrc := newGatedSource(extLogSrc)
	extSrc.close()
	var sfIn, extIn sfsync.EventSource = sfSrc, extSrc
	if watched {
		progress := synctest.NewProgress()
		sfIn, extIn = progress.Watch(sfSrc), progress.Watch(extSrc)
	}
	r, e := b.comeBack(t, conflict.LastWriteWins(), sfIn, extIn, sfsyncsync.WithReconciler(rec),
		sfsyncsync.WithClock(func() time.Time { return at(10 * time.Second).Time }))
	waitFor(t, func() bool { return backfillOf(e, "Contact").Phase != "" })
	phone := b.sf.Edit("Contact", "003A", map[string]any{"Phone": "p12"}, at(12*time.Second))
	b.waitApplied(t, phone.Key)
	extSrc.reopen()
	waitFor(t, func() bool { return len(outcomes(t, b.store, sfsync.OutcomeQuery{Key: erpEdit.Key})) > 0 })
	close(rec.start)
	close(rec.release)
	waitFor(t, b.contactsBackfilled)
	settle(t, b.sfLog, sfSrc, b.extLog, extLogSrc)
	r.stop(t)
	logOutcomes(t, b)
	b.bothHold(t, "Contact", "003A", "Email", "e8", "Salesforce's email (8s) is newer than the ERP's (6s)")
	b.bothHold(t, "Contact", "003A", "Phone", "p12", "Salesforce's phone (12s)")
}
