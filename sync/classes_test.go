package sync_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/conflict"
	"github.com/sfsync/sfsync/store/memory"
	sfsyncsync "github.com/sfsync/sfsync/sync"
	"github.com/sfsync/sfsync/sync/synctest"
)

// One source that never delivers must not keep capacity from another: with
// room for a single change in flight, the busy source still finishes.
func TestIdleSourceDoesNotStarveAnother(t *testing.T) {
	idle, busy := synctest.NewLog("idle"), synctest.NewLog("busy")
	for i := range 50 {
		busy.Append(sfsync.Change{Source: erp, Object: "Contact", RecordID: fmt.Sprintf("C%d", i%7), Op: sfsync.OpUpdate,
			Key: fmt.Sprintf("k%d", i), Fields: map[string]any{"Phone": fmt.Sprint(i)}, Version: at(time.Duration(i) * time.Second)})
	}
	busySrc := busy.Source()
	e, err := sfsyncsync.New(idle.Source(), synctest.NewSystem(sfsync.Salesforce),
		sfsyncsync.WithSource(busySrc), sfsyncsync.WithLogger(quiet()), sfsyncsync.WithMaxInFlight(1))
	if err != nil {
		t.Fatal(err)
	}
	start(t, e)
	settle(t, busy, busySrc)
}

// A change decided as a no-op still counts as held: an older change of the
// same source arriving after it is stale and does not overwrite it.
func TestNoopMovesTheVersion(t *testing.T) {
	b := newBidi(t)
	b.ext.EditSilently("Contact", "003A", map[string]any{"Phone": "2"}, at(0))
	b.sfLog.Append(
		sfsync.Change{Source: sfsync.Salesforce, Tenant: org, Object: "Contact", RecordID: "003A", Op: sfsync.OpUpdate,
			Key: "new", Fields: map[string]any{"Phone": "2"}, Version: at(2 * time.Minute)},
		sfsync.Change{Source: sfsync.Salesforce, Tenant: org, Object: "Contact", RecordID: "003A", Op: sfsync.OpUpdate,
			Key: "old", Fields: map[string]any{"Phone": "1"}, Version: at(time.Minute)},
	)
	src := b.sfLog.Source()
	start(t, oneWay(t, b, src))
	settle(t, b.sfLog, src)
	st := statusByKey(t, b.store)
	if st["new"] != sfsync.StatusNoop || st["old"] != sfsync.StatusStale {
		t.Errorf("new=%s old=%s, want noop then stale", st["new"], st["old"])
	}
	if got := field(t, b.ext, "Contact", "003A", "Phone"); got != "2" {
		t.Errorf("Phone=%v, want 2: an older change overwrote what a no-op confirmed", got)
	}
}

// A delete is a versioned tombstone: an update older than it, arriving
// late, does not bring the record back.
func TestOlderUpdateDoesNotResurrectADeletedRecord(t *testing.T) {
	b := newBidi(t)
	mk := func(key string, op sfsync.Op, d time.Duration, fields map[string]any) sfsync.Change {
		return sfsync.Change{Source: sfsync.Salesforce, Tenant: org, Object: "Contact", RecordID: "003A", Op: op,
			Key: key, Fields: fields, Version: at(d)}
	}
	b.sfLog.Append(
		mk("create", sfsync.OpCreate, 0, map[string]any{"Phone": "1"}),
		mk("delete", sfsync.OpDelete, 2*time.Minute, nil),
		mk("late-update", sfsync.OpUpdate, time.Minute, map[string]any{"Phone": "3"}),
	)
	src := b.sfLog.Source()
	start(t, oneWay(t, b, src))
	settle(t, b.sfLog, src)
	if st := statusByKey(t, b.store)["late-update"]; st != sfsync.StatusStale {
		t.Errorf("late update ended %s, want stale", st)
	}
	r, ok := b.ext.Record("Contact", "003A")
	if !ok || !r.Deleted {
		t.Errorf("record after a late update: exists=%v deleted=%v fields=%v; want it deleted", ok, r.Deleted, r.Fields)
	}
}

// stallingResumer stands for a source whose resume waits on a slow server.
type stallingResumer struct{ *synctest.Source }

func (s stallingResumer) Resume(ctx context.Context, _ sfsync.CheckpointStore) error {
	<-ctx.Done()
	return ctx.Err()
}

// Run returns nil when its context ends, whatever it was doing then.
func TestRunReturnsNilWhenStoppedDuringResume(t *testing.T) {
	e, err := sfsyncsync.New(stallingResumer{synctest.NewLog("s").Source()}, synctest.NewSystem(erp), sfsyncsync.WithLogger(quiet()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := e.Run(ctx); err != nil {
		t.Errorf("Run = %v, want nil", err)
	}
}

// Requeue called right after Run was started in another goroutine waits
// for the engine instead of failing.
func TestRequeueRightAfterRun(t *testing.T) {
	b := newBidi(t)
	c := b.sf.EditSilently("Contact", "003A", map[string]any{"Phone": "1"}, at(0))
	if err := b.store.PutDeadLetter(context.Background(), sfsync.DeadLetter{Change: c, Destination: erp, Err: "earlier failure"}); err != nil {
		t.Fatal(err)
	}
	e := oneWay(t, b, b.sfLog.Source())
	start(t, e)
	o, err := e.Requeue(context.Background(), c.Key)
	if err != nil || o.Status != sfsync.StatusApplied {
		t.Fatalf("Requeue = %v, %v; want applied", o.Status, err)
	}
}

// finishesAnyway is a sink whose write of one record outlives the drain
// timeout and then takes effect, as a request already sent does.
type finishesAnyway struct{ started chan struct{} }

func (s finishesAnyway) Write(ctx context.Context, cs []sfsync.Change) error {
	close(s.started)
	<-ctx.Done()
	return nil
}

// The final commit after the drain timeout still records the work that
// finished.
func TestFinalCommitAfterDrainTimeoutKeepsFinishedWork(t *testing.T) {
	log := synctest.NewLog("erp/contacts")
	log.Append(sfsync.Change{Source: erp, Object: "Contact", RecordID: "C", Op: sfsync.OpUpdate, Key: "k",
		Fields: map[string]any{"Phone": "1"}, Version: at(0)})
	store := newState(t)
	sink := finishesAnyway{started: make(chan struct{})}
	e, err := sfsyncsync.New(log.Source(), sink, sfsyncsync.WithLogger(quiet()), sfsyncsync.WithStore(store),
		sfsyncsync.WithDrainTimeout(time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	r := start(t, e)
	<-sink.started
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	if st := statusByKey(t, store)["k"]; st != sfsync.StatusApplied {
		t.Errorf("the write that finished after the drain timeout ended %q, want applied", st)
	}
}

// An event the source could not decode is dead-lettered whole, and the
// stream goes on past it.
func TestUndecodableEventIsDeadLetteredWhole(t *testing.T) {
	b := newBidi(t)
	b.sfLog.Append(sfsync.Change{Source: sfsync.Salesforce, Tenant: org, Object: "Contact", Op: sfsync.OpUndecodable,
		Key: "replay:1", Schema: "schema-x", Raw: &sfsync.RawEvent{Payload: []byte{0, 1, 2}, Reason: "schema schema-x not found"}})
	b.sf.Edit("Contact", "003A", map[string]any{"Phone": "1"}, at(0))
	src := b.sfLog.Source()
	start(t, oneWay(t, b, src))
	settle(t, b.sfLog, src)
	d, err := b.store.DeadLetter(context.Background(), "replay:1")
	if err != nil {
		t.Fatalf("no dead letter for the undecodable event: %v", err)
	}
	if d.Change.Raw == nil || string(d.Change.Raw.Payload) != "\x00\x01\x02" || d.Kind != sfsync.KindPermanent {
		t.Errorf("dead letter %+v: want the payload kept and a permanent kind", d)
	}
	if got := field(t, b.ext, "Contact", "003A", "Phone"); got != "1" {
		t.Errorf("the change after it did not arrive: Phone=%v", got)
	}
}

// Fencing is the store that grants the lease refusing commits: an engine
// whose checkpoints would be written elsewhere is refused at assembly.
func TestLeaseNeedsTheStoreThatCommitsCheckpoints(t *testing.T) {
	store := memory.New()
	src := synctest.NewLog("s").Source()
	_, err := sfsyncsync.New(src, synctest.NewSystem(erp), sfsyncsync.WithStore(store),
		sfsyncsync.WithCheckpointStore(memory.New()), sfsyncsync.WithLease(store, "l", "a", time.Minute))
	if !errors.Is(err, sfsync.ErrInvalid) {
		t.Errorf("checkpoints elsewhere: New = %v, want ErrInvalid", err)
	}
	_, err = sfsyncsync.New(src, synctest.NewSystem(erp), sfsyncsync.WithStore(store),
		sfsyncsync.WithLease(memory.New(), "l", "a", time.Minute))
	if !errors.Is(err, sfsync.ErrInvalid) {
		t.Errorf("another leaser: New = %v, want ErrInvalid", err)
	}
	if _, err = sfsyncsync.New(src, synctest.NewSystem(erp), sfsyncsync.WithStore(store),
		sfsyncsync.WithEchoStore(memory.New()), sfsyncsync.WithLease(store, "l", "a", time.Minute)); err != nil {
		t.Errorf("an overridden echo store: New = %v, want it accepted (echoes are not part of a commit)", err)
	}
}

// writeOnly hides a system's reader, so that the engine cannot tell a
// repeated write from a new one by the target's state.
type writeOnly struct{ s *synctest.System }

func (w writeOnly) Write(ctx context.Context, cs []sfsync.Change) error { return w.s.Write(ctx, cs) }

func (w writeOnly) System() sfsync.System { return w.s.System() }

// Writing the same value twice expects two echoes, and a create that
// carries no mapped field is recognised as ours too.
func TestEchoFingerprintsCountWrites(t *testing.T) {
	sfLog, erpLog := synctest.NewLog("/data/ContactChangeEvent"), synctest.NewLog("erp/contacts")
	ext := synctest.NewSystem(erp) // its outbox is written by hand below
	store := newState(t)
	sfSrc, erpSrc := sfLog.Source(), erpLog.Source()
	e, err := sfsyncsync.New(sfSrc, nil,
		sfsyncsync.WithSource(erpSrc), sfsyncsync.WithLogger(quiet()), sfsyncsync.WithTenant(org), sfsyncsync.WithStore(store),
		sfsyncsync.WithRoute(sfsyncsync.Route{From: sfsync.Salesforce, Sink: writeOnly{ext}}),
		sfsyncsync.WithRoute(sfsyncsync.Route{From: erp, Sink: synctest.NewSystem(sfsync.Salesforce)}), fastRetries(3))
	if err != nil {
		t.Fatal(err)
	}
	start(t, e)
	sfc := func(key string, op sfsync.Op, id string, d time.Duration, fields map[string]any) sfsync.Change {
		return sfsync.Change{Source: sfsync.Salesforce, Tenant: org, Object: "Contact", RecordID: id, Op: op, Key: key,
			Fields: fields, Version: at(d)}
	}
	sfLog.Append(
		sfc("sf:1", sfsync.OpUpdate, "C-1", 0, map[string]any{"Phone": "5"}),
		sfc("sf:2", sfsync.OpUpdate, "C-1", time.Minute, map[string]any{"Phone": "5"}),
		sfc("sf:3", sfsync.OpCreate, "C-2", time.Minute, map[string]any{}),
	)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := sfSrc.WaitCommitted(ctx, sfLog.Len()); err != nil {
		t.Fatal(err)
	}
	echo := func(key string, op sfsync.Op, id string, d time.Duration, fields map[string]any) sfsync.Change {
		return sfsync.Change{Source: erp, Object: "Contact", RecordID: id, Op: op, Key: key, Fields: fields, Version: at(d)}
	}
	erpLog.Append(
		echo("erp:1", sfsync.OpUpdate, "C-1", 2*time.Minute, map[string]any{"Phone": "5"}),
		echo("erp:2", sfsync.OpUpdate, "C-1", 3*time.Minute, map[string]any{"Phone": "5"}),
		echo("erp:3", sfsync.OpCreate, "C-2", 3*time.Minute, map[string]any{}),
	)
	if err := erpSrc.WaitCommitted(ctx, erpLog.Len()); err != nil {
		t.Fatal(err)
	}
	st := statusByKey(t, store)
	for _, k := range []string{"erp:1", "erp:2", "erp:3"} {
		if st[k] != sfsync.StatusEcho {
			t.Errorf("%s ended %q, want echo", k, st[k])
		}
	}
}

// A change that loses its conflict leaves the losing system with its own
// value, which no event will correct: the engine writes the winner's value
// back to it, so both systems end with what the policy chose.
func TestLosingSideIsRepairedToTheWinnersValue(t *testing.T) {
	b := newBidi(t)
	b.sf.EditSilently("Contact", "003A", map[string]any{"Phone": "sf"}, at(0))
	b.ext.EditSilently("Contact", "003A", map[string]any{"Phone": "sf"}, at(0))
	edit := b.ext.Edit("Contact", "003A", map[string]any{"Phone": "erp"}, at(time.Minute))
	sfSrc, extSrc := b.sfLog.Source(), b.extLog.Source()
	e, err := sfsyncsync.New(sfSrc, nil, append(b.options(conflict.SalesforceWins()), sfsyncsync.WithSource(extSrc))...)
	if err != nil {
		t.Fatal(err)
	}
	start(t, e)
	settle(t, b.sfLog, sfSrc, b.extLog, extSrc)
	if st := statusByKey(t, b.store)[edit.Key]; st != sfsync.StatusConflictLost {
		t.Errorf("the ERP edit ended %s, want conflict_lost (Salesforce wins)", st)
	}
	if d, err := b.store.DeadLetter(context.Background(), "repair:"+edit.Key); err == nil {
		t.Logf("repair dead letter: %s", d.Err)
	}
	if st := statusByKey(t, b.store)["repair:"+edit.Key]; st != sfsync.StatusApplied {
		t.Errorf("its repair ended %q, want applied", st)
	}
	for _, side := range []*synctest.System{b.sf, b.ext} {
		if got := field(t, side, "Contact", "003A", "Phone"); got != "sf" {
			t.Errorf("%s holds Phone=%v, want Salesforce's value", side.System(), got)
		}
	}
}

// An event stamped with the 15-character form of our org id is ours.
func TestFifteenCharacterOrgIDIsOurTenant(t *testing.T) {
	b := newBidi(t)
	b.sfLog.Append(sfsync.Change{Source: sfsync.Salesforce, Tenant: org[:15], Object: "Contact", RecordID: "003A",
		Op: sfsync.OpUpdate, Key: "short", Fields: map[string]any{"Phone": "1"}, Version: at(0)})
	b.sfLog.Append(sfsync.Change{Source: sfsync.Salesforce, Tenant: "00D000000000002", Object: "Contact", RecordID: "003B",
		Op: sfsync.OpUpdate, Key: "foreign", Fields: map[string]any{"Phone": "2"}, Version: at(0)})
	src := b.sfLog.Source()
	start(t, oneWay(t, b, src))
	settle(t, b.sfLog, src)
	st := statusByKey(t, b.store)
	if st["short"] != sfsync.StatusApplied || st["foreign"] != sfsync.StatusDeadLettered {
		t.Errorf("15-character form of our org: %s, another org: %s; want applied and dead_lettered", st["short"], st["foreign"])
	}
}

// A panic in a user's converter or conflict policy dead-letters the change
// with the panic's text; the engine goes on.
func TestPanicsInUserCodeAreDeadLettered(t *testing.T) {
	b := newBidi(t)
	b.sf.Edit("Contact", "003A", map[string]any{"Phone": "boom"}, at(0))
	b.sf.Edit("Contact", "003B", map[string]any{"Email": "x@example.com"}, at(0))
	b.sf.Edit("Contact", "003C", map[string]any{"Phone": "1"}, at(0))
	src := b.sfLog.Source()
	panicky := sfsync.ConflictPolicyFunc(func(in sfsync.Change, cur sfsync.Record) sfsync.Decision {
		if _, ok := in.Fields["Email"]; ok {
			panic("policy bug")
		}
		return sfsync.ApplyAll(in, "ok")
	})
	start(t, oneWay(t, b, src, sfsyncsync.WithPolicy(panicky), sfsyncsync.WithMapping(&sfsyncsync.Mapping{Object: "Contact",
		Fields: []sfsyncsync.Field{
			{Salesforce: "Phone", External: "Phone", ToExternal: func(v any) (any, error) {
				if v == "boom" {
					panic("converter bug")
				}
				return v, nil
			}},
			{Salesforce: "Email", External: "Email"},
		}})))
	settle(t, b.sfLog, src)
	dls, err := b.store.DeadLetters(context.Background(), sfsync.DeadLetterQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	for _, d := range dls {
		texts = append(texts, d.Err)
	}
	joined := fmt.Sprint(texts)
	if len(dls) != 2 || !strings.Contains(joined, "converter bug") || !strings.Contains(joined, "policy bug") {
		t.Errorf("dead letters %q, want the converter's and the policy's panics", texts)
	}
	if got := field(t, b.ext, "Contact", "003C", "Phone"); got != "1" {
		t.Errorf("the change after them did not arrive: Phone=%v", got)
	}
}

// An update that wins over a delete in the other system brings the record
// back whole there, not as a record holding only the updated field.
func TestUpdateNewerThanADeleteBringsTheWholeRecordBack(t *testing.T) {
	b := newBidi(t)
	b.sf.EditSilently("Contact", "003A", map[string]any{"Phone": "1", "Email": "a@example.com"}, at(0))
	b.ext.EditSilently("Contact", "003A", map[string]any{"Phone": "1", "Email": "a@example.com"}, at(0))
	b.sf.Remove("Contact", "003A", at(time.Minute))
	b.ext.Edit("Contact", "003A", map[string]any{"Phone": "2"}, at(2*time.Minute))
	sfSrc, extSrc := b.sfLog.Source(), b.extLog.Source()
	e, err := sfsyncsync.New(sfSrc, nil, append(b.options(conflict.LastWriteWins()), sfsyncsync.WithSource(extSrc))...)
	if err != nil {
		t.Fatal(err)
	}
	start(t, e)
	settle(t, b.sfLog, sfSrc, b.extLog, extSrc)
	for _, side := range []*synctest.System{b.sf, b.ext} {
		r, ok := side.Record("Contact", "003A")
		if !ok || r.Deleted || r.Fields["Phone"] != "2" || r.Fields["Email"] != "a@example.com" {
			t.Errorf("%s holds %+v (exists %v), want the record live with Phone 2 and its email", side.System(), r, ok)
		}
	}
}

// A create whose owned field loses leaves the owner without a value for it,
// so the creating side's value is cleared too.
func TestCreateLosingAnOwnedFieldClearsItOnItsSide(t *testing.T) {
	b := newBidi(t)
	b.ext.Edit("Contact", "P-1", map[string]any{"Phone": "1", "Email": "erp@example.com"}, at(0))
	sfSrc, extSrc := b.sfLog.Source(), b.extLog.Source()
	policy := conflict.FieldOwnership(conflict.Owners{"Email": sfsync.Salesforce}, conflict.LastWriteWins())
	e, err := sfsyncsync.New(sfSrc, nil, append(b.options(policy), sfsyncsync.WithSource(extSrc))...)
	if err != nil {
		t.Fatal(err)
	}
	start(t, e)
	settle(t, b.sfLog, sfSrc, b.extLog, extSrc)
	for _, side := range []*synctest.System{b.sf, b.ext} {
		if got := field(t, side, "Contact", "P-1", "Email"); got != nil {
			t.Errorf("%s holds Email=%v, want none: Salesforce owns it and never set it", side.System(), got)
		}
		if got := field(t, side, "Contact", "P-1", "Phone"); got != "1" {
			t.Errorf("%s holds Phone=%v, want 1", side.System(), got)
		}
	}
}

// A retried write keeps the repair its first attempt planned: the retry
// decides on a change already stripped of the fields that lost, so without
// it the losing side would keep values the owner never set.
func TestRetriedCreateStillRepairsTheFieldsThatLost(t *testing.T) {
	b := newBidi(t)
	b.sf.Edit("Contact", "003A", map[string]any{"LastName": "n", "Phone": "1", "Email": "sf@example.com"}, at(0))
	b.ext.InjectFault(synctest.Fault{Err: sfsync.Retryable(errors.New("timeout")), AfterApply: true})
	sfSrc, extSrc := b.sfLog.Source(), b.extLog.Source()
	policy := conflict.FieldOwnership(conflict.Owners{"Phone": erp}, conflict.LastWriteWins())
	e, err := sfsyncsync.New(sfSrc, nil, append(b.options(policy), sfsyncsync.WithSource(extSrc))...)
	if err != nil {
		t.Fatal(err)
	}
	start(t, e)
	settle(t, b.sfLog, sfSrc, b.extLog, extSrc)
	for _, side := range []*synctest.System{b.sf, b.ext} {
		if got := field(t, side, "Contact", "003A", "Phone"); got != nil {
			t.Errorf("%s holds Phone=%v, want none: the ERP owns it and never set it", side.System(), got)
		}
		if got := field(t, side, "Contact", "003A", "Email"); got != "sf@example.com" {
			t.Errorf("%s holds Email=%v, want Salesforce's", side.System(), got)
		}
	}
}

// A repair writes the winner's value over the change that lost, even where
// the loser versions only whole records and the winner's clock runs ahead:
// the policy is not asked again to compare the winner's version with the
// losing change's own, which the version map holds until repaired.
func TestRepairOverwritesTheLosingChangeOnARecordVersionedTarget(t *testing.T) {
	b := newBidi(t)
	b.salesforceByRecord()
	_, settled := b.startBoth(t, conflict.LastWriteWins())
	// The ERP creates the record with its clock ahead; Salesforce then edits
	// it with an earlier timestamp, and loses.
	b.ext.Edit("Contact", "003A", map[string]any{"LastName": "n", "Phone": "erp"}, at(8500*time.Millisecond))
	settled()
	lost := b.sf.Edit("Contact", "003A", map[string]any{"Phone": "sf"}, at(7*time.Second))
	settled()
	if st := statusByKey(t, b.store)[lost.Key]; st != sfsync.StatusConflictLost {
		t.Errorf("the Salesforce edit ended %s, want conflict_lost (the ERP's is newer)", st)
	}
	for _, side := range []*synctest.System{b.sf, b.ext} {
		if got := field(t, side, "Contact", "003A", "Phone"); got != "erp" {
			t.Errorf("%s holds Phone=%v, want the ERP's newer value", side.System(), got)
		}
	}
}
