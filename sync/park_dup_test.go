package sync_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/conflict"
	sfsyncsync "github.com/sfsync/sfsync/sync"
	"github.com/sfsync/sfsync/sync/synctest"
)

// slowRepairs is the ERP as the engine's sink, holding every repair write
// until release is closed, as a slow target would.
type slowRepairs struct {
	*synctest.System
	started chan struct{}
	release chan struct{}
}

func (s *slowRepairs) Write(ctx context.Context, cs []sfsync.Change) error {
	for _, c := range cs {
		if strings.HasPrefix(c.Key, "repair:") {
			select {
			case s.started <- struct{}{}:
			default:
			}
			select {
			case <-s.release:
			case <-ctx.Done():
				return sfsync.Retryable(ctx.Err())
			}
		}
	}
	return s.System.Write(ctx, cs)
}

// recordVersioned is Salesforce as the engine's sink: it versions whole
// records only (SystemModstamp), not fields.
type recordVersioned struct{ *synctest.System }

func (s recordVersioned) Read(ctx context.Context, object string, ids []string) (map[string]sfsync.Record, error) {
	out, err := s.System.Read(ctx, object, ids)
	for id, r := range out {
		r.FieldVersions, r.LastWriter = nil, nil
		out[id] = r
	}
	return out, err
}

// waitParked waits until n changes wait in the park (which is looked at
// every few milliseconds, not woken).
func waitParked(ctx context.Context, t *testing.T, e *sfsyncsync.Engine, n int) {
	t.Helper()
	waitUntil(ctx, t, fmt.Sprintf("%d changes wait in the park", n), func() bool { return e.Parked() >= n })
}

// waitUntil polls cond every few milliseconds (what it watches has no
// notification) until it holds.
func waitUntil(ctx context.Context, t *testing.T, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-tick.C:
		case <-ctx.Done():
			t.Fatalf("waiting until %s: %v", what, ctx.Err())
		}
	}
}

// A change decided from the park whose outcome waits for its repair is
// decided once: a redelivery of it that arrives meanwhile, and waits in
// the park behind a later change of the record, is its duplicate when its
// turn comes.
func TestRedeliveryParkedWhileTheFirstIsRepairedIsDuplicate(t *testing.T) {
	b := newBidi(t)
	b.sf.EditSilently("Contact", "003A", map[string]any{"Phone": "sf", "Email": "sf@x"}, at(0))
	b.ext.EditSilently("Contact", "003A", map[string]any{"Phone": "sf", "Email": "sf@x"}, at(0))
	// Salesforce changed the record after anything the engine saw, and
	// says only that the record changed: the ERP's edits wait in the park
	// for that change's event.
	b.sf.EditSilently("Contact", "003A", map[string]any{"LastName": "Lovelace"}, at(30*time.Second))
	first := b.ext.Edit("Contact", "003A", map[string]any{"Phone": "erp"}, at(time.Minute))
	b.ext.Edit("Contact", "003A", map[string]any{"Email": "erp@x"}, at(2*time.Minute))
	r, slow, sfSrc, extSrc := b.startRepairingSlowly(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	waitParked(ctx, t, r.e, 2)
	// Salesforce's event never comes: after its wait the park decides the
	// first edit (Salesforce wins) and repairs the ERP, slowly.
	select {
	case <-slow.started:
	case <-ctx.Done():
		t.Fatal("no repair of the losing edit started")
	}
	// The transport delivers the first edit again while its repair is on
	// its way: it is a duplicate at once (its key counts as pending), or,
	// decided no earlier than its turn, waits behind the second edit.
	b.extLog.Append(first)
	waitUntil(ctx, t, "the redelivery parked or found a duplicate", func() bool {
		if r.e.Parked() >= 2 {
			return true
		}
		for _, o := range outcomes(t, b.store, sfsync.OutcomeQuery{Key: first.Key}) {
			if o.Status == sfsync.StatusDuplicate {
				return true
			}
		}
		return false
	})
	close(slow.release)
	settle(t, b.sfLog, sfSrc, b.extLog, extSrc)
	var deciding []string
	for _, o := range outcomes(t, b.store, sfsync.OutcomeQuery{Key: first.Key}) {
		if o.Status != sfsync.StatusDuplicate {
			deciding = append(deciding, string(o.Status)+": "+o.Reason)
		}
	}
	if len(deciding) != 1 {
		t.Errorf("the first edit has %d deciding outcomes, want 1: %v", len(deciding), deciding)
	}
}

// heldEchoLookups is engine state whose write-fingerprint lookups wait,
// once armed, until release is closed: a change stays between its dedup
// lookup and the rest of its preparation as long as the test needs.
type heldEchoLookups struct {
	stateStore
	armed   atomic.Bool
	waiting chan struct{}
	release chan struct{}
}

func (s *heldEchoLookups) MatchWrite(ctx context.Context, fp string) (bool, error) {
	if s.armed.CompareAndSwap(true, false) {
		close(s.waiting)
		select {
		case <-s.release:
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
	return s.stateStore.MatchWrite(ctx, fp)
}

// A redelivery found new by its dedup lookup just before the park decided
// the first delivery is still its duplicate when it reaches the park: the
// first's outcome, held while its repair runs, counts as deciding there
// too. Before, parkBehind asked only for outcomes handed to the committer,
// and the redelivery was decided a second time.
func TestRedeliveryPreparedWhileTheFirstLeavesTheParkIsDuplicate(t *testing.T) {
	b := newBidi(t)
	held := &heldEchoLookups{stateStore: b.store, waiting: make(chan struct{}), release: make(chan struct{})}
	b.store = held
	b.sf.EditSilently("Contact", "003A", map[string]any{"Phone": "sf", "Email": "sf@x"}, at(0))
	b.ext.EditSilently("Contact", "003A", map[string]any{"Phone": "sf", "Email": "sf@x"}, at(0))
	// Salesforce changed the record after anything the engine saw, and
	// says only that the record changed: the ERP's edit waits in the park
	// for that change's event, which never comes.
	b.sf.EditSilently("Contact", "003A", map[string]any{"LastName": "Lovelace"}, at(30*time.Second))
	first := b.ext.Edit("Contact", "003A", map[string]any{"Phone": "erp"}, at(time.Minute))
	r, slow, sfSrc, extSrc := b.startRepairingSlowly(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	waitParked(ctx, t, r.e, 1)
	// The transport delivers the edit again while the first delivery
	// waits: the redelivery has no outcome to find, and its preparation
	// stops at its echo lookup until the park has decided the first
	// delivery (Salesforce wins) and started its slow repair.
	held.armed.Store(true)
	b.extLog.Append(first)
	select {
	case <-held.waiting:
	case <-ctx.Done():
		t.Fatal("the redelivery was not prepared")
	}
	select {
	case <-slow.started:
	case <-ctx.Done():
		t.Fatal("no repair of the losing edit started")
	}
	close(held.release)
	close(slow.release)
	settle(t, b.sfLog, sfSrc, b.extLog, extSrc)
	var deciding []string
	for _, o := range outcomes(t, b.store, sfsync.OutcomeQuery{Key: first.Key}) {
		if o.Status != sfsync.StatusDuplicate {
			deciding = append(deciding, string(o.Status)+": "+o.Reason)
		}
	}
	if len(deciding) != 1 {
		t.Errorf("the edit has %d deciding outcomes, want 1: %v", len(deciding), deciding)
	}
}

// startRepairingSlowly starts an engine syncing b both ways, Salesforce
// winning, on b's store: its repairs of the ERP wait in slow, and
// Salesforce versions whole records only.
func (b *bidi) startRepairingSlowly(t *testing.T) (r *running, slow *slowRepairs, sfSrc, extSrc *synctest.Source) {
	t.Helper()
	slow = &slowRepairs{System: b.ext, started: make(chan struct{}, 1), release: make(chan struct{})}
	sfSrc, extSrc = b.sfLog.Source(), b.extLog.Source()
	e, err := sfsyncsync.New(sfSrc, nil,
		sfsyncsync.WithLogger(quiet()), sfsyncsync.WithTenant(org), sfsyncsync.WithClientID("sfsync"),
		sfsyncsync.WithStore(b.store), sfsyncsync.WithPolicy(conflict.SalesforceWins()),
		sfsyncsync.WithRoute(sfsyncsync.Route{From: sfsync.Salesforce, To: erp, Sink: slow}),
		sfsyncsync.WithRoute(sfsyncsync.Route{From: erp, To: sfsync.Salesforce, Sink: recordVersioned{b.sf}}),
		sfsyncsync.WithSource(extSrc), fastRetries(5))
	if err != nil {
		t.Fatal(err)
	}
	return start(t, e), slow, sfSrc, extSrc
}
