package sync_test

import (
	"context"
	"iter"
	"slices"
	stdsync "sync"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/reconcile"
	sfsyncsync "github.com/sfsync/sfsync/sync"
	"github.com/sfsync/sfsync/sync/synctest"
)

// The hand-off between snapshots and the stream. A snapshot row carries
// SystemModstamp, which has whole seconds; a change event carries its
// commit timestamp and commit number. A row of the same second as the
// version applied for its record, or an event of the same second as an
// applied row, cannot be ordered by versions: the record is re-read by id,
// and what it holds now decides. Re-reading is needed only when the change
// would change the target: a row the target already holds is no news.

// modstampAuthority serves a synctest.System's records as Salesforce's
// queries do: versions are SystemModstamp, truncated to the second, with
// no commit number. Rows set in old are what a whole-object scan (a Bulk
// job that ran before later commits) returns in place of the current
// record; a scan by id always reads the current one. It counts the scans
// by id.
type modstampAuthority struct {
	sys *synctest.System
	mu  stdsync.Mutex
	old map[string]sfsync.Record
	ids [][]string
	// suffix, when set, is added to the ids a scan by id answers with: a
	// 15-character id read back in its 18-character form.
	suffix string
}

func (a *modstampAuthority) Scan(ctx context.Context, object string, ids []string, since time.Time) iter.Seq2[sfsync.Record, error] {
	if len(ids) > 0 {
		a.mu.Lock()
		a.ids = append(a.ids, slices.Clone(ids))
		a.mu.Unlock()
	}
	return func(yield func(sfsync.Record, error) bool) {
		for rec, err := range a.sys.Scan(ctx, object, ids, since) {
			if err == nil && len(ids) == 0 {
				a.mu.Lock()
				if old, ok := a.old[rec.ID]; ok {
					rec = old
				}
				a.mu.Unlock()
			}
			rec.Version = sfsync.Version{Time: rec.Version.Time.Truncate(time.Second)}
			if len(ids) > 0 {
				rec.ID += a.suffix
			}
			if !yield(rec, err) {
				return
			}
		}
	}
}

// rereads returns the scans by id so far.
func (a *modstampAuthority) rereads() [][]string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.ids)
}

// commitAt is the version of a change event: commit timestamp (12:00:00
// plus ms milliseconds) and commit number.
func commitAt(ms int, commit int64) sfsync.Version {
	return sfsync.Version{Time: t0.Add(time.Duration(ms) * time.Millisecond), Commit: commit}
}

// startHandOff starts a one-way engine (Salesforce to the external
// system) whose reconciler reads through a modstampAuthority, and waits
// for Salesforce's log to be committed whole. reconcileAll reconciles the
// whole object, as a backfill does.
func startHandOff(t *testing.T, b *bidi) (a *modstampAuthority, settled, reconcileAll func()) {
	t.Helper()
	a = &modstampAuthority{sys: b.sf, old: map[string]sfsync.Record{}}
	src := b.sfLog.Source()
	e := oneWay(t, b, src, sfsyncsync.WithReconciler(reconcile.New(a, reconcile.WithTenant(org), reconcile.WithLogger(quiet()))))
	r := start(t, e)
	settled = func() {
		t.Helper()
		settle(t, b.sfLog, src)
	}
	reconcileAll = func() {
		t.Helper()
		if err := r.e.Reconcile(context.Background(), sfsync.Scope{Tenant: org, Object: "Contact", Reason: "backfill"}); err != nil {
			t.Fatal(err)
		}
	}
	settled()
	return a, settled, reconcileAll
}

func wantRereads(t *testing.T, a *modstampAuthority, want int) {
	t.Helper()
	got := a.rereads()
	if len(got) != want {
		t.Errorf("re-reads by id: %v, want %d", got, want)
	}
	for _, ids := range got {
		if !slices.Equal(ids, []string{"003A"}) {
			t.Errorf("re-read ids %v, want [003A]", ids)
		}
	}
}

// A row of the second of the applied event whose values differ from the
// target's: a second change in that second, whose event never came,
// or a row read before the event. The re-read tells.
func TestSnapshotRowOfTheAppliedEventsSecondIsReread(t *testing.T) {
	for _, tc := range []struct {
		name string
		// rowBefore: the row was read before the applied event's commit
		// (it holds the record's earlier change of that second); else the
		// record changed again in that second, without an event.
		rowBefore bool
		want      string
	}{
		{"record changed again in that second", false, "e2"},
		{"row read before the event", true, "e1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBidi(t)
			b.sf.Edit("Contact", "003A", map[string]any{"LastName": "N", "Email": "e1"}, commitAt(200, 7))
			a, settled, reconcileAll := startHandOff(t, b)
			if tc.rowBefore {
				a.old["003A"] = sfsync.Record{Object: "Contact", ID: "003A", Exists: true,
					Fields: map[string]any{"LastName": "N", "Email": "e0"}, Version: commitAt(100, 6)}
			} else {
				b.sf.EditSilently("Contact", "003A", map[string]any{"Email": "e2"}, commitAt(700, 8))
			}
			reconcileAll()
			settled()
			if got := field(t, b.ext, "Contact", "003A", "Email"); got != tc.want {
				t.Errorf("external Email = %v, want %v, Salesforce's current value", got, tc.want)
			}
			wantRereads(t, a, 1)
		})
	}
}

// The common case of a backfill beside the stream: the row is the applied
// event's own change. The target holds its values, and nothing is re-read.
func TestSnapshotRowTheTargetHoldsIsNotReread(t *testing.T) {
	b := newBidi(t)
	b.sf.Edit("Contact", "003A", map[string]any{"LastName": "N", "Email": "e1"}, commitAt(0, 7))
	a, settled, reconcileAll := startHandOff(t, b)
	reconcileAll()
	settled()
	if got := field(t, b.ext, "Contact", "003A", "Email"); got != "e1" {
		t.Errorf("external Email = %v, want e1", got)
	}
	wantRereads(t, a, 0)
	if _, calls := b.ext.Writes(); calls != 1 {
		t.Errorf("external system written %d times, want once (the event)", calls)
	}
}

// The reverse order: the row is applied first, and an event of the same
// second arrives after it. Here the event is the older of two changes in
// that second: applying it would put back a value the row already
// replaced.
func TestEventOfTheAppliedRowsSecondIsReread(t *testing.T) {
	b := newBidi(t)
	b.sf.Edit("Contact", "003A", map[string]any{"LastName": "N", "Email": "e0"}, at(-time.Hour))
	a, settled, reconcileAll := startHandOff(t, b)
	first := b.sf.EditSilently("Contact", "003A", map[string]any{"Email": "e1"}, commitAt(200, 7))
	second := b.sf.EditSilently("Contact", "003A", map[string]any{"Email": "e2"}, commitAt(700, 8))
	reconcileAll() // the row of 12:00:00: e2
	settled()
	if got := field(t, b.ext, "Contact", "003A", "Email"); got != "e2" {
		t.Fatalf("external Email = %v after the row, want e2", got)
	}
	b.sfLog.Append(first)
	settled()
	if got := field(t, b.ext, "Contact", "003A", "Email"); got != "e2" {
		t.Errorf("external Email = %v after the earlier event of the row's second, want e2, Salesforce's current value", got)
	}
	wantRereads(t, a, 1)
	b.sfLog.Append(second)
	settled()
	if got := field(t, b.ext, "Contact", "003A", "Email"); got != "e2" {
		t.Errorf("external Email = %v after both events, want e2", got)
	}
}

// A deleted record never comes back from a row older than its delete, in
// either order: a row of the delete's second read before it, or an update
// event of the second of an applied deleted row.
func TestDeletedRecordDoesNotComeBackFromItsSecond(t *testing.T) {
	t.Run("row after the delete event", func(t *testing.T) {
		b := newBidi(t)
		b.sf.Edit("Contact", "003A", map[string]any{"LastName": "N", "Email": "e0"}, at(-time.Hour))
		a, settled, reconcileAll := startHandOff(t, b)
		a.old["003A"] = sfsync.Record{Object: "Contact", ID: "003A", Exists: true,
			Fields: map[string]any{"LastName": "N", "Email": "e1"}, Version: commitAt(100, 6)}
		b.sf.Remove("Contact", "003A", commitAt(300, 7))
		settled()
		reconcileAll()
		settled()
		if r, _ := b.ext.Record("Contact", "003A"); !r.Deleted {
			t.Errorf("external record %+v, want it deleted", r)
		}
		wantRereads(t, a, 1)
	})
	t.Run("update event after the deleted row", func(t *testing.T) {
		b := newBidi(t)
		b.sf.Edit("Contact", "003A", map[string]any{"LastName": "N", "Email": "e0"}, at(-time.Hour))
		a, settled, reconcileAll := startHandOff(t, b)
		late := b.sf.EditSilently("Contact", "003A", map[string]any{"Email": "e1"}, commitAt(100, 6))
		b.sf.RemoveSilently("Contact", "003A", commitAt(300, 7))
		reconcileAll() // the deleted row of 12:00:00
		settled()
		if r, _ := b.ext.Record("Contact", "003A"); !r.Deleted {
			t.Fatalf("external record %+v after the deleted row, want it deleted", r)
		}
		b.sfLog.Append(late)
		settled()
		// (An update of a deleted record would bring it back where the
		// target's own record can be read; this one-way target keeps it
		// deleted and only shows what was written.)
		if r, _ := b.ext.Record("Contact", "003A"); !r.Deleted || r.Fields["Email"] != "e0" {
			t.Errorf("external record %+v after an update event of the delete's second, want it deleted as it was (Email e0)", r)
		}
		wantRereads(t, a, 1)
	})
}

// A gap event's re-read is made in the record's lane, after every change
// applied before it: what it reads is the newest state even when its
// SystemModstamp is the second of the applied event.
func TestGapRereadOfTheAppliedEventsSecondApplies(t *testing.T) {
	b := newBidi(t)
	b.sf.Edit("Contact", "003A", map[string]any{"LastName": "N", "Email": "e1"}, commitAt(200, 7))
	a, settled, _ := startHandOff(t, b)
	b.sf.EditSilently("Contact", "003A", map[string]any{"Email": "e2"}, commitAt(700, 8))
	b.sfLog.Append(sfsync.Change{Source: sfsync.Salesforce, Tenant: org, Object: "Contact", RecordID: "003A",
		Op: sfsync.OpGap, Key: "gap-8", Version: commitAt(700, 8)})
	settled()
	if got := field(t, b.ext, "Contact", "003A", "Email"); got != "e2" {
		t.Errorf("external Email = %v after the gap's re-read, want e2", got)
	}
	wantRereads(t, a, 1) // the gap's own: it is not read again
}

// The re-read may answer with the record's 18-character id for the
// 15-character one the change carries: it is the same record, and its
// versions stay under the change's spelling.
func TestRereadAnsweredWithTheLongIDIsTheSameRecord(t *testing.T) {
	const short = "003000000000001"
	b := newBidi(t)
	b.sf.Edit("Contact", short, map[string]any{"LastName": "N", "Email": "e1"}, commitAt(200, 7))
	a, settled, reconcileAll := startHandOff(t, b)
	a.suffix = "AAA"
	b.sf.EditSilently("Contact", short, map[string]any{"Email": "e2"}, commitAt(700, 8))
	reconcileAll()
	settled()
	if got := field(t, b.ext, "Contact", short, "Email"); got != "e2" {
		t.Errorf("external Email = %v, want e2", got)
	}
	if got := a.rereads(); len(got) != 1 {
		t.Errorf("re-reads by id: %v, want 1", got)
	}
	if _, ok := b.ext.Record("Contact", short+"AAA"); ok {
		t.Errorf("the external system got a second record under the long id")
	}
}
