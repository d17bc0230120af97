package pubsubtest

import (
	"context"

	"google.golang.org/grpc"

	"github.com/sfsync/sfsync/internal/eventbus"
)

// service is the gRPC face of a [Server]. Its methods take the generated
// wire types, which live in an internal package; on Server itself they
// would be public methods no caller outside the module could use.
type service struct {
	eventbus.UnimplementedPubSubServer
	s *Server
}

func (v service) Publish(ctx context.Context, req *eventbus.PublishRequest) (*eventbus.PublishResponse, error) {
	return v.s.rpcPublish(ctx, req)
}

func (v service) PublishStream(st grpc.BidiStreamingServer[eventbus.PublishRequest, eventbus.PublishResponse]) error {
	return v.s.rpcPublishStream(st)
}

func (v service) GetTopic(ctx context.Context, req *eventbus.TopicRequest) (*eventbus.TopicInfo, error) {
	return v.s.rpcGetTopic(ctx, req)
}

func (v service) GetSchema(ctx context.Context, req *eventbus.SchemaRequest) (*eventbus.SchemaInfo, error) {
	return v.s.rpcGetSchema(ctx, req)
}

func (v service) Subscribe(ss grpc.BidiStreamingServer[eventbus.FetchRequest, eventbus.FetchResponse]) error {
	return v.s.rpcSubscribe(ss)
}

func (v service) ManagedSubscribe(ss grpc.BidiStreamingServer[eventbus.ManagedFetchRequest, eventbus.ManagedFetchResponse]) error {
	return v.s.rpcManagedSubscribe(ss)
}
