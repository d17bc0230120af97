package pubsub_test

import (
	"bytes"
	"context"
	stdsync "sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/internal/eventbus"
	"github.com/sfsync/sfsync/pubsub"
	"github.com/sfsync/sfsync/pubsub/pubsubtest"
	"github.com/sfsync/sfsync/store/memory"
	"github.com/sfsync/sfsync/sync"
	"github.com/sfsync/sfsync/sync/synctest"
)

type recordingSource struct {
	*pubsub.Subscription
	mu      stdsync.Mutex
	commits [][]byte
}

func (r *recordingSource) Commit(ctx context.Context, pos sfsync.Position) error {
	r.mu.Lock()
	r.commits = append(r.commits, bytes.Clone(pos.Token))
	r.mu.Unlock()
	return r.Subscription.Commit(ctx, pos)
}

// slowSink paces the engine so that the subscription's queue is full when
// the server drops the stream.
type slowSink struct{ *synctest.System }

func (s slowSink) Write(ctx context.Context, cs []sfsync.Change) error {
	time.Sleep(3 * time.Millisecond)
	return s.System.Write(ctx, cs)
}

// A reconnect resumes after the last event the subscription received, not
// after the last commit: the events between are still in its queue, and
// asking for them again would hand the engine older events after newer
// ones, whose commits would move the checkpoint back.
func TestCheckpointNeverMovesBackwardsAcrossReconnects(t *testing.T) {
	e := newEnv(t, nil)
	ids := e.appendUpdates(t, 0, 60)
	e.srv.InjectFault(pubsubtest.Fault{DisconnectAfter: 30})
	erp := synctest.NewSystem(sfsync.External("erp"))
	src := &recordingSource{Subscription: e.client.Subscribe(topic, pubsub.WithWindow(20), fastRetry())}
	defer src.Close()
	store := memory.New()
	prog := synctest.NewProgress()
	engine, err := sync.New(prog.Watch(src), slowSink{erp}, sync.WithLogger(quiet()), sync.WithStore(store), sync.WithMaxInFlight(2), sync.WithWorkers(1))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- engine.Run(runCtx) }()
	if err := prog.Until(ctx, "the checkpoint at the last event", func() bool {
		cp, err := store.LoadCheckpoint(ctx, topic)
		return err == nil && bytes.Equal(cp.Token, ids[len(ids)-1])
	}); err != nil {
		t.Fatal(err)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if st := src.Stats(); st.Reconnects == 0 {
		t.Fatalf("the server's disconnect did not happen: %+v", st)
	}
	src.mu.Lock()
	defer src.mu.Unlock()
	back := 0
	for i := 1; i < len(src.commits); i++ {
		if bytes.Compare(src.commits[i], src.commits[i-1]) < 0 {
			if back < 3 {
				t.Logf("commit %x after %x", src.commits[i], src.commits[i-1])
			}
			back++
		}
	}
	if back > 0 {
		t.Errorf("the checkpoint moved backwards %d times", back)
	}
}

// staleKeepalives rewrites the latest_replay_id of the first n keepalives
// a subscription receives to an older replay id, as a server may report
// "the last event consumed" from before the position a stream resumed at.
func staleKeepalives(n int32, stale []byte) grpc.DialOption {
	left := new(atomic.Int32)
	left.Store(n)
	return grpc.WithChainStreamInterceptor(func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		cs, err := streamer(ctx, desc, cc, method, opts...)
		return &staleStream{ClientStream: cs, left: left, stale: stale}, err
	})
}

type staleStream struct {
	grpc.ClientStream
	left  *atomic.Int32 // shared by every stream of the client
	stale []byte
}

func (s *staleStream) RecvMsg(m any) error {
	err := s.ClientStream.RecvMsg(m)
	if r, ok := m.(*eventbus.FetchResponse); ok && err == nil && len(r.GetEvents()) == 0 && s.left.Add(-1) >= 0 {
		r.LatestReplayId = bytes.Clone(s.stale)
	}
	return err
}

// A subscription resumed from a stored replay id hands out no keepalive
// position older than (or equal to) that one: a checkpoint never moves
// back across a restart.
func TestResumeNeverAdvancesToAnOlderKeepalive(t *testing.T) {
	e := newEnv(t, nil, pubsubtest.WithKeepalive(2*time.Millisecond))
	ids := e.appendUpdates(t, 0, 10)
	// The bus moves on, on another topic: a keepalive may then report it.
	other, err := e.srv.AddTopic("/data/ContactChangeEvent", e.account.JSON)
	if err != nil {
		t.Fatal(err)
	}
	newest, err := e.srv.AppendEncoded("/data/ContactChangeEvent", other, []byte{0})
	if err != nil {
		t.Fatal(err)
	}
	client, err := pubsub.Dial(e.srv.Addr(), pubsub.StaticToken(creds), transport(e.srv), pubsub.WithLogger(quiet()),
		pubsub.WithDialOptions(staleKeepalives(3, ids[2])))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	store := memory.New()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := store.SaveCheckpoint(ctx, sfsync.Position{Stream: topic, Token: ids[9]}); err != nil {
		t.Fatal(err)
	}
	sub := client.Subscribe(topic, fastRetry())
	defer sub.Close()
	if err := sub.Resume(ctx, store); err != nil {
		t.Fatal(err)
	}
	changes, err := sub.Receive(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) != 1 || changes[0].Op != sfsync.OpAdvance || !bytes.Equal(changes[0].Position.Token, newest) {
		t.Fatalf("first delivery after resuming at %x = %+v, want an advance to %x", ids[9], changes, newest)
	}
}

// keepaliveSignals sends on seen (without blocking) for every keepalive a
// subscription of the client receives.
func keepaliveSignals(seen chan<- struct{}) grpc.DialOption {
	return grpc.WithChainStreamInterceptor(func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		cs, err := streamer(ctx, desc, cc, method, opts...)
		return &signallingStream{ClientStream: cs, seen: seen}, err
	})
}

type signallingStream struct {
	grpc.ClientStream
	seen chan<- struct{}
}

func (s *signallingStream) RecvMsg(m any) error {
	err := s.ClientStream.RecvMsg(m)
	if r, ok := m.(*eventbus.FetchResponse); ok && err == nil && len(r.GetEvents()) == 0 {
		select {
		case s.seen <- struct{}{}:
		default:
		}
	}
	return err
}

// A keepalive without latest_replay_id (the real service always sends one,
// but a client must not depend on it) is counted and passed over: it
// neither ends the stream nor hands the engine an empty position.
func TestKeepaliveWithoutReplayID(t *testing.T) {
	e := newEnv(t, nil, pubsubtest.WithKeepalive(2*time.Millisecond))
	e.srv.InjectFault(pubsubtest.Fault{OmitLatestReplayID: true})
	seen := make(chan struct{}, 1)
	client, err := pubsub.Dial(e.srv.Addr(), pubsub.StaticToken(creds), transport(e.srv), pubsub.WithLogger(quiet()),
		pubsub.WithDialOptions(keepaliveSignals(seen)))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	sub := client.Subscribe(topic, fastRetry())
	defer sub.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	type result struct {
		changes []sfsync.Change
		err     error
	}
	got := make(chan result, 1)
	go func() {
		cs, err := sub.Receive(ctx)
		got <- result{cs, err}
	}()
	for range 3 {
		select {
		case <-seen:
		case <-ctx.Done():
			t.Fatal("no keepalive arrived")
		}
	}
	// The third keepalive is read once the first is booked: a keepalive
	// that reaches no Receive still proves the stream alive to a watchdog.
	if sub.LastReceipt().IsZero() {
		t.Error("LastReceipt is zero after keepalives")
	}
	ids := e.appendUpdates(t, 0, 1)
	r := <-got
	if r.err != nil {
		t.Fatal(r.err)
	}
	if len(r.changes) == 0 || r.changes[0].Op == sfsync.OpAdvance || !bytes.Equal(r.changes[0].Position.Token, ids[0]) {
		t.Fatalf("first receive after bare keepalives = %+v, want the event at %x", r.changes, ids[0])
	}
	if st := sub.Stats(); st.Keepalives < 3 || st.Reconnects != 0 || len(st.LatestReplayID) == 0 {
		t.Fatalf("stats %+v", st)
	}
}
