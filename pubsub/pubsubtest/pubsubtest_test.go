package pubsubtest_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/sfsync/sfsync/internal/eventbus"
	"github.com/sfsync/sfsync/pubsub/pubsubtest"
)

const (
	topicA  = "/data/ContactChangeEvent"
	topicB  = "/event/Other__e"
	schema1 = `{"type":"record","name":"Ev","fields":[{"name":"N","type":"long"}]}`
	schema2 = `{"type":"record","name":"Ev","fields":[{"name":"N","type":"long"},{"name":"S","type":["null","string"],"default":null}]}`
)

const rpcIDRe = `rpcId: [0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func setup(t *testing.T, opts ...pubsubtest.Option) (*pubsubtest.Server, eventbus.PubSubClient) {
	t.Helper()
	srv := pubsubtest.NewServer(opts...)
	t.Cleanup(srv.Close)
	transport := insecure.NewCredentials()
	if cfg := srv.ClientTLSConfig(); cfg != nil {
		transport = credentials.NewTLS(cfg)
	}
	conn, err := grpc.NewClient(srv.Addr(), grpc.WithTransportCredentials(transport))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, err := srv.AddTopic(topicA, schema1); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.AddTopic(topicB, schema1); err != nil {
		t.Fatal(err)
	}
	return srv, eventbus.NewPubSubClient(conn)
}

func authCtx(t *testing.T, token string) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return metadata.AppendToOutgoingContext(ctx, "accesstoken", token,
		"instanceurl", pubsubtest.DefaultInstanceURL, "tenantid", pubsubtest.DefaultOrgID)
}

func appendN(t *testing.T, srv *pubsubtest.Server, topic string, n int) [][]byte {
	t.Helper()
	var ids [][]byte
	for i := range n {
		id, err := srv.Append(topic, map[string]any{"N": int64(i)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

func subscribe(t *testing.T, c eventbus.PubSubClient, req *eventbus.FetchRequest) eventbus.PubSub_SubscribeClient {
	t.Helper()
	sub, err := c.Subscribe(authCtx(t, "token"))
	if err != nil {
		t.Fatal(err)
	}
	if err := sub.Send(req); err != nil {
		t.Fatal(err)
	}
	return sub
}

// recvEvents receives responses until n events arrived, checking that the
// pending count never goes negative and is consistent with owed.
func recvEvents(t *testing.T, sub eventbus.PubSub_SubscribeClient, n int) ([]*eventbus.ConsumerEvent, *eventbus.FetchResponse) {
	t.Helper()
	var evs []*eventbus.ConsumerEvent
	var last *eventbus.FetchResponse
	for len(evs) < n {
		resp, err := sub.Recv()
		if err != nil {
			t.Fatalf("after %d events: %v", len(evs), err)
		}
		if resp.GetRpcId() == "" || resp.GetPendingNumRequested() < 0 {
			t.Fatalf("bad response %v", resp)
		}
		evs = append(evs, resp.GetEvents()...)
		last = resp
	}
	if len(evs) != n {
		t.Fatalf("got %d events, want %d", len(evs), n)
	}
	return evs, last
}

func wantStatus(t *testing.T, err error, code codes.Code, errorCode string, trailer metadata.MD, msgRe string) {
	t.Helper()
	st, _ := status.FromError(err)
	if st.Code() != code {
		t.Fatalf("status %v, want %v (err %v)", st.Code(), code, err)
	}
	if got := trailer.Get("error-code"); len(got) != 1 || got[0] != errorCode {
		t.Fatalf("error-code trailer %q, want %q", got, errorCode)
	}
	if !regexp.MustCompile(msgRe).MatchString(st.Message()) {
		t.Fatalf("message %q does not match %q", st.Message(), msgRe)
	}
}

func TestFlowControl(t *testing.T) {
	srv, c := setup(t)
	ids := appendN(t, srv, topicA, 5)
	sub := subscribe(t, c, &eventbus.FetchRequest{TopicName: topicA, ReplayPreset: eventbus.ReplayPreset_EARLIEST, NumRequested: 2})
	evs, last := recvEvents(t, sub, 2)
	if last.GetPendingNumRequested() != 0 || !bytes.Equal(evs[1].GetReplayId(), ids[1]) {
		t.Fatalf("pending %d, second %x", last.GetPendingNumRequested(), evs[1].GetReplayId())
	}
	// One more event owed: exactly the third one arrives, nothing was sent early.
	if err := sub.Send(&eventbus.FetchRequest{NumRequested: 1}); err != nil {
		t.Fatal(err)
	}
	resp, err := sub.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.GetEvents()) != 1 || !bytes.Equal(resp.GetEvents()[0].GetReplayId(), ids[2]) || resp.GetPendingNumRequested() != 0 ||
		!bytes.Equal(resp.GetLatestReplayId(), ids[2]) {
		t.Fatalf("unexpected %v", resp)
	}
	// A request above the cap is capped at 100 outstanding.
	if err := sub.Send(&eventbus.FetchRequest{NumRequested: 150}); err != nil {
		t.Fatal(err)
	}
	_, last = recvEvents(t, sub, 2)
	if last.GetPendingNumRequested() != 98 {
		t.Fatalf("pending %d, want 98", last.GetPendingNumRequested())
	}
	st := srv.Stats()
	if st.MaxOwed != 100 || st.EventsSent != 5 || st.FetchRequests != 3 || st.Subscribes != 1 {
		t.Fatalf("stats %+v", st)
	}
	// num_requested must be positive.
	if err := sub.Send(&eventbus.FetchRequest{NumRequested: 0}); err != nil {
		t.Fatal(err)
	}
	_, err = sub.Recv()
	wantStatus(t, err, codes.InvalidArgument, pubsubtest.CodeRequestedInvalid, sub.Trailer(),
		`^The requested number of events in a fetch request must be greater than zero. `+rpcIDRe)
}

func TestReplayPresets(t *testing.T) {
	srv, c := setup(t)
	ids := appendN(t, srv, topicA, 3)
	appendN(t, srv, topicB, 1)

	evs, _ := recvEvents(t, subscribe(t, c, &eventbus.FetchRequest{TopicName: topicA, ReplayPreset: eventbus.ReplayPreset_EARLIEST, NumRequested: 3}), 3)
	for i := range evs {
		if !bytes.Equal(evs[i].GetReplayId(), ids[i]) {
			t.Fatalf("EARLIEST event %d: %x", i, evs[i].GetReplayId())
		}
	}
	evs, _ = recvEvents(t, subscribe(t, c, &eventbus.FetchRequest{TopicName: topicA, ReplayPreset: eventbus.ReplayPreset_CUSTOM, ReplayId: ids[0], NumRequested: 1}), 1)
	if !bytes.Equal(evs[0].GetReplayId(), ids[1]) {
		t.Fatalf("CUSTOM resumed at %x, want %x", evs[0].GetReplayId(), ids[1])
	}
	sub := subscribe(t, c, &eventbus.FetchRequest{TopicName: "/data/NopeChangeEvent", NumRequested: 1})
	_, err := sub.Recv()
	wantStatus(t, err, codes.NotFound, pubsubtest.CodeTopicNotFound, sub.Trailer(),
		`^The topic information for org CORE/prod/00D000000000001AAA and topic /data/NopeChangeEvent not found. Ensure the topic name is correct and that the topic exists. `+rpcIDRe)
}

func TestExpiredReplayID(t *testing.T) {
	clk := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	srv, c := setup(t, pubsubtest.WithClock(clk.Now))
	old := appendN(t, srv, topicA, 1)[0]
	clk.Advance(72*time.Hour + time.Second)
	fresh := appendN(t, srv, topicA, 1)[0]

	const msg = `^The Replay ID validation failed. Ensure that the Replay ID is valid. `
	for _, id := range [][]byte{old, {0, 0, 0, 0, 0, 0, 3, 9}, {1, 2, 3}} {
		sub := subscribe(t, c, &eventbus.FetchRequest{TopicName: topicA, ReplayPreset: eventbus.ReplayPreset_CUSTOM, ReplayId: id, NumRequested: 1})
		_, err := sub.Recv()
		wantStatus(t, err, codes.InvalidArgument,
			"sfdc.platform.eventbus.grpc.subscription.fetch.replayid.corrupted", sub.Trailer(), msg+rpcIDRe)
	}
	// EARLIEST skips the expired event.
	evs, _ := recvEvents(t, subscribe(t, c, &eventbus.FetchRequest{TopicName: topicA, ReplayPreset: eventbus.ReplayPreset_EARLIEST, NumRequested: 1}), 1)
	if !bytes.Equal(evs[0].GetReplayId(), fresh) {
		t.Fatalf("EARLIEST got %x, want %x", evs[0].GetReplayId(), fresh)
	}
}

func TestAuthentication(t *testing.T) {
	srv, c := setup(t, pubsubtest.WithTokens("secret-1"))
	req := &eventbus.TopicRequest{TopicName: topicA}
	if _, err := c.GetTopic(authCtx(t, "secret-1"), req); err != nil {
		t.Fatal(err)
	}
	noToken := metadata.AppendToOutgoingContext(context.Background(),
		"instanceurl", pubsubtest.DefaultInstanceURL, "tenantid", pubsubtest.DefaultOrgID)
	wrongTenant := metadata.AppendToOutgoingContext(context.Background(), "accesstoken", "secret-1",
		"instanceurl", pubsubtest.DefaultInstanceURL, "tenantid", "00D000000000002AAA")
	srv.SetTokens("secret-2")
	const msg = `^An authentication exception occurred. Provide valid authentication via metadata headers. ` + rpcIDRe
	for _, ctx := range []context.Context{noToken, wrongTenant, authCtx(t, "secret-1")} {
		var trailer metadata.MD
		_, err := c.GetTopic(ctx, req, grpc.Trailer(&trailer))
		wantStatus(t, err, codes.Unauthenticated, pubsubtest.CodeAuth, trailer, msg)
		if strings.Contains(err.Error(), "secret") {
			t.Fatalf("token echoed: %v", err)
		}
	}
	sub, err := c.Subscribe(authCtx(t, "secret-1"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = sub.Recv()
	wantStatus(t, err, codes.Unauthenticated, pubsubtest.CodeAuth, sub.Trailer(), msg)
	if _, err := c.GetTopic(authCtx(t, "secret-2"), req); err != nil {
		t.Fatal(err)
	}
	if got := srv.Stats().Unauthenticated; got != 4 {
		t.Fatalf("Unauthenticated = %d, want 4", got)
	}
}

func TestSchemaChange(t *testing.T) {
	srv, c := setup(t)
	ctx := authCtx(t, "token")
	info, err := c.GetTopic(ctx, &eventbus.TopicRequest{TopicName: topicA})
	if err != nil {
		t.Fatal(err)
	}
	id1 := info.GetSchemaId()
	if info.GetCanPublish() || !info.GetCanSubscribe() || info.GetTenantGuid() != pubsubtest.DefaultOrgID || id1 == "" {
		t.Fatalf("topic info %v", info)
	}
	appendN(t, srv, topicA, 1)
	id2, err := srv.SetSchema(topicA, schema2)
	if err != nil || id2 == id1 {
		t.Fatalf("SetSchema = %q, %v (old %q)", id2, err, id1)
	}
	if _, err := srv.Append(topicA, map[string]any{"N": int64(7), "S": goavro.Union("string", "x")}); err != nil {
		t.Fatal(err)
	}
	evs, _ := recvEvents(t, subscribe(t, c, &eventbus.FetchRequest{TopicName: topicA, ReplayPreset: eventbus.ReplayPreset_EARLIEST, NumRequested: 2}), 2)
	if evs[0].GetEvent().GetSchemaId() != id1 || evs[1].GetEvent().GetSchemaId() != id2 {
		t.Fatalf("schema ids %q %q", evs[0].GetEvent().GetSchemaId(), evs[1].GetEvent().GetSchemaId())
	}
	si, err := c.GetSchema(ctx, &eventbus.SchemaRequest{SchemaId: id2})
	if err != nil || si.GetSchemaJson() != schema2 || si.GetSchemaId() != id2 {
		t.Fatalf("GetSchema = %v, %v", si, err)
	}
	var trailer metadata.MD
	_, err = c.GetSchema(ctx, &eventbus.SchemaRequest{SchemaId: "nope"}, grpc.Trailer(&trailer))
	if status.Code(err) != codes.NotFound {
		t.Fatalf("unknown schema: %v", err)
	}
	_, err = c.GetSchema(ctx, &eventbus.SchemaRequest{}, grpc.Trailer(&trailer))
	wantStatus(t, err, codes.InvalidArgument, pubsubtest.CodeSchemaValidation, trailer,
		`^Schema validation failed. The schema ID can't be blank. `+rpcIDRe)
}

func TestPublishPartialFailure(t *testing.T) {
	srv, c := setup(t)
	ctx := authCtx(t, "token")
	info, err := c.GetTopic(ctx, &eventbus.TopicRequest{TopicName: topicB})
	if err != nil {
		t.Fatal(err)
	}
	codec, err := goavro.NewCodec(schema1)
	if err != nil {
		t.Fatal(err)
	}
	good, err := codec.BinaryFromNative(nil, map[string]any{"N": int64(42)})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Publish(ctx, &eventbus.PublishRequest{TopicName: topicB, Events: []*eventbus.ProducerEvent{
		{Id: "a", SchemaId: info.GetSchemaId(), Payload: good},
		{Id: "b", SchemaId: info.GetSchemaId(), Payload: []byte{0xff}},
		{Id: "c", SchemaId: "unknown", Payload: good},
		{SchemaId: info.GetSchemaId(), Payload: good},
	}})
	if err != nil {
		t.Fatal(err)
	}
	r := resp.GetResults()
	if len(r) != 4 || resp.GetSchemaId() != info.GetSchemaId() || resp.GetRpcId() == "" {
		t.Fatalf("response %v", resp)
	}
	if r[0].GetCorrelationKey() != "a" || r[0].GetError() != nil || len(r[0].GetReplayId()) != 8 {
		t.Fatalf("result a: %v", r[0])
	}
	for i, key := range []string{"b", "c"} {
		if r[i+1].GetCorrelationKey() != key || r[i+1].GetError().GetCode() != eventbus.ErrorCode_PUBLISH || r[i+1].GetReplayId() != nil {
			t.Fatalf("result %s: %v", key, r[i+1])
		}
	}
	if r[3].GetError() != nil || len(r[3].GetCorrelationKey()) != 36 {
		t.Fatalf("result without id: %v", r[3])
	}
	pub := srv.Published(topicB)
	if len(pub) != 2 || pub[0].ID != "a" || pub[1].ID != r[3].GetCorrelationKey() {
		t.Fatalf("Published = %v", pub)
	}

	ps, err := c.PublishStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"s1", "s2"} {
		if err := ps.Send(&eventbus.PublishRequest{TopicName: topicB, Events: []*eventbus.ProducerEvent{{Id: id, SchemaId: info.GetSchemaId(), Payload: good}}}); err != nil {
			t.Fatal(err)
		}
		resp, err := ps.Recv()
		if err != nil || resp.GetResults()[0].GetCorrelationKey() != id || resp.GetResults()[0].GetError() != nil {
			t.Fatalf("PublishStream %s: %v, %v", id, resp, err)
		}
	}
	if err := ps.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if _, err := ps.Recv(); !errors.Is(err, io.EOF) {
		t.Fatalf("after CloseSend: %v", err)
	}
	evs, _ := recvEvents(t, subscribe(t, c, &eventbus.FetchRequest{TopicName: topicB, ReplayPreset: eventbus.ReplayPreset_EARLIEST, NumRequested: 4}), 4)
	if evs[0].GetEvent().GetId() != "a" || evs[3].GetEvent().GetId() != "s2" {
		t.Fatalf("subscribed %v", evs)
	}
	_, err = c.Publish(ctx, &eventbus.PublishRequest{TopicName: "/event/Nope__e"})
	if status.Code(err) != codes.NotFound {
		t.Fatalf("unknown topic: %v", err)
	}
}
