package sync_test

import (
	"context"
	"errors"
	"fmt"
	stdsync "sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/conflict"
	sfsyncsync "github.com/sfsync/sfsync/sync"
	"github.com/sfsync/sfsync/sync/synctest"
)

// readThen is a system as the engine's sink whose first read calls then
// before it returns what it read.
type readThen struct {
	*synctest.System
	once stdsync.Once
	then func()
}

func (s *readThen) Read(ctx context.Context, object string, ids []string) (map[string]sfsync.Record, error) {
	recs, err := s.System.Read(ctx, object, ids)
	s.once.Do(s.then)
	return recs, err
}

// secondReadHeld is a system as the engine's sink whose second read waits
// until release is closed; waiting is closed when it does.
type secondReadHeld struct {
	*synctest.System
	reads   atomic.Int32
	waiting chan struct{}
	release chan struct{}
}

func (s *secondReadHeld) Read(ctx context.Context, object string, ids []string) (map[string]sfsync.Record, error) {
	if s.reads.Add(1) == 2 {
		close(s.waiting)
		select {
		case <-s.release:
		case <-ctx.Done():
			return nil, sfsync.Retryable(ctx.Err())
		}
	}
	return s.System.Read(ctx, object, ids)
}

// heldDeliveries is an event source whose deliveries wait, while hold is
// set, until it is closed.
type heldDeliveries struct {
	*synctest.Source
	mu   stdsync.Mutex
	hold chan struct{}
}

func (s *heldDeliveries) Receive(ctx context.Context) ([]sfsync.Change, error) {
	cs, err := s.Source.Receive(ctx)
	s.mu.Lock()
	hold := s.hold
	s.mu.Unlock()
	if hold != nil && err == nil {
		select {
		case <-hold:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return cs, err
}

func (s *heldDeliveries) setHold(hold chan struct{}) {
	s.mu.Lock()
	s.hold = hold
	s.mu.Unlock()
}

// heldLookups is a dedup store whose first lookup of key waits until
// first is closed, and whose later ones until later is.
type heldLookups struct {
	sfsync.DedupStore
	key          string
	n            atomic.Int32
	first, later chan struct{}
}

func (s *heldLookups) Seen(ctx context.Context, key string) (bool, error) {
	if key == s.key {
		wait := s.later
		if s.n.Add(1) == 1 {
			wait = s.first
		}
		select {
		case <-wait:
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
	return s.DedupStore.Seen(ctx, key)
}

// A linked record's Salesforce edit loses to the ERP, and its repair (the
// ERP's value, as the ERP's change) waits in the park for Salesforce's
// event of a newer change of the record. The ERP's user edits the record
// meanwhile; that change is decided in another lane (the ERP's id's),
// which found the park empty before it took the record's gate from the
// repair's lane. It must still wait behind the repair: written first, its
// write's acknowledgement lost and its echo awaited, it was overtaken by
// the repair, which wrote the ERP's older value over it in Salesforce
// while the ERP kept the edit (seed 103548).
func TestERPChangeWaitsBehindARepairParkedByTheOtherLane(t *testing.T) {
	b := newBidi(t)
	b.salesforceByRecord(synctest.WithExternalID("Contact", "External_Id__c"))
	mapping := &sfsyncsync.Mapping{Object: "Contact", LinkField: "External_Id__c", Fields: []sfsyncsync.Field{
		{Salesforce: "Phone", External: "phone"},
	}}
	ext := &readThen{System: b.ext}
	sf := &secondReadHeld{System: b.sf, waiting: make(chan struct{}), release: make(chan struct{})}
	sfSrc, extSrc := b.sfLog.Source(), b.extLog.Source()
	feed := &heldDeliveries{Source: sfSrc}
	// Both systems hold p4, then the Salesforce user edits it, and the
	// record again (a field not synced), whose event comes later.
	b.sf.EditSilently("Contact", "003A", map[string]any{"Phone": "p4"}, at(0))
	lost := b.sf.Edit("Contact", "003A", map[string]any{"Phone": "p5"}, at(2*time.Minute))
	later := b.sf.EditSilently("Contact", "003A", map[string]any{"Title": "Dr"}, at(3*time.Minute))
	gateWait := make(chan struct{})
	// The repair is looked up first as it is prepared, in the Salesforce
	// edit's lane under the record's gate, and then by the park.
	lookups := &heldLookups{DedupStore: b.store, key: "repair:" + lost.Key, first: gateWait, later: make(chan struct{})}
	e, err := sfsyncsync.New(feed, nil,
		sfsyncsync.WithLogger(quiet()), sfsyncsync.WithTenant(org), sfsyncsync.WithClientID("sfsync"),
		sfsyncsync.WithStore(b.store), sfsyncsync.WithDedupStore(lookups), sfsyncsync.WithPolicy(conflict.ExternalWins()),
		sfsyncsync.WithRoute(sfsyncsync.Route{From: sfsync.Salesforce, To: erp, Sink: ext}),
		sfsyncsync.WithRoute(sfsyncsync.Route{From: erp, To: sfsync.Salesforce, Sink: sf}),
		sfsyncsync.WithSource(extSrc), fastRetries(5), sfsyncsync.WithMapping(mapping),
		sfsyncsync.WithLinkReader(b.sf), sfsyncsync.WithWorkers(4))
	if err != nil {
		t.Fatal(err)
	}
	// The ERP's id of the record, in a lane other than its Salesforce id's.
	var extID string
	for i := 1; extID == ""; i++ {
		if id := fmt.Sprintf("P-%d", i); !e.SameLane("Contact", "003A", id) {
			extID = id
		}
	}
	b.sf.EditSilently("Contact", "003A", map[string]any{"External_Id__c": extID}, at(0))
	b.ext.EditSilently("Contact", extID, map[string]any{"phone": "p4"}, at(time.Minute))
	var editKey atomic.Value // the ERP user's edit's, once made
	edited := func() string { k, _ := editKey.Load().(string); return k }
	var waited stdsync.Once
	e.OnGateWait(func(string) { waited.Do(func() { close(gateWait) }) })
	// The Salesforce edit is decided against the ERP's p4; the ERP's user
	// edits the record just after, and that change waits for the gate the
	// Salesforce edit holds for its repair.
	ext.then = func() {
		editKey.Store(b.ext.Edit("Contact", extID, map[string]any{"phone": "p16"}, at(time.Hour)).Key)
	}
	// The ERP's edit's write takes effect, and its acknowledgement is lost.
	b.sf.InjectFault(synctest.Fault{Match: func(c sfsync.Change) bool { return c.Fields["Phone"] == "p16" },
		Err: sfsync.Retryable(errors.New("timeout: the response was lost")), AfterApply: true})
	r := start(t, e)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	// The repair waits in the park for Salesforce's later change. The
	// ERP's edit either waits behind it, or reads Salesforce to decide.
	waitUntil(ctx, t, "the ERP's edit parked or read Salesforce", func() bool {
		select {
		case <-sf.waiting:
			return true
		default:
		}
		return edited() != "" && r.e.ParkedKey(edited())
	})
	// Salesforce's later change arrives (no synced field changed): the
	// record's version is explained.
	b.sfLog.Append(later)
	waitUntil(ctx, t, "Salesforce's later change decided", func() bool {
		return len(outcomes(t, b.store, sfsync.OutcomeQuery{Key: later.Key})) > 0
	})
	// Salesforce's events of our writes wait from now on: the ERP edit's
	// write is not confirmed by its echo yet.
	echoes := make(chan struct{})
	feed.setHold(echoes)
	close(sf.release)
	close(lookups.later)
	waitUntil(ctx, t, "the ERP's edit written and waiting for its echo", func() bool {
		return b.sf.Applications(edited()) > 0 && r.e.ParkedKey(edited())
	})
	feed.setHold(nil)
	close(echoes)
	settle(t, b.sfLog, sfSrc, b.extLog, extSrc)

	sfPhone, extPhone := field(t, b.sf, "Contact", "003A", "Phone"), field(t, b.ext, "Contact", extID, "phone")
	if sfPhone != "p16" || extPhone != "p16" {
		logOutcomes(t, b)
		t.Errorf("Salesforce holds %v, the ERP %v; want the ERP user's p16 in both", sfPhone, extPhone)
	}
}
