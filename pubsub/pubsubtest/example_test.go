package pubsubtest_test

import (
	"context"
	"fmt"

	"github.com/linkedin/goavro/v2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"

	"github.com/sfsync/sfsync/internal/eventbus"
	"github.com/sfsync/sfsync/pubsub/pubsubtest"
)

func Example() {
	srv := pubsubtest.NewServer()
	defer srv.Close()

	const topic = "/event/Order__e"
	schemaID, err := srv.AddTopic(topic, `{"type":"record","name":"Order__e","fields":[{"name":"Amount__c","type":"double"}]}`)
	if err != nil {
		panic(err)
	}
	replayID, err := srv.Append(topic, map[string]any{"Amount__c": 12.5})
	if err != nil {
		panic(err)
	}

	// The server serves TLS with its own certificate, as the real endpoint
	// serves TLS; trust it as a client of Salesforce trusts public CAs.
	conn, err := grpc.NewClient(srv.Addr(), grpc.WithTransportCredentials(credentials.NewTLS(srv.ClientTLSConfig())))
	if err != nil {
		panic(err)
	}
	defer conn.Close()
	client := eventbus.NewPubSubClient(conn)
	ctx := metadata.AppendToOutgoingContext(context.Background(),
		"accesstoken", pubsubtest.DefaultToken,
		"instanceurl", pubsubtest.DefaultInstanceURL,
		"tenantid", pubsubtest.DefaultOrgID)

	info, err := client.GetTopic(ctx, &eventbus.TopicRequest{TopicName: topic})
	if err != nil {
		panic(err)
	}
	fmt.Println(info.GetTopicName(), info.GetSchemaId() == schemaID, info.GetCanSubscribe(), info.GetTenantGuid())

	// Read the event back: subscribe from the earliest retained event and
	// decode it with the schema named by the event.
	sub, err := client.Subscribe(ctx)
	if err != nil {
		panic(err)
	}
	if err := sub.Send(&eventbus.FetchRequest{TopicName: topic, ReplayPreset: eventbus.ReplayPreset_EARLIEST, NumRequested: 1}); err != nil {
		panic(err)
	}
	resp, err := sub.Recv()
	if err != nil {
		panic(err)
	}
	ev := resp.GetEvents()[0]
	schema, err := client.GetSchema(ctx, &eventbus.SchemaRequest{SchemaId: ev.GetEvent().GetSchemaId()})
	if err != nil {
		panic(err)
	}
	codec, err := goavro.NewCodec(schema.GetSchemaJson())
	if err != nil {
		panic(err)
	}
	native, _, err := codec.NativeFromBinary(ev.GetEvent().GetPayload())
	if err != nil {
		panic(err)
	}
	fmt.Printf("replay %x = %x, %v, pending %d\n", ev.GetReplayId(), replayID, native, resp.GetPendingNumRequested())
	// Output:
	// /event/Order__e true true 00D000000000001AAA
	// replay 00000000000003e9 = 00000000000003e9, map[Amount__c:12.5], pending 0
}
