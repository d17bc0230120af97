package pubsubtest_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/sfsync/sfsync/internal/eventbus"
	"github.com/sfsync/sfsync/pubsub/pubsubtest"
)

// The real endpoint is TLS only, so the fake is too unless asked: a client
// that forgets TLS fails against it as it would against Salesforce.
func TestTLSByDefault(t *testing.T) {
	srv := pubsubtest.NewServer()
	t.Cleanup(srv.Close)
	other := pubsubtest.NewServer()
	t.Cleanup(other.Close)
	if srv.Certificate() == nil || srv.ClientTLSConfig() == nil || srv.CertPool() == nil {
		t.Fatal("a default server has no certificate")
	}
	if bytes.Equal(srv.Certificate().Raw, other.Certificate().Raw) {
		t.Fatal("two servers share a certificate; each must have its own")
	}
	ctx := authCtx(t, "token")
	getTopic := func(addr string, creds credentials.TransportCredentials) error {
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		_, err = eventbus.NewPubSubClient(conn).GetTopic(cctx, &eventbus.TopicRequest{TopicName: "/event/Nope__e"})
		return err
	}
	if err := getTopic(srv.Addr(), insecure.NewCredentials()); status.Code(err) != codes.Unavailable {
		t.Fatalf("plaintext client against the TLS server: %v, want Unavailable", err)
	}
	if err := getTopic(srv.Addr(), credentials.NewTLS(other.ClientTLSConfig())); status.Code(err) != codes.Unavailable {
		t.Fatalf("client trusting another server's certificate: %v, want Unavailable", err)
	}
	if err := getTopic(srv.Addr(), credentials.NewTLS(srv.ClientTLSConfig())); status.Code(err) != codes.NotFound {
		t.Fatalf("trusting client: %v, want the server's NotFound", err)
	}
	plain := pubsubtest.NewServer(pubsubtest.WithPlaintext())
	t.Cleanup(plain.Close)
	if plain.Certificate() != nil || plain.ClientTLSConfig() != nil || plain.CertPool() != nil {
		t.Fatal("a plaintext server reports TLS material")
	}
	if err := getTopic(plain.Addr(), insecure.NewCredentials()); status.Code(err) != codes.NotFound {
		t.Fatalf("plaintext server: %v, want the server's NotFound", err)
	}
}

// GetTopic on the multi-entity channel has a blank schema id, and change
// events are published by Salesforce only.
func TestChangeEventTopics(t *testing.T) {
	srv, c := setup(t)
	if _, err := srv.AddTopic(pubsubtest.TopicChangeEvents, schema1); err != nil {
		t.Fatal(err)
	}
	ctx := authCtx(t, "token")
	for _, tc := range []struct {
		topic      string
		canPublish bool
		blank      bool
	}{
		{pubsubtest.TopicChangeEvents, false, true},
		{topicA, false, false},
		{topicB, true, false},
	} {
		info, err := c.GetTopic(ctx, &eventbus.TopicRequest{TopicName: tc.topic})
		if err != nil {
			t.Fatal(err)
		}
		if info.GetCanPublish() != tc.canPublish || !info.GetCanSubscribe() || (info.GetSchemaId() == "") != tc.blank {
			t.Errorf("GetTopic(%s) = %v", tc.topic, info)
		}
	}
	id, err := srv.SetSchema(topicA, schema1)
	if err != nil {
		t.Fatal(err)
	}
	for _, topic := range []string{topicA, pubsubtest.TopicChangeEvents} {
		var trailer metadata.MD
		_, err := c.Publish(ctx, &eventbus.PublishRequest{TopicName: topic,
			Events: []*eventbus.ProducerEvent{{Id: "x", SchemaId: id, Payload: []byte{2}}}}, grpc.Trailer(&trailer))
		wantStatus(t, err, codes.PermissionDenied, pubsubtest.CodeTopicPermission, trailer,
			`^Publishing to the topic `+topic+` isn't allowed. `)
		ps, err := c.PublishStream(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := ps.Send(&eventbus.PublishRequest{TopicName: topic,
			Events: []*eventbus.ProducerEvent{{Id: "x", SchemaId: id, Payload: []byte{2}}}}); err != nil {
			t.Fatal(err)
		}
		_, err = ps.Recv()
		wantStatus(t, err, codes.PermissionDenied, pubsubtest.CodeTopicPermission, ps.Trailer(),
			`^Publishing to the topic `+topic+` isn't allowed. `)
		if got := srv.Published(topic); len(got) != 0 {
			t.Fatalf("published to %s: %v", topic, got)
		}
	}
}

// Salesforce's own examples pass the 15-character org id as tenantid.
func TestTenantIDEitherLength(t *testing.T) {
	_, c := setup(t)
	for _, tenant := range []string{
		pubsubtest.DefaultOrgID,
		pubsubtest.DefaultOrgID[:15],
		"core/fake/" + pubsubtest.DefaultOrgID[:15],
	} {
		ctx := metadata.AppendToOutgoingContext(context.Background(), "accesstoken", "token",
			"instanceurl", pubsubtest.DefaultInstanceURL, "tenantid", tenant)
		if _, err := c.GetTopic(ctx, &eventbus.TopicRequest{TopicName: topicA}); err != nil {
			t.Errorf("tenantid %s: %v", tenant, err)
		}
	}
	for _, tenant := range []string{
		pubsubtest.DefaultOrgID[:14],
		"00D000000000002",
		"00D000000000001AAB",
		pubsubtest.DefaultOrgID + "X",
		"core//" + pubsubtest.DefaultOrgID,
	} {
		ctx := metadata.AppendToOutgoingContext(context.Background(), "accesstoken", "token",
			"instanceurl", pubsubtest.DefaultInstanceURL, "tenantid", tenant)
		if _, err := c.GetTopic(ctx, &eventbus.TopicRequest{TopicName: topicA}); status.Code(err) != codes.Unauthenticated {
			t.Errorf("tenantid %s: %v, want Unauthenticated", tenant, err)
		}
	}
}

// A keepalive on a bus that has never held an event still carries a
// replay id, and that id is a valid position to replay from.
func TestKeepaliveOnEmptyBus(t *testing.T) {
	srv, c := setup(t, pubsubtest.WithKeepalive(10*time.Millisecond))
	resp, err := subscribe(t, c, &eventbus.FetchRequest{TopicName: topicA, NumRequested: 1}).Recv()
	if err != nil {
		t.Fatal(err)
	}
	latest := resp.GetLatestReplayId()
	if len(resp.GetEvents()) != 0 || len(latest) == 0 || bytes.Count(latest, []byte{0}) == len(latest) {
		t.Fatalf("keepalive on an empty bus: %v", resp)
	}
	id := appendN(t, srv, topicA, 1)[0]
	evs, _ := recvEvents(t, subscribe(t, c, &eventbus.FetchRequest{TopicName: topicA,
		ReplayPreset: eventbus.ReplayPreset_CUSTOM, ReplayId: latest, NumRequested: 1}), 1)
	if !bytes.Equal(evs[0].GetReplayId(), id) {
		t.Fatalf("replay from the empty bus's keepalive id got %x, want %x", evs[0].GetReplayId(), id)
	}
	// The fault that strips it, for testing clients, does strip it.
	srv.InjectFault(pubsubtest.Fault{OmitLatestReplayID: true})
	resp, err = subscribe(t, c, &eventbus.FetchRequest{TopicName: topicB, NumRequested: 1}).Recv()
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.GetEvents()) != 0 || resp.GetLatestReplayId() != nil {
		t.Fatalf("keepalive with OmitLatestReplayID: %v", resp)
	}
}

// A managed subscription is named by developer name or by its Tooling id,
// 15 or 18 characters.
func TestManagedSubscriptionNames(t *testing.T) {
	srv, c := setup(t)
	byName := srv.AddManagedSubscription("Orders", topicA)
	long := srv.AddManagedSubscription("Orders_Long", topicA)
	short := srv.AddManagedSubscription("Orders_Short", topicA)
	got := srv.ManagedSubscriptions()
	if len(got) != 3 || got[0].ID != byName || got[0].DeveloperName != "Orders" || got[0].Topic != topicA {
		t.Fatalf("ManagedSubscriptions = %+v", got)
	}
	id := appendN(t, srv, topicA, 1)[0]
	for _, req := range []*eventbus.ManagedFetchRequest{
		{DeveloperName: "Orders", NumRequested: 1},
		{SubscriptionId: long, NumRequested: 1},
		{SubscriptionId: short[:15], NumRequested: 1},
	} {
		ms, err := c.ManagedSubscribe(authCtx(t, "token"))
		if err != nil {
			t.Fatal(err)
		}
		if err := ms.Send(req); err != nil {
			t.Fatal(err)
		}
		resp, err := ms.Recv()
		if err != nil || len(resp.GetEvents()) != 1 || !bytes.Equal(resp.GetEvents()[0].GetReplayId(), id) {
			t.Fatalf("%v: %v, %v", req, resp, err)
		}
	}
}
