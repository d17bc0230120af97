package pubsubtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/sfsync/sfsync/internal/eventbus"
)

// maxEventSize is the largest accepted event payload (1 MB).
const maxEventSize = 1 << 20

// rpcPublish serves [service.Publish].
func (s *Server) rpcPublish(ctx context.Context, req *eventbus.PublishRequest) (*eventbus.PublishResponse, error) {
	resp, err := s.publish(ctx, req)
	if err != nil {
		return nil, err
	}
	if err := s.sleepDelay(ctx); err != nil {
		return nil, err
	}
	return resp, nil
}

// rpcPublishStream serves [service.PublishStream]: one PublishResponse per
// PublishRequest, in order.
func (s *Server) rpcPublishStream(st grpc.BidiStreamingServer[eventbus.PublishRequest, eventbus.PublishResponse]) error {
	ctx := st.Context()
	for {
		req, err := st.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		resp, err := s.publish(ctx, req)
		if err != nil {
			return err
		}
		if err := s.sleepDelay(ctx); err != nil {
			return err
		}
		if err := st.Send(resp); err != nil {
			return err
		}
	}
}

// publish validates and appends each event. An event whose schema id is not
// one of the topic's schemas, whose payload does not decode, or that is too
// large gets a per-event Error with code PUBLISH; the others still succeed.
func (s *Server) publish(ctx context.Context, req *eventbus.PublishRequest) (*eventbus.PublishResponse, error) {
	rpcID := newUUID()
	if req.GetTopicName() == "" {
		return nil, fail(ctx, codes.InvalidArgument, CodePublishTopicEmpty, rpcID, "The topic name can't be blank.")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.topics[req.GetTopicName()]
	if !ok {
		return nil, s.topicNotFound(ctx, rpcID, req.GetTopicName())
	}
	if changeEvents(t.name) {
		return nil, fail(ctx, codes.PermissionDenied, CodeTopicPermission, rpcID, fmt.Sprintf(
			"Publishing to the topic %s isn't allowed. Change events are published by Salesforce only.", t.name))
	}
	resp := &eventbus.PublishResponse{SchemaId: t.schemaID, RpcId: rpcID}
	for _, ev := range req.GetEvents() {
		res := &eventbus.PublishResult{CorrelationKey: ev.GetId()}
		if msg := s.checkEventLocked(t, ev); msg != "" {
			res.Error = &eventbus.Error{Code: eventbus.ErrorCode_PUBLISH, Msg: msg}
		} else {
			stored := proto.Clone(ev).(*eventbus.ProducerEvent)
			if stored.Id == "" {
				stored.Id = newUUID()
				res.CorrelationKey = stored.Id
			}
			t.published = append(t.published, proto.Clone(stored).(*eventbus.ProducerEvent))
			res.ReplayId = encodeReplay(s.appendLocked(t, stored))
		}
		resp.Results = append(resp.Results, res)
	}
	return resp, nil
}

func (s *Server) checkEventLocked(t *topic, ev *eventbus.ProducerEvent) string {
	if len(ev.GetId()) > 36 {
		return "The event ID can't exceed 36 characters."
	}
	if len(ev.GetPayload()) > maxEventSize {
		return "The event exceeds the maximum event size of 1 MB."
	}
	if ev.GetSchemaId() == "" {
		return "Schema validation failed. The schema ID can't be blank."
	}
	if !t.schemas[ev.GetSchemaId()] {
		return fmt.Sprintf("Schema validation failed. The schema ID %s isn't a schema of topic %s.", ev.GetSchemaId(), t.name)
	}
	native, rest, err := s.schemas[ev.GetSchemaId()].codec.NativeFromBinary(ev.GetPayload())
	if err != nil || len(rest) != 0 || native == nil {
		return "Failed to deserialize the event payload with the schema " + ev.GetSchemaId() + "."
	}
	return ""
}

// changeEvents reports whether topic carries change events (every channel
// under /data/): Salesforce publishes them, clients only subscribe, so
// GetTopic reports can_publish false and Publish refuses them.
func changeEvents(topic string) bool { return strings.HasPrefix(topic, "/data/") }

// multiEntity reports whether topic is a channel of several objects'
// change events (/data/ChangeEvents and custom channels /data/<Name>__chn),
// whose events carry one schema per object: GetTopic's schema_id is blank.
func multiEntity(topic string) bool {
	return topic == TopicChangeEvents || (changeEvents(topic) && strings.HasSuffix(topic, "__chn"))
}
