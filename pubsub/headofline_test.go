package pubsub_test

import (
	"bytes"
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/pubsub"
)

// An event whose schema fetch keeps failing for longer than the
// subscription's backoff allows stays first in line: Receive reports the
// failure, and the next Receive delivers that event, not the one behind
// it, whose commit would pass the first.
func TestTransientSchemaFailureKeepsTheEventFirstInLine(t *testing.T) {
	e := newEnv(t, nil)
	ids := e.appendUpdates(t, 0, 2)
	var fails atomic.Int32
	fails.Store(3)
	flaky := grpc.WithChainUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if method == "/eventbus.v1.PubSub/GetSchema" && fails.Add(-1) >= 0 {
			return status.Error(codes.Unavailable, "blip")
		}
		return invoker(ctx, method, req, reply, cc, opts...)
	})
	client, err := pubsub.Dial(e.srv.Addr(), pubsub.StaticToken(creds), transport(e.srv), pubsub.WithLogger(quiet()), pubsub.WithDialOptions(flaky))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	// A bounded reconnect backoff (here two retries) is a reasonable setting;
	// the same backoff bounds the schema retries.
	sub := client.Subscribe(topic, pubsub.WithBackOff(func() backoff.BackOff { return backoff.WithMaxRetries(&backoff.ZeroBackOff{}, 2) }))
	defer sub.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := sub.Receive(ctx); err == nil || !sfsync.IsRetryable(err) {
		t.Fatalf("first Receive = %v, want a retryable error: the schema could not be fetched", err)
	}
	changes, err := sub.Receive(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if string(changes[0].Position.Token) != string(ids[0]) {
		t.Errorf("the second Receive delivered replay id %x (record %s), want event 1 at %x: event 2's commit would pass event 1",
			changes[0].Position.Token, changes[0].RecordID, ids[0])
	}
}

// Events that will never decode are delivered in their place as
// sfsync.OpUndecodable, whole, so that the engine dead-letters them: one
// whose schema id the server does not know (after a few fetches) and one
// whose payload is corrupt. The events around them arrive in order.
func TestUndecodableEventsAreDeliveredInTheirPlace(t *testing.T) {
	e := newEnv(t, nil)
	var fetches atomic.Int32
	counting := grpc.WithChainUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if method == "/eventbus.v1.PubSub/GetSchema" {
			fetches.Add(1)
		}
		return invoker(ctx, method, req, reply, cc, opts...)
	})
	client, err := pubsub.Dial(e.srv.Addr(), pubsub.StaticToken(creds), transport(e.srv), pubsub.WithLogger(quiet()), pubsub.WithDialOptions(counting))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	first := e.appendUpdates(t, 0, 1)[0]
	unknown, err := e.srv.AppendEncoded(topic, "NoSuchSchemaId00000000", []byte{2, 4, 6})
	if err != nil {
		t.Fatal(err)
	}
	corrupt, err := e.srv.AppendEncoded(topic, e.schemaID, []byte{0xff, 0xff, 0xff})
	if err != nil {
		t.Fatal(err)
	}
	last := e.appendUpdates(t, 1, 1)[0]

	sub := client.Subscribe(topic, fastRetry())
	defer sub.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var got []sfsync.Change
	for range 4 {
		changes, err := sub.Receive(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, changes...)
	}
	for i, want := range [][]byte{first, unknown, corrupt, last} {
		if !bytes.Equal(got[i].Position.Token, want) || got[i].Position.Stream != topic {
			t.Fatalf("delivery %d is at %+v, want replay id %x", i, got[i].Position, want)
		}
	}
	for i, schema := range map[int]string{1: "NoSuchSchemaId00000000", 2: e.schemaID} {
		c := got[i]
		if c.Op != sfsync.OpUndecodable || c.Raw == nil || c.Raw.Reason == "" || c.Schema != schema ||
			c.Object != "Account" || c.Tenant != creds.TenantID || c.Source != sfsync.Salesforce || c.Key == "" {
			t.Errorf("delivery %d = %+v (raw %+v), want an undecodable change of schema %s", i, c, c.Raw, schema)
		}
	}
	if !bytes.Equal(got[1].Raw.Payload, []byte{2, 4, 6}) || !strings.Contains(got[1].Raw.Reason, "NoSuchSchemaId00000000") {
		t.Errorf("unknown schema: raw %+v", got[1].Raw)
	}
	if got[0].Op != sfsync.OpUpdate || got[3].Op != sfsync.OpUpdate {
		t.Errorf("the events around them: %v, %v", got[0], got[3])
	}
	// The unknown schema was asked for a few times, not once and not
	// forever; the known one once.
	if n := fetches.Load(); n < 3 || n > 10 {
		t.Errorf("%d schema fetches", n)
	}
}
