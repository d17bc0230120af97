package sync_test

import (
	"context"
	"errors"
	"strings"
	stdsync "sync"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/reconcile"
	"github.com/sfsync/sfsync/store/memory"
	sfsyncsync "github.com/sfsync/sfsync/sync"
	"github.com/sfsync/sfsync/sync/synctest"
)

// oneWay syncs Salesforce to the external system, with a reconciler that
// reads Salesforce's state.
func oneWay(t *testing.T, b *bidi, src sfsync.EventSource, extra ...sfsyncsync.Option) *sfsyncsync.Engine {
	t.Helper()
	opts := append([]sfsyncsync.Option{
		sfsyncsync.WithLogger(quiet()), sfsyncsync.WithTenant(org), sfsyncsync.WithStore(b.store),
		sfsyncsync.WithReconciler(reconcile.New(b.sf, reconcile.WithTenant(org), reconcile.WithLogger(quiet()))),
		fastRetries(3),
	}, extra...)
	e, err := sfsyncsync.New(src, b.ext, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestGapEventRereadsTheRecord(t *testing.T) {
	b := newBidi(t)
	b.sf.EditSilently("Contact", "003A", map[string]any{"Phone": "111", "Email": "a@example.com"}, at(0))
	gap := b.sfLog.Append(sfsync.Change{Source: sfsync.Salesforce, Tenant: org, Object: "Contact", RecordID: "003A", Op: sfsync.OpGap, Key: "gap-1", Version: at(0)})
	_ = gap
	src := b.sfLog.Source()
	e := oneWay(t, b, src)
	r := start(t, e)
	settle(t, b.sfLog, src)
	r.stop(t)
	if got := field(t, b.ext, "Contact", "003A", "Email"); got != "a@example.com" {
		t.Errorf("after the gap, external Email = %v", got)
	}
	if st := statusByKey(t, b.store)["gap-1"]; st != sfsync.StatusReconciled {
		t.Errorf("gap outcome = %s, want reconciled", st)
	}
}

func TestOverflowEventResyncsTheObject(t *testing.T) {
	b := newBidi(t)
	for _, id := range []string{"003A", "003B", "003C"} {
		b.sf.EditSilently("Contact", id, map[string]any{"LastName": "L" + id}, at(0))
	}
	b.sfLog.Append(sfsync.Change{Source: sfsync.Salesforce, Tenant: org, Object: "Contact", Op: sfsync.OpOverflow, Key: "overflow-1", Version: at(0)})
	src := b.sfLog.Source()
	e := oneWay(t, b, src)
	r := start(t, e)
	settle(t, b.sfLog, src)
	r.stop(t)
	for _, id := range []string{"003A", "003B", "003C"} {
		if got := field(t, b.ext, "Contact", id, "LastName"); got != "L"+id {
			t.Errorf("%s: LastName = %v", id, got)
		}
	}
	if st := statusByKey(t, b.store)["overflow-1"]; st != sfsync.StatusReconciled {
		t.Errorf("overflow outcome = %s, want reconciled", st)
	}
}

func TestLostReplayPositionBackfills(t *testing.T) {
	b := newBidi(t)
	b.sf.EditSilently("Contact", "003A", map[string]any{"LastName": "Old"}, at(0))
	// An old delivery was committed, so this is not a first start; the
	// source then finds its position past retention.
	old := b.sfLog.Append(sfsync.Change{Source: sfsync.Salesforce, Tenant: org, Object: "Contact", RecordID: "003Z", Op: sfsync.OpUpdate, Key: "old", Version: at(-time.Hour)})
	if err := b.store.SaveCheckpoint(context.Background(), old); err != nil {
		t.Fatal(err)
	}
	src := b.sfLog.Source(synctest.PositionUnavailable())
	e := oneWay(t, b, src, sfsyncsync.WithBackfill("Contact"))
	r := start(t, e)
	waitFor(t, func() bool { _, ok := b.ext.Record("Contact", "003A"); return ok })
	b.sf.Edit("Contact", "003B", map[string]any{"LastName": "New"}, at(time.Minute))
	settle(t, b.sfLog, src)
	r.stop(t)
	if got := field(t, b.ext, "Contact", "003A", "LastName"); got != "Old" {
		t.Errorf("backfilled LastName = %v", got)
	}
	if got := field(t, b.ext, "Contact", "003B", "LastName"); got != "New" {
		t.Errorf("live LastName = %v", got)
	}
}

func TestFirstStartBackfills(t *testing.T) {
	b := newBidi(t)
	b.sf.EditSilently("Contact", "003A", map[string]any{"LastName": "Before"}, at(0))
	src := b.sfLog.Source()
	e := oneWay(t, b, src, sfsyncsync.WithBackfill("Contact"))
	start(t, e)
	waitFor(t, func() bool { _, ok := b.ext.Record("Contact", "003A"); return ok })
}

func TestRequeueAppliesADeadLetterOnce(t *testing.T) {
	b := newBidi(t)
	c := b.sf.Edit("Contact", "003A", map[string]any{"Phone": "111"}, at(0))
	b.ext.InjectFault(synctest.Fault{Err: sfsync.Permanent(errors.New("validation rule: Phone format"))})
	src := b.sfLog.Source()
	e := oneWay(t, b, src)
	start(t, e)
	settle(t, b.sfLog, src)
	ctx := context.Background()
	d, err := b.store.DeadLetter(ctx, c.Key)
	if err != nil {
		t.Fatalf("expected a dead letter: %v", err)
	}
	if !strings.Contains(d.Err, "validation rule") || d.Attempts != 1 {
		t.Errorf("dead letter = %+v", d)
	}
	o, err := e.Requeue(ctx, c.Key)
	if err != nil {
		t.Fatal(err)
	}
	if o.Status != sfsync.StatusApplied {
		t.Errorf("requeue outcome = %+v", o)
	}
	if _, err := b.store.DeadLetter(ctx, c.Key); !errors.Is(err, sfsync.ErrNotFound) {
		t.Errorf("dead letter still there after a successful requeue: %v", err)
	}
	if _, err := e.Requeue(ctx, c.Key); !errors.Is(err, sfsync.ErrNotFound) {
		t.Errorf("second requeue: %v, want ErrNotFound", err)
	}
	if n := b.ext.Applications(c.Key); n != 1 {
		t.Errorf("applied %d times", n)
	}
}

func TestLeaseFencesAFormerHolder(t *testing.T) {
	var mu stdsync.Mutex
	now := t0
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	store := memory.New(memory.WithClock(clock))
	b := newBidi(t)
	b.store = store
	src := b.sfLog.Source()
	e := oneWay(t, b, src, sfsyncsync.WithLease(store, "contacts", "a", time.Hour))
	r := start(t, e)
	b.sf.Edit("Contact", "003A", map[string]any{"Phone": "1"}, at(0))
	settle(t, b.sfLog, src)

	ctx := context.Background()
	if _, err := store.AcquireLease(ctx, "contacts", "b", time.Hour); !errors.Is(err, sfsync.ErrLeaseHeld) {
		t.Fatalf("second holder while the first is live: %v", err)
	}
	mu.Lock()
	now = now.Add(2 * time.Hour)
	mu.Unlock()
	if _, err := store.AcquireLease(ctx, "contacts", "b", time.Hour); err != nil {
		t.Fatal(err)
	}
	before, _ := store.LoadCheckpoint(ctx, b.sfLog.Stream())
	b.sf.Edit("Contact", "003A", map[string]any{"Phone": "2"}, at(time.Minute))
	select {
	case err := <-r.done:
		if !errors.Is(err, sfsync.ErrFenced) {
			t.Fatalf("Run = %v, want ErrFenced", err)
		}
		close(r.done)
	case <-time.After(30 * time.Second):
		t.Fatal("fenced engine kept running")
	}
	after, _ := store.LoadCheckpoint(ctx, b.sfLog.Stream())
	if string(after.Token) != string(before.Token) {
		t.Error("a fenced engine moved the checkpoint")
	}
}

// waitFor polls cond, for effects that have no event to wait on.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 30s")
		}
		time.Sleep(time.Millisecond)
	}
}
