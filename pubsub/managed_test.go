package pubsub_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/pubsub"
	"github.com/sfsync/sfsync/pubsub/pubsubtest"
)

const managedName = "Order_Sync"

// publishOrders publishes orders from..from+n-1 and returns their results.
func publishOrders(t *testing.T, e *env, from, n int) []pubsub.PublishResult {
	t.Helper()
	var events []pubsub.PlatformEvent
	for i := from; i < from+n; i++ {
		events = append(events, order(fmt.Sprintf("ord-%d", i), i))
	}
	res, err := e.client.Publish(testCtx(t), orderTopic, events)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func receiveOrder(ctx context.Context, t *testing.T, sub *pubsub.ManagedSubscription) sfsync.Change {
	t.Helper()
	changes, err := sub.Receive(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) != 1 {
		t.Fatalf("changes %+v", changes)
	}
	if changes[0].Tenant != creds.TenantID {
		t.Fatalf("change of org %q, want the authenticated org %s", changes[0].Tenant, creds.TenantID)
	}
	return changes[0]
}

func TestManagedSubscriptionCommitsAndResumes(t *testing.T) {
	e, _ := orderEnv(t)
	ctx := testCtx(t)
	subID := e.srv.AddManagedSubscription(managedName, orderTopic)
	published := publishOrders(t, e, 0, 8)

	sub := e.client.ManagedSubscribe(managedName, pubsub.WithWindow(3), fastRetry())
	if sub.Stream() != managedName {
		t.Fatalf("stream %q", sub.Stream())
	}
	var last sfsync.Change
	for i := range 5 {
		c := receiveOrder(ctx, t, sub)
		if c.Op != sfsync.OpEvent || c.RecordID != fmt.Sprintf("ord-%d", i) || c.Fields["Order_Number__c"] != fmt.Sprintf("O-%d", i) {
			t.Fatalf("delivery %d = %+v", i, c)
		}
		if c.Position.Stream != managedName || !bytes.Equal(c.Position.Token, published[i].ReplayID) {
			t.Fatalf("delivery %d position %+v, published at %x", i, c.Position, published[i].ReplayID)
		}
		if i == 1 || i == 4 {
			if err := sub.Commit(ctx, c.Position); err != nil {
				t.Fatal(err)
			}
			// Commit returns once the server confirmed: it holds the id.
			if got := e.srv.Committed(managedName); !bytes.Equal(got, c.Position.Token) {
				t.Fatalf("server committed %x, want %x", got, c.Position.Token)
			}
		}
		last = c
	}
	// Positions of other streams are not ours.
	if err := sub.Commit(ctx, sfsync.Position{Stream: "/event/Other__e", Token: []byte{9}}); err != nil {
		t.Fatal(err)
	}
	// A replay id the server never issued is refused.
	if err := sub.Commit(ctx, sfsync.Position{Stream: managedName, Token: []byte("bogus")}); err == nil || !sfsync.IsPermanent(err) {
		t.Fatalf("commit of a bogus replay id = %v", err)
	}
	if st := sub.Stats(); st.MaxOwed > 3 {
		t.Errorf("owed up to %d events, window is 3", st.MaxOwed)
	}
	if err := sub.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := sub.Receive(ctx); !errors.Is(err, sfsync.ErrClosed) {
		t.Fatalf("Receive after Close = %v", err)
	}

	// A new subscription, by record id this time, continues after the
	// committed event: the server kept the position.
	if got := e.srv.Committed(subID); !bytes.Equal(got, last.Position.Token) {
		t.Fatalf("server committed %x, want %x", got, last.Position.Token)
	}
	again := e.client.ManagedSubscribe(subID, fastRetry())
	defer again.Close()
	for i := 5; i < 8; i++ {
		c := receiveOrder(ctx, t, again)
		if c.RecordID != fmt.Sprintf("ord-%d", i) {
			t.Fatalf("resumed delivery = %s, want ord-%d", c.RecordID, i)
		}
		if err := again.Commit(ctx, c.Position); err != nil {
			t.Fatal(err)
		}
	}
	if got := e.srv.Committed(managedName); !bytes.Equal(got, published[7].ReplayID) {
		t.Fatalf("server committed %x, want %x", got, published[7].ReplayID)
	}
	// New events still arrive on the live stream.
	more := publishOrders(t, e, 8, 1)
	if c := receiveOrder(ctx, t, again); c.RecordID != "ord-8" || !bytes.Equal(c.Position.Token, more[0].ReplayID) {
		t.Fatalf("live delivery %+v", c)
	}
}

func TestManagedSubscriptionReconnectsAndRecommits(t *testing.T) {
	e, _ := orderEnv(t)
	ctx := testCtx(t)
	e.srv.AddManagedSubscription(managedName, orderTopic)
	publishOrders(t, e, 0, 40)
	e.srv.InjectFault(pubsubtest.Fault{DisconnectAfter: 7})
	sub := e.client.ManagedSubscribe(managedName, pubsub.WithWindow(5), fastRetry(), pubsub.WithJitterSeed(2))
	defer sub.Close()
	seen := map[string]int{}
	for len(seen) < 40 {
		c := receiveOrder(ctx, t, sub)
		seen[c.RecordID]++
		if err := sub.Commit(ctx, c.Position); err != nil {
			t.Fatal(err)
		}
	}
	st := sub.Stats()
	if st.Reconnects == 0 {
		t.Errorf("no reconnect after the server dropped the stream: %+v", st)
	}
	// A reconnect resumes after the committed event: at most what was
	// buffered (one window) and the event in hand come again.
	dups := 0
	for _, n := range seen {
		dups += n - 1
	}
	if dups > (5+1)*st.Reconnects {
		t.Errorf("%d duplicates over %d reconnects, window 5", dups, st.Reconnects)
	}
}

func TestManagedSubscriptionUnknownNameKeepsRetrying(t *testing.T) {
	e, _ := orderEnv(t)
	sub := e.client.ManagedSubscribe("Nope", fastRetry())
	defer sub.Close()
	ctx, cancel := context.WithCancel(testCtx(t))
	// The subscription may still be propagating in the org: Receive waits.
	done := make(chan error, 1)
	go func() {
		_, err := sub.Receive(ctx)
		done <- err
	}()
	e.srv.AddManagedSubscription("Nope", orderTopic)
	publishOrders(t, e, 0, 1)
	if err := <-done; err != nil {
		t.Fatalf("Receive once the subscription exists = %v", err)
	}
	cancel()
}
