package pubsubtest_test

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/sfsync/sfsync/internal/eventbus"
	"github.com/sfsync/sfsync/pubsub/pubsubtest"
)

func TestKeepaliveAndLatest(t *testing.T) {
	srv, c := setup(t, pubsubtest.WithKeepalive(10*time.Millisecond))
	tip := appendN(t, srv, topicB, 1)[0]
	sub := subscribe(t, c, &eventbus.FetchRequest{TopicName: topicA, NumRequested: 2})
	// Owed 2, nothing to deliver: an empty keepalive carrying the tip of the bus.
	resp, err := sub.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.GetEvents()) != 0 || !bytes.Equal(resp.GetLatestReplayId(), tip) || resp.GetPendingNumRequested() != 2 {
		t.Fatalf("keepalive %v", resp)
	}
	// The keepalive proves the LATEST stream is positioned: a new event arrives.
	id := appendN(t, srv, topicA, 1)[0]
	for {
		resp, err = sub.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.GetEvents()) > 0 {
			break
		}
	}
	if len(resp.GetEvents()) != 1 || !bytes.Equal(resp.GetEvents()[0].GetReplayId(), id) || resp.GetPendingNumRequested() != 1 {
		t.Fatalf("LATEST delivery %v", resp)
	}
	// The keepalive id is a valid CUSTOM position.
	evs, _ := recvEvents(t, subscribe(t, c, &eventbus.FetchRequest{TopicName: topicA, ReplayPreset: eventbus.ReplayPreset_CUSTOM, ReplayId: tip, NumRequested: 1}), 1)
	if !bytes.Equal(evs[0].GetReplayId(), id) {
		t.Fatalf("resume after keepalive id got %x", evs[0].GetReplayId())
	}
}

func TestIdleTimeout(t *testing.T) {
	srv, c := setup(t, pubsubtest.WithIdleTimeout(20*time.Millisecond))
	appendN(t, srv, topicA, 1)
	sub := subscribe(t, c, &eventbus.FetchRequest{TopicName: topicA, ReplayPreset: eventbus.ReplayPreset_EARLIEST, NumRequested: 1})
	recvEvents(t, sub, 1)
	if _, err := sub.Recv(); !errors.Is(err, io.EOF) {
		t.Fatalf("idle stream: %v, want EOF", err)
	}
}

func TestDisconnectAfter(t *testing.T) {
	srv, c := setup(t)
	ids := appendN(t, srv, topicA, 5)
	srv.InjectFault(pubsubtest.Fault{DisconnectAfter: 2})
	sub := subscribe(t, c, &eventbus.FetchRequest{TopicName: topicA, ReplayPreset: eventbus.ReplayPreset_EARLIEST, NumRequested: 10})
	var got int
	var err error
	for {
		var resp *eventbus.FetchResponse
		if resp, err = sub.Recv(); err != nil {
			break
		}
		got += len(resp.GetEvents())
	}
	wantStatus(t, err, codes.Unavailable, pubsubtest.CodeUnavailable, sub.Trailer(),
		`^The service is unavailable. Try again later. `+rpcIDRe)
	if got != 2 {
		t.Fatalf("got %d events before disconnect, want 2", got)
	}
	// The fault is spent: resuming after the last id delivers the rest.
	evs, _ := recvEvents(t, subscribe(t, c, &eventbus.FetchRequest{TopicName: topicA, ReplayPreset: eventbus.ReplayPreset_CUSTOM, ReplayId: ids[1], NumRequested: 3}), 3)
	if !bytes.Equal(evs[2].GetReplayId(), ids[4]) {
		t.Fatalf("resume got %x", evs[2].GetReplayId())
	}
}

func TestDuplicateNext(t *testing.T) {
	srv, c := setup(t)
	ids := appendN(t, srv, topicA, 3)
	srv.InjectFault(pubsubtest.Fault{DuplicateNext: 1})
	evs, last := recvEvents(t, subscribe(t, c, &eventbus.FetchRequest{TopicName: topicA, ReplayPreset: eventbus.ReplayPreset_EARLIEST, NumRequested: 4}), 4)
	want := [][]byte{ids[0], ids[0], ids[1], ids[2]}
	for i := range want {
		if !bytes.Equal(evs[i].GetReplayId(), want[i]) {
			t.Fatalf("event %d = %x, want %x", i, evs[i].GetReplayId(), want[i])
		}
	}
	if last.GetPendingNumRequested() != 0 || srv.Stats().EventsSent != 4 {
		t.Fatalf("pending %d, stats %+v", last.GetPendingNumRequested(), srv.Stats())
	}
}

func TestDelay(t *testing.T) {
	srv, c := setup(t)
	srv.InjectFault(pubsubtest.Fault{Delay: 30 * time.Millisecond})
	start := time.Now()
	if _, err := c.GetTopic(authCtx(t, "token"), &eventbus.TopicRequest{TopicName: topicA}); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 30*time.Millisecond {
		t.Fatalf("GetTopic took %v, want >= 30ms", d)
	}
}

func TestManagedSubscribe(t *testing.T) {
	srv, c := setup(t)
	ids := appendN(t, srv, topicA, 3)
	subID := srv.AddManagedSubscription("My_Sub", topicA)
	if len(subID) != 18 {
		t.Fatalf("subscription id %q", subID)
	}
	ms, err := c.ManagedSubscribe(authCtx(t, "token"))
	if err != nil {
		t.Fatal(err)
	}
	if err := ms.Send(&eventbus.ManagedFetchRequest{DeveloperName: "My_Sub", NumRequested: 2}); err != nil {
		t.Fatal(err)
	}
	var evs []*eventbus.ConsumerEvent
	for len(evs) < 2 {
		resp, err := ms.Recv()
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, resp.GetEvents()...)
	}
	if !bytes.Equal(evs[0].GetReplayId(), ids[0]) || !bytes.Equal(evs[1].GetReplayId(), ids[1]) {
		t.Fatalf("managed events %v", evs)
	}
	// A second concurrent stream on the same subscription is refused.
	dup, err := c.ManagedSubscribe(authCtx(t, "token"))
	if err != nil {
		t.Fatal(err)
	}
	if err := dup.Send(&eventbus.ManagedFetchRequest{SubscriptionId: subID, NumRequested: 1}); err != nil {
		t.Fatal(err)
	}
	_, err = dup.Recv()
	wantStatus(t, err, codes.AlreadyExists, pubsubtest.CodeManagedActive, dup.Trailer(),
		`^An active managed subscription with the same ID already exists. `)

	for _, cr := range []*eventbus.CommitReplayRequest{
		{CommitRequestId: "bad", ReplayId: []byte{9, 9}},
		{CommitRequestId: "c1", ReplayId: ids[1]},
	} {
		if err := ms.Send(&eventbus.ManagedFetchRequest{CommitReplayIdRequest: cr}); err != nil {
			t.Fatal(err)
		}
		resp, err := ms.Recv()
		if err != nil {
			t.Fatal(err)
		}
		got := resp.GetCommitResponse()
		if got.GetCommitRequestId() != cr.GetCommitRequestId() || (got.GetError() == nil) != (cr.GetCommitRequestId() == "c1") {
			t.Fatalf("commit %s: %v", cr.GetCommitRequestId(), resp)
		}
		if got.GetError() != nil && got.GetError().GetCode() != eventbus.ErrorCode_COMMIT {
			t.Fatalf("commit error %v", got.GetError())
		}
	}
	if !bytes.Equal(srv.Committed("My_Sub"), ids[1]) {
		t.Fatalf("committed %x", srv.Committed("My_Sub"))
	}
	if err := ms.CloseSend(); err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := ms.Recv(); err != nil {
			if !errors.Is(err, io.EOF) {
				t.Fatal(err)
			}
			break
		}
	}
	// A new stream resumes after the committed id.
	ms, err = c.ManagedSubscribe(authCtx(t, "token"))
	if err != nil {
		t.Fatal(err)
	}
	if err := ms.Send(&eventbus.ManagedFetchRequest{SubscriptionId: subID, NumRequested: 5}); err != nil {
		t.Fatal(err)
	}
	resp, err := ms.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.GetEvents()) != 1 || !bytes.Equal(resp.GetEvents()[0].GetReplayId(), ids[2]) || resp.GetPendingNumRequested() != 4 {
		t.Fatalf("resumed %v", resp)
	}
}

func TestExceedDeliveryLimit(t *testing.T) {
	srv, c := setup(t)
	ids := appendN(t, srv, topicA, 2)
	srv.InjectFault(pubsubtest.Fault{ExceedDeliveryLimit: 1})
	sub := subscribe(t, c, &eventbus.FetchRequest{TopicName: topicA, ReplayPreset: eventbus.ReplayPreset_EARLIEST, NumRequested: 2})
	_, err := sub.Recv()
	wantStatus(t, err, codes.ResourceExhausted, pubsubtest.CodeDeliveryLimit, sub.Trailer(),
		`^You have exceeded the event delivery limit for your org. `+rpcIDRe)
	// The fault is spent: the next call delivers.
	evs, _ := recvEvents(t, subscribe(t, c, &eventbus.FetchRequest{TopicName: topicA, ReplayPreset: eventbus.ReplayPreset_EARLIEST, NumRequested: 2}), 2)
	if !bytes.Equal(evs[1].GetReplayId(), ids[1]) {
		t.Fatalf("after the limit got %x", evs[1].GetReplayId())
	}
}
