package sync_test

import (
	"context"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/conflict"
	"github.com/sfsync/sfsync/reconcile"
	sfsyncsync "github.com/sfsync/sfsync/sync"
	"github.com/sfsync/sfsync/sync/synctest"
)

// Salesforce's changes made while the engine was away past retention
// never reach it: only the backfill's snapshot of each record tells of
// them, with one version for the whole record. The version map keeps a
// hash of each field's value, so the engine tells which fields Salesforce
// changed in that time (a value it never synced) from those it did not,
// whichever comes first, the ERP's change or the snapshot. Before, a field
// Salesforce changed was taken as unchanged since it was synced, and the
// ERP's older edit of it won (the simulator's seed 42057).
func TestChangesLostPastRetentionAreToldByTheirValues(t *testing.T) {
	for _, first := range []string{"the ERP's change", "the snapshot"} {
		t.Run(first+" first", func(t *testing.T) {
			b := syncedThenStopped(t, conflict.LastWriteWins())

			// Away past retention: Salesforce changes the email at 8s (its
			// event expires unread); the ERP changes email and phone at 6s.
			b.sf.Edit("Contact", "003A", map[string]any{"Email": "e8"}, at(8*time.Second))
			erpEdit := b.ext.Edit("Contact", "003A", map[string]any{"Email": "e6", "Phone": "p6"}, at(6*time.Second))

			release := make(chan struct{})
			rec := &gatedReconciler{inner: reconcile.New(b.sf, reconcile.WithTenant(org), reconcile.WithLogger(quiet())), release: release}
			sfSrc, extLogSrc := b.sfLog.Source(synctest.PositionUnavailable()), b.extLog.Source()
			extSrc := newGatedSource(extLogSrc)
			if first == "the snapshot" {
				extSrc.close()
				close(release)
			}
			r, _ := b.comeBack(t, conflict.LastWriteWins(), sfSrc, extSrc, sfsyncsync.WithReconciler(rec))
			if first == "the snapshot" {
				waitFor(t, b.contactsBackfilled)
				extSrc.reopen()
			} else {
				waitFor(t, func() bool { return len(outcomes(t, b.store, sfsync.OutcomeQuery{Key: erpEdit.Key})) > 0 })
				close(release)
				waitFor(t, b.contactsBackfilled)
			}
			settle(t, b.sfLog, sfSrc, b.extLog, extLogSrc)
			r.stop(t)
			logOutcomes(t, b)
			b.bothHold(t, "Contact", "003A", "Email", "e8", "Salesforce's email (8s) is newer than the ERP's (6s)")
			b.bothHold(t, "Contact", "003A", "Phone", "p6", "Salesforce never changed the phone after it was synced (0s); the ERP did at 6s")
			b.bothHold(t, "Contact", "003A", "LastName", "N0", "nobody changed the name")
		})
	}
}

// newReadEarly returns a readEarly over Salesforce in b, reading its rows
// once start is closed when gated, else at once.
func (b *bidi) newReadEarly(gated bool) *readEarly {
	rec := &readEarly{inner: reconcile.New(b.sf, reconcile.WithTenant(org), reconcile.WithLogger(quiet())),
		read: make(chan struct{}), release: make(chan struct{})}
	if gated {
		rec.start = make(chan struct{})
	}
	return rec
}

// readEarly is a reconciler whose rows are read once start is closed (at
// once when it is nil) and handed to the engine only once release is
// closed: a backfill's page read before a newer value reached Salesforce
// and applied after. Re-reads by id go through at once.
type readEarly struct {
	inner   sfsync.Reconciler
	start   chan struct{}
	read    chan struct{}
	release chan struct{}
}

func (r *readEarly) Reconcile(ctx context.Context, scope sfsync.Scope, emit func(context.Context, sfsync.Change) error) error {
	if len(scope.IDs) > 0 {
		return r.inner.Reconcile(ctx, scope, emit) // a re-read by id
	}
	if r.start != nil {
		select {
		case <-r.start:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	var rows []sfsync.Change
	if err := r.inner.Reconcile(ctx, scope, func(_ context.Context, c sfsync.Change) error {
		rows = append(rows, c)
		return nil
	}); err != nil {
		return err
	}
	close(r.read)
	select {
	case <-r.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	for _, c := range rows {
		if err := emit(ctx, c); err != nil {
			return err
		}
	}
	return nil
}

// A backfill's row read before the ERP's newer value of a field reached
// Salesforce, and applied after, carries the field's older value at the
// record's newer version (Salesforce changed another field while its
// events were lost). That value was synced before: it is no news, and the
// ERP's value stands. Before, the row's version won and the older value
// came back in the ERP (the simulator's seed 42787).
func TestBackfillRowReadBeforeANewerValueIsNoNewsOfIt(t *testing.T) {
	b := syncedThenStopped(t, conflict.LastWriteWins())
	// Away past retention: Salesforce changes the email at 8s; its event
	// expires unread.
	b.sf.Edit("Contact", "003A", map[string]any{"Email": "e8"}, at(8*time.Second))

	// The ERP renames the contact at 5s; the rename reaches Salesforce
	// after the backfill read the record.
	b.backfillReadingBefore(t, map[string]any{"LastName": "E5"}, at(5*time.Second))
	b.bothHold(t, "Contact", "003A", "LastName", "E5", "the ERP's rename (5s) is newer than Salesforce's name (0s), which the row only repeats")
	b.bothHold(t, "Contact", "003A", "Email", "e8", "Salesforce changed the email at 8s, in a change only the row tells of")
	b.bothHold(t, "Contact", "003A", "Phone", "p0", "nobody changed the phone")
}

// A backfill's row read after the pin carries the record's version, set
// by a change after the pin (whose event the stream brings), and with it
// a value Salesforce set before the pin, in a change whose event was lost.
// The ERP's edit of that field made after the pin is newer than that
// value, though older than the row's version: the row decides such data
// at the pin's version. Before, it was decided at the row's, and won (the
// simulator's seed 46696).
func TestBackfillRowAfterThePinDecidesItsLostValuesAtThePin(t *testing.T) {
	b := syncedThenStopped(t, conflict.LastWriteWins())
	// Away past retention: Salesforce renames the contact at 2s; its
	// event expires unread.
	b.sf.Edit("Contact", "003A", map[string]any{"LastName": "S2"}, at(2*time.Second))

	// The engine comes back at 10s: the backfill pins the stream then.
	rec := b.newReadEarly(true)
	sfLogSrc, extSrc := b.sfLog.Source(synctest.PositionUnavailable()), b.extLog.Source()
	sfSrc := newGatedSource(sfLogSrc)
	r, e := b.comeBack(t, conflict.LastWriteWins(), sfSrc, extSrc, sfsyncsync.WithReconciler(rec),
		sfsyncsync.WithClock(func() time.Time { return at(10 * time.Second).Time }))
	// The source found its position past retention (the backfill is
	// owed) and streams from the end of the log, slowly: Salesforce's
	// change of the email at 15s is on its way while the backfill reads
	// the record (version 15s).
	waitFor(t, func() bool { return backfillOf(e, "Contact").Phase != "" })
	sfSrc.close()
	b.sf.Edit("Contact", "003A", map[string]any{"Email": "e15"}, at(15*time.Second))
	close(rec.start)
	<-rec.read
	// The ERP renames the contact at 12s, after the pin; the rename
	// reaches Salesforce before the row is applied.
	rename := b.ext.Edit("Contact", "003A", map[string]any{"LastName": "E12"}, at(12*time.Second))
	b.waitApplied(t, rename.Key)
	close(rec.release)
	waitFor(t, b.contactsBackfilled)
	sfSrc.reopen()
	settle(t, b.sfLog, sfLogSrc, b.extLog, extSrc)
	r.stop(t)
	logOutcomes(t, b)
	b.bothHold(t, "Contact", "003A", "LastName", "E12", "the ERP's rename (12s) is newer than Salesforce's (2s, before the pin at 10s)")
	b.bothHold(t, "Contact", "003A", "Email", "e15", "Salesforce's email (15s)")
}

// A backfill's row that carries only values the engine synced before is
// no news, and does not bring back a record the ERP deleted since: the
// ERP's delete decides. Before, a row read after our write of the ERP's
// edit reached Salesforce, and decided before the ERP's delete (its
// version, lowered to the pin, tied with the delete under the skew
// tolerance), brought the record back in the ERP, and the delete then lost
// (the simulator's seed 46429).
func TestBackfillRowOfSyncedValuesDoesNotBringBackADeletedRecord(t *testing.T) {
	policy := conflict.LastWriteWins(conflict.WithSkewTolerance(2 * time.Second))
	b := syncedThenStopped(t, policy)

	// The engine comes back at 10s, past retention: the backfill pins the
	// stream then, and reads the record once the ERP's edit reached it.
	rec := b.newReadEarly(true)
	sfSrc, extLogSrc := b.sfLog.Source(synctest.PositionUnavailable()), b.extLog.Source()
	extSrc := newGatedSource(extLogSrc)
	r, e := b.comeBack(t, policy, sfSrc, extSrc, sfsyncsync.WithReconciler(rec),
		sfsyncsync.WithClock(func() time.Time { return at(10 * time.Second).Time }))
	waitFor(t, func() bool { return backfillOf(e, "Contact").Phase != "" })
	edit := b.ext.Edit("Contact", "003A", map[string]any{"Phone": "p11"}, at(11*time.Second))
	b.waitApplied(t, edit.Key)
	close(rec.start)
	<-rec.read
	// The ERP deletes the record at 11.5s; its event is on its way when
	// the row is applied.
	extSrc.close()
	b.ext.Remove("Contact", "003A", at(11500*time.Millisecond))
	close(rec.release)
	waitFor(t, b.contactsBackfilled)
	extSrc.reopen()
	settle(t, b.sfLog, sfSrc, b.extLog, extLogSrc)
	r.stop(t)
	logOutcomes(t, b)
	for _, side := range []*synctest.System{b.sf, b.ext} {
		if rec, ok := side.Record("Contact", "003A"); ok && !rec.Deleted {
			t.Errorf("%s has the record live; the ERP deleted it at 11.5s, after every change of it", side.System())
		}
	}
}

// A backfill's row that finds the target holding a value Salesforce set
// while its events were lost (an earlier write of the row brought it
// there, and a crash lost that write's outcome) records that both systems
// hold it, at the row's version: an older ERP change decided after the
// backfill is done then loses to it. Before, the row recorded no version
// of the field, and the ERP's change won with older data (the simulator's
// seed 42057, on some runs).
func TestBackfillRowFindingItsLostValueInTheTargetRecordsIt(t *testing.T) {
	b := syncedThenStopped(t, conflict.LastWriteWins())
	// Away past retention: the ERP changes the email at 6s, Salesforce at
	// 8s (its event expires unread). A first backfill wrote Salesforce's
	// email to the ERP, and its process died before the outcome was
	// stored; the ERP's own change is still to be read.
	b.ext.Edit("Contact", "003A", map[string]any{"Email": "e6"}, at(6*time.Second))
	b.sf.EditSilently("Contact", "003A", map[string]any{"Email": "e8"}, at(8*time.Second))
	b.ext.EditSilently("Contact", "003A", map[string]any{"Email": "e8"}, at(8*time.Second))

	sfSrc, extLogSrc := b.sfLog.Source(synctest.PositionUnavailable()), b.extLog.Source()
	extSrc := newGatedSource(extLogSrc)
	extSrc.close()
	r, _ := b.comeBack(t, conflict.LastWriteWins(), sfSrc, extSrc, sfsyncsync.WithReconciler(reconcile.New(b.sf, reconcile.WithTenant(org), reconcile.WithLogger(quiet()))))
	waitFor(t, b.contactsBackfilled)
	extSrc.reopen()
	settle(t, b.sfLog, sfSrc, b.extLog, extLogSrc)
	r.stop(t)
	logOutcomes(t, b)
	b.bothHold(t, "Contact", "003A", "Email", "e8", "Salesforce's email (8s) is newer than the ERP's (6s)")
}

// backfillReadingBefore brings the engine back on b, past retention, with
// a backfill of contacts whose row of 003A is read before the ERP's edit of
// fields at v reaches Salesforce and applied after it; it waits until both
// systems are settled, stops the engine and logs the ledger.
func (b *bidi) backfillReadingBefore(t *testing.T, fields map[string]any, v sfsync.Version) {
	t.Helper()
	rec := b.newReadEarly(false)
	sfSrc, extSrc := b.sfLog.Source(synctest.PositionUnavailable()), b.extLog.Source()
	r, _ := b.comeBack(t, conflict.LastWriteWins(), sfSrc, extSrc, sfsyncsync.WithReconciler(rec))
	<-rec.read
	edit := b.ext.Edit("Contact", "003A", fields, v)
	b.waitApplied(t, edit.Key)
	close(rec.release)
	waitFor(t, b.contactsBackfilled)
	settle(t, b.sfLog, sfSrc, b.extLog, extSrc)
	r.stop(t)
	logOutcomes(t, b)
}

// syncedThenStopped is Salesforce, versioning whole records, and the ERP,
// synced both ways under policy until Salesforce's contact 003A (N0, p0,
// e0, made at 0s) is in both, then left alone: the engine is stopped.
func syncedThenStopped(t *testing.T, policy sfsync.ConflictPolicy) *bidi {
	t.Helper()
	b := newBidi(t)
	b.salesforceByRecord()
	r, settled := b.startBoth(t, policy)
	b.sf.Edit("Contact", "003A", map[string]any{"LastName": "N0", "Phone": "p0", "Email": "e0"}, at(0))
	settled()
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	return b
}

// comeBack starts the engine again on b's state, from sfSrc (whose stored
// position is past retention) and extSrc, with a backfill of contacts and
// the extra options.
func (b *bidi) comeBack(t *testing.T, policy sfsync.ConflictPolicy, sfSrc, extSrc sfsync.EventSource, extra ...sfsyncsync.Option) (*running, *sfsyncsync.Engine) {
	t.Helper()
	opts := append(b.options(policy, append([]sfsyncsync.Option{sfsyncsync.WithBackfill("Contact")}, extra...)...), sfsyncsync.WithSource(extSrc))
	e, err := sfsyncsync.New(sfSrc, nil, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return start(t, e), e
}

// contactsBackfilled reports whether the backfill of contacts is done.
func (b *bidi) contactsBackfilled() bool {
	cp, err := b.store.LoadCheckpoint(context.Background(), "sfsync/backfill/Contact")
	return err == nil && sfsyncsync.BackfillPhaseOf(cp.Token) == sfsyncsync.PhaseDone
}

// waitApplied waits until the change of key has an applied outcome.
func (b *bidi) waitApplied(t *testing.T, key string) {
	t.Helper()
	waitFor(t, func() bool {
		os := outcomes(t, b.store, sfsync.OutcomeQuery{Key: key})
		return len(os) > 0 && os[0].Status == sfsync.StatusApplied
	})
}

// A backfill's row that loses to the ERP's delete carries, besides what
// Salesforce changed while its events were lost, values synced long
// before: the version map keeps those at the versions they were synced
// at, not as changes of Salesforce's that lost at the row's version.
// Dated at the row's version, Salesforce's old email tied (under the skew
// tolerance) with the ERP's later edit of it, and won it (the simulator's
// seed 51321).
func TestBackfillRowLosingToADeleteLeavesItsSyncedValuesAtTheirVersions(t *testing.T) {
	policy := conflict.LastWriteWins(conflict.WithSkewTolerance(2 * time.Second))
	b := syncedThenStopped(t, policy)
	// Away past retention: Salesforce renames the contact at 5s.
	b.sf.Edit("Contact", "003A", map[string]any{"LastName": "N5"}, at(5*time.Second))

	rec := b.newReadEarly(false)
	sfSrc, extLogSrc := b.sfLog.Source(synctest.PositionUnavailable()), b.extLog.Source()
	extSrc := newGatedSource(extLogSrc)
	extSrc.close()
	r, _ := b.comeBack(t, policy, sfSrc, extSrc, sfsyncsync.WithReconciler(rec),
		sfsyncsync.WithClock(func() time.Time { return at(10 * time.Second).Time }))
	<-rec.read
	// The ERP deletes the record at 8s, and the delete reaches Salesforce
	// before the row, read before it, is applied: the row loses to it.
	deleted := b.ext.Remove("Contact", "003A", at(8*time.Second))
	extSrc.reopen()
	b.waitApplied(t, deleted.Key)
	close(rec.release)
	waitFor(t, b.contactsBackfilled)
	// A Salesforce user restores the record at 20s: it comes back in the
	// ERP. Then the ERP changes the email at 6s (its clock is behind).
	b.sf.Restore("Contact", "003A", at(20*time.Second))
	settle(t, b.sfLog, sfSrc, b.extLog, extLogSrc)
	b.ext.Edit("Contact", "003A", map[string]any{"Email": "e6"}, at(6*time.Second))
	settle(t, b.sfLog, sfSrc, b.extLog, extLogSrc)
	r.stop(t)
	logOutcomes(t, b)
	b.bothHold(t, "Contact", "003A", "Email", "e6", "the ERP's email (6s) is newer than Salesforce's (0s), which the row only repeated")
}

// As above, but the value the row repeats is the ERP's own earlier one,
// synced before the ERP's newer edit replaced it in the version map (which
// keeps one value per system and field): it is no news either. Before, the
// row took it for a change Salesforce made while its events were lost, and
// wrote it back over the ERP's newer edit (the simulator's seeds 52269,
// 52747).
func TestBackfillRowRepeatingAnOlderSyncedValueIsNoNewsOfIt(t *testing.T) {
	b := newBidi(t)
	b.salesforceByRecord()
	r0, settled := b.startBoth(t, conflict.LastWriteWins())
	b.sf.Edit("Contact", "003A", map[string]any{"LastName": "N0", "Phone": "p0", "Email": "e0"}, at(0))
	settled()
	b.ext.Edit("Contact", "003A", map[string]any{"LastName": "E3"}, at(3*time.Second))
	settled()
	if err := r0.stop(t); err != nil {
		t.Fatal(err)
	}
	// Away past retention: Salesforce changes the email at 8s.
	b.sf.Edit("Contact", "003A", map[string]any{"Email": "e8"}, at(8*time.Second))

	// The ERP renames the contact again at 5s; the rename reaches
	// Salesforce after the backfill read the record (holding E3).
	b.backfillReadingBefore(t, map[string]any{"LastName": "E5"}, at(5*time.Second))
	b.bothHold(t, "Contact", "003A", "LastName", "E5", "the ERP's rename (5s) is its newest; the row only repeats its earlier one (3s)")
	b.bothHold(t, "Contact", "003A", "Email", "e8", "Salesforce changed the email at 8s, in a change only the row tells of")
}
