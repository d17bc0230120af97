package pubsub_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/pubsub"
)

const orderTopic = "/event/Order__e"

const orderSchema = `{"type":"record","name":"Order__e","namespace":"com.sforce.eventbus","fields":[
	{"name":"CreatedDate","type":"long"},
	{"name":"CreatedById","type":"string"},
	{"name":"Order_Number__c","type":["null","string"],"default":null},
	{"name":"Amount__c","type":["null","double"],"default":null},
	{"name":"Quantity__c","type":["null","long"],"default":null},
	{"name":"Rush__c","type":["null","boolean"],"default":null}]}`

// orderEnv is an env with the Order__e platform event topic.
func orderEnv(t *testing.T) (*env, string) {
	t.Helper()
	e := newEnv(t, nil)
	id, err := e.srv.AddTopic(orderTopic, orderSchema)
	if err != nil {
		t.Fatal(err)
	}
	return e, id
}

func order(id string, n int) pubsub.PlatformEvent {
	return pubsub.PlatformEvent{ID: id, Fields: map[string]any{
		"Order_Number__c": fmt.Sprintf("O-%d", n), "Amount__c": float64(n) + 0.5, "Quantity__c": int64(n), "Rush__c": n%2 == 0,
	}}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// decodePublished decodes what the server stored for topic.
func decodePublished(t *testing.T, e *env, schemaJSON string) map[string]map[string]any {
	t.Helper()
	codec, err := goavro.NewCodec(schemaJSON)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]any{}
	for _, ev := range e.srv.Published(orderTopic) {
		native, _, err := codec.NativeFromBinary(ev.Payload)
		if err != nil {
			t.Fatal(err)
		}
		if _, dup := out[ev.ID]; dup {
			t.Errorf("event %s published twice", ev.ID)
		}
		out[ev.ID] = native.(map[string]any)
	}
	return out
}

func TestPublishReturnsReplayIDsInOrder(t *testing.T) {
	e, schemaID := orderEnv(t)
	ctx := testCtx(t)
	events := []pubsub.PlatformEvent{order("ord-1", 1), order("", 2), {ID: "ord-3", Fields: map[string]any{"Order_Number__c": nil}}}
	res, err := e.client.Publish(ctx, orderTopic, events)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 3 || res[0].ID != "ord-1" || res[2].ID != "ord-3" {
		t.Fatalf("results %+v", res)
	}
	if events[1].ID == "" || res[1].ID != events[1].ID || len(events[1].ID) != 36 {
		t.Fatalf("generated id %q, result %q", events[1].ID, res[1].ID)
	}
	for i := 1; i < len(res); i++ {
		if len(res[i].ReplayID) == 0 || bytes.Compare(res[i-1].ReplayID, res[i].ReplayID) >= 0 {
			t.Fatalf("replay ids not increasing: %+v", res)
		}
	}
	stored := e.srv.Published(orderTopic)
	if len(stored) != 3 || stored[0].SchemaID != schemaID {
		t.Fatalf("server stored %d events", len(stored))
	}
	got := decodePublished(t, e, orderSchema)
	o1 := got["ord-1"]
	if o1["Order_Number__c"].(map[string]any)["string"] != "O-1" || o1["Amount__c"].(map[string]any)["double"] != 1.5 ||
		o1["Quantity__c"].(map[string]any)["long"] != int64(1) || o1["Rush__c"].(map[string]any)["boolean"] != false {
		t.Errorf("event ord-1 stored as %v", o1)
	}
	if o1["CreatedDate"].(int64) == 0 {
		t.Errorf("CreatedDate not filled: %v", o1)
	}
	if got["ord-3"]["Order_Number__c"] != nil || got["ord-3"]["Amount__c"] != nil {
		t.Errorf("event ord-3 stored as %v", got["ord-3"])
	}
}

func TestPublishPartialFailureAndRetry(t *testing.T) {
	e, _ := orderEnv(t)
	ctx := testCtx(t)
	bad := order("ord-2", 2)
	bad.Fields["Amount__c"] = "a lot" // fits no branch of ["null","double"]
	unknown := order("ord-3", 3)
	unknown.Fields["Colour__c"] = "red"
	events := []pubsub.PlatformEvent{order("ord-1", 1), bad, unknown, order("ord-4", 4)}
	res, err := e.client.Publish(ctx, orderTopic, events)
	var pe *pubsub.PublishError
	if !errors.As(err, &pe) {
		t.Fatalf("Publish = %v, want a PublishError", err)
	}
	if len(res) != 2 || res[0].ID != "ord-1" || res[1].ID != "ord-4" || len(pe.Succeeded) != 2 {
		t.Fatalf("results %+v, succeeded %+v", res, pe.Succeeded)
	}
	if len(pe.Failed) != 2 || pe.Failed["ord-2"] == nil || pe.Failed["ord-3"] == nil {
		t.Fatalf("failed %v", pe.Failed)
	}
	if ids := pe.FailedIDs(); len(ids) != 2 || ids[0] != "ord-2" || ids[1] != "ord-3" {
		t.Errorf("failed ids %v", ids)
	}
	if !sfsync.IsPermanent(err) || !strings.Contains(err.Error(), "ord-2") || !strings.Contains(err.Error(), "ord-3") || strings.Contains(err.Error(), "ord-1") {
		t.Errorf("error %q (kind %v)", err, sfsync.KindOf(err))
	}
	if n := len(e.srv.Published(orderTopic)); n != 2 {
		t.Fatalf("server has %d events; the bad ones must never be sent", n)
	}

	// Retry just the failed ones, fixed, with the same ids.
	bad.Fields["Amount__c"] = 2.5
	delete(unknown.Fields, "Colour__c")
	res, err = e.client.Publish(ctx, orderTopic, []pubsub.PlatformEvent{bad, unknown})
	if err != nil || len(res) != 2 {
		t.Fatalf("retry = %+v, %v", res, err)
	}
	got := decodePublished(t, e, orderSchema)
	if len(got) != 4 {
		t.Fatalf("server has %d distinct events, want 4", len(got))
	}
	if got["ord-2"]["Amount__c"].(map[string]any)["double"] != 2.5 {
		t.Errorf("ord-2 stored as %v", got["ord-2"])
	}
}

func TestPublishServerRejectsOneEvent(t *testing.T) {
	e, _ := orderEnv(t)
	ctx := testCtx(t)
	// The server refuses ids over 36 characters in that event's result.
	long := strings.Repeat("x", 40)
	res, err := e.client.Publish(ctx, orderTopic, []pubsub.PlatformEvent{order("ok-1", 1), order(long, 2)})
	var pe *pubsub.PublishError
	if !errors.As(err, &pe) || len(res) != 1 || pe.Failed[long] == nil || len(pe.Failed) != 1 || !sfsync.IsPermanent(err) {
		t.Fatalf("Publish = %+v, %v", res, err)
	}
	if !strings.Contains(err.Error(), "36 characters") {
		t.Errorf("error %q does not carry the server's reason", err)
	}
	if n := len(e.srv.Published(orderTopic)); n != 1 {
		t.Fatalf("server has %d events", n)
	}
	// Duplicate ids in one call are refused as a whole.
	if _, err := e.client.Publish(ctx, orderTopic, []pubsub.PlatformEvent{order("d", 1), order("d", 2)}); err == nil || errors.As(err, &pe) {
		t.Fatalf("duplicate ids: %v", err)
	}
	// An unknown topic fails the call.
	if _, err := e.client.Publish(ctx, "/event/Nope__e", []pubsub.PlatformEvent{order("", 1)}); err == nil || !sfsync.IsPermanent(err) {
		t.Fatalf("unknown topic: %v", err)
	}
}

func TestPublishStreamSeveralBatches(t *testing.T) {
	e, _ := orderEnv(t)
	ctx := testCtx(t)
	p, err := e.client.PublishStream(ctx, orderTopic)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var all []pubsub.PublishResult
	for b := range 5 {
		var batch []pubsub.PlatformEvent
		for i := range 10 {
			batch = append(batch, order(fmt.Sprintf("b%d-%d", b, i), b*10+i))
		}
		if b == 2 {
			batch[3].Fields["Quantity__c"] = "three"
		}
		res, err := p.Publish(ctx, batch)
		if b == 2 {
			var pe *pubsub.PublishError
			if !errors.As(err, &pe) || len(pe.Failed) != 1 || pe.Failed["b2-3"] == nil || len(res) != 9 {
				t.Fatalf("batch 2 = %d results, %v", len(res), err)
			}
			batch[3].Fields["Quantity__c"] = int64(23)
			retry, err := p.Publish(ctx, batch[3:4])
			if err != nil || len(retry) != 1 || retry[0].ID != "b2-3" {
				t.Fatalf("retry = %+v, %v", retry, err)
			}
			res = append(res, retry...)
		} else if err != nil {
			t.Fatalf("batch %d: %v", b, err)
		}
		for i, r := range res[:min(len(res), 9)] {
			if b != 2 && r.ID != batch[i].ID {
				t.Fatalf("batch %d result %d is %s", b, i, r.ID)
			}
		}
		all = append(all, res...)
	}
	if len(all) != 50 {
		t.Fatalf("%d results", len(all))
	}
	got := decodePublished(t, e, orderSchema)
	if len(got) != 50 || len(e.srv.Published(orderTopic)) != 50 {
		t.Fatalf("server has %d distinct of %d events", len(got), len(e.srv.Published(orderTopic)))
	}
	if got["b2-3"]["Quantity__c"].(map[string]any)["long"] != int64(23) {
		t.Errorf("b2-3 stored as %v", got["b2-3"])
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Publish(ctx, []pubsub.PlatformEvent{order("", 1)}); !errors.Is(err, sfsync.ErrClosed) {
		t.Fatalf("Publish after Close = %v", err)
	}
}

func TestPublishStreamConcurrentCallsAndReopen(t *testing.T) {
	e, _ := orderEnv(t)
	ctx := testCtx(t)
	p, err := e.client.PublishStream(ctx, orderTopic)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	errs := make(chan error, 4)
	for g := range 4 {
		go func() {
			for i := range 5 {
				id := fmt.Sprintf("g%d-%d", g, i)
				res, err := p.Publish(ctx, []pubsub.PlatformEvent{order(id, i)})
				if err == nil && (len(res) != 1 || res[0].ID != id) {
					err = fmt.Errorf("results %+v for %s", res, id)
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	// A call whose context ended leaves the publisher usable.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := p.Publish(cctx, []pubsub.PlatformEvent{order("cancelled", 1)}); err == nil {
		t.Log("cancelled publish went through before the context was seen")
	}
	if _, err := p.Publish(ctx, []pubsub.PlatformEvent{order("after", 1)}); err != nil {
		t.Fatal(err)
	}
	if n := len(decodePublished(t, e, orderSchema)); n < 21 {
		t.Fatalf("server has %d events", n)
	}
}
