package salesforce_test

import (
	"context"
	"fmt"
	"strings"
	stdsync "sync"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/pubsub"
	"github.com/sfsync/sfsync/reconcile"
	"github.com/sfsync/sfsync/salesforce"
	"github.com/sfsync/sfsync/salesforce/salesforcetest"
	"github.com/sfsync/sfsync/store/memory"
	"github.com/sfsync/sfsync/sync"
	"github.com/sfsync/sfsync/sync/synctest"
)

type testClock struct {
	mu  stdsync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// notifying wraps a sink and wakes waiters after every write.
type notifying struct {
	sfsync.Sink
	mu stdsync.Mutex
	ch chan struct{}
}

func (n *notifying) Write(ctx context.Context, changes []sfsync.Change) error {
	err := n.Sink.Write(ctx, changes)
	n.tick()
	return err
}

// Read keeps the wrapped system's state visible to the engine.
func (n *notifying) Read(ctx context.Context, object string, ids []string) (map[string]sfsync.Record, error) {
	return n.Sink.(sfsync.StateReader).Read(ctx, object, ids)
}

func (n *notifying) tick() {
	n.mu.Lock()
	close(n.ch)
	n.ch = make(chan struct{})
	n.mu.Unlock()
}

// committing wraps the subscription so that its commits wake waiters too.
type committing struct {
	*pubsub.Subscription
	n *notifying
}

func (c committing) Commit(ctx context.Context, pos sfsync.Position) error {
	err := c.Subscription.Commit(ctx, pos)
	c.n.tick()
	return err
}

func (n *notifying) until(ctx context.Context, cond func() bool) error {
	for {
		n.mu.Lock()
		ch := n.ch
		n.mu.Unlock()
		if cond() {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// A subscriber that stays away longer than the 72 h retention finds its
// replay id rejected; the engine backfills from Salesforce's records, so the
// edit made while it was away, whose event has expired, still arrives.
func TestBackfillAfterRetentionExpired(t *testing.T) {
	clk := &testClock{now: time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)}
	org := salesforcetest.NewOrg(salesforcetest.WithClock(clk.Now))
	defer org.Close()
	tokens := salesforce.StaticToken(salesforce.Token{AccessToken: org.AccessToken(), InstanceURL: org.URL(), OrgID: org.OrgID(), UserID: org.IntegrationUserID()})
	sf := salesforce.New(tokens, salesforce.WithHTTPClient(org.Client()), salesforce.WithLogger(discard()))
	ps, err := pubsub.Dial(org.PubSub().Addr(), salesforce.PubSubTokens(tokens), pubsub.WithTLSConfig(org.ClientTLSConfig()), pubsub.WithLogger(discard()))
	if err != nil {
		t.Fatal(err)
	}
	defer ps.Close()
	erp := &notifying{Sink: synctest.NewSystem(sfsync.External("erp")), ch: make(chan struct{})}
	erpSys := erp.Sink.(*synctest.System)
	state := memory.New()
	mapping := &sync.Mapping{Object: "Contact", External: "person", Fields: []sync.Field{{Salesforce: "LastName", External: "name"}, {Salesforce: "Phone", External: "phone"}}}
	runEngine := func(ctx context.Context, until func() bool) {
		t.Helper()
		sub := ps.Subscribe("/data/ContactChangeEvent")
		defer sub.Close()
		engine, err := sync.New(committing{sub, erp}, erp, sync.WithLogger(discard()), sync.WithTenant(org.OrgID()), sync.WithStore(state), sync.WithMapping(mapping),
			sync.WithReconciler(reconcile.New(salesforce.NewAuthority(sf, map[string][]string{"Contact": {"LastName", "Phone"}}), reconcile.WithTenant(org.OrgID()), reconcile.WithLogger(discard()))),
			sync.WithBackfill("Contact"))
		if err != nil {
			t.Fatal(err)
		}
		runCtx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- engine.Run(runCtx) }()
		if err := erp.until(ctx, until); err != nil {
			t.Fatal(err)
		}
		stop()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	var ids []string
	for i := range 5 {
		ids = append(ids, org.Insert("Contact", map[string]any{"LastName": fmt.Sprintf("C%d", i), "Phone": "100"}))
	}
	phone := func(id string) any { r, _ := erpSys.Record("person", id); return r.Fields["phone"] }
	runEngine(ctx, func() bool {
		cp, err := state.LoadCheckpoint(ctx, "/data/ContactChangeEvent")
		return err == nil && len(cp.Token) > 0 && phone(ids[4]) == "100"
	})

	// While no subscriber runs, a user edits contact 2; then three days pass.
	clk.Advance(time.Hour)
	if err := org.EditAsUser("Contact", ids[2], map[string]any{"Phone": "999"}); err != nil {
		t.Fatal(err)
	}
	clk.Advance(73 * time.Hour)

	runEngine(ctx, func() bool { return phone(ids[2]) == "999" })
	for _, id := range ids {
		if rec, ok := erpSys.Record("person", id); !ok || rec.Fields["name"] == nil {
			t.Errorf("ERP person %s = %v", id, rec.Fields)
		}
	}
	reconciled := 0
	for _, o := range must(state.Outcomes(ctx, sfsync.OutcomeQuery{})) {
		if o.Source == sfsync.Salesforce && o.RecordID == ids[2] && o.Status == sfsync.StatusApplied && strings.HasPrefix(o.Key, "reconcile:") {
			reconciled++
		}
	}
	if reconciled == 0 {
		for _, o := range must(state.Outcomes(ctx, sfsync.OutcomeQuery{})) {
			t.Logf("%s %s %s %s", o.Source, o.RecordID, o.Status, o.Reason)
		}
		t.Error("the edit made while away was not applied by a backfill")
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// The authority reads deleted records too, so a link survives the delete.
func TestAuthorityReadsDeletedRecordsLinks(t *testing.T) {
	org := salesforcetest.NewOrg()
	defer org.Close()
	sf := orgClient(t, org)
	id := org.Insert("Contact", map[string]any{"LastName": "Gone", "External_Id__c": "P-3"})
	if err := org.DeleteAsUser("Contact", id); err != nil {
		t.Fatal(err)
	}
	got, err := salesforce.NewAuthority(sf, map[string][]string{"Contact": {"External_Id__c"}}).Read(context.Background(), "Contact", []string{id})
	if err != nil {
		t.Fatal(err)
	}
	if rec, ok := got[id]; !ok || !rec.Deleted || rec.Fields["External_Id__c"] != "P-3" {
		t.Fatalf("Read = %+v", got)
	}
}
