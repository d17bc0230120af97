package pubsub_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/internal/cdcschema"
	"github.com/sfsync/sfsync/pubsub"
	"github.com/sfsync/sfsync/pubsub/pubsubtest"
	"github.com/sfsync/sfsync/store/memory"
	"github.com/sfsync/sfsync/sync"
	"github.com/sfsync/sfsync/sync/synctest"
)

// appendLarge appends n Account updates whose Industry is size bytes
// long, record i at 001<i>.
func (e *env) appendLarge(t *testing.T, from, n, size int) [][]byte {
	t.Helper()
	var ids [][]byte
	for i := from; i < from+n; i++ {
		_, commit := e.txs.Next()
		payload, err := e.account.Encode(cdcschema.Header{
			RecordIDs: []string{fmt.Sprintf("001%015d", i)}, ChangeType: "UPDATE", TransactionKey: fmt.Sprintf("tx-%d", i),
			SequenceNumber: 1, CommitTimestamp: 1714156703000, CommitNumber: commit, ChangedFields: []string{"Industry"},
		}, map[string]any{"Industry": strings.Repeat("x", size)})
		if err != nil {
			t.Fatal(err)
		}
		id, err := e.srv.AppendEncoded(topic, e.schemaID, payload)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

// receiveAll receives until len(want) changes arrived and checks they are
// the events at want, in order, each once.
func receiveAll(ctx context.Context, t *testing.T, sub sfsync.EventSource, want [][]byte) {
	t.Helper()
	var got [][]byte
	for len(got) < len(want) {
		changes, err := sub.Receive(ctx)
		if err != nil {
			t.Fatalf("after %d events: %v", len(got), err)
		}
		for _, c := range changes {
			got = append(got, c.Position.Token)
		}
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("event %d at replay id %x, want %x: events were lost, repeated or reordered", i, got[i], want[i])
		}
	}
}

// ends signals each time the subscription logs a stream's end whose error
// matches target: the moment it has decided what to do about it.
type ends struct {
	target error
	seen   chan error
}

func (h *ends) Handle(_ context.Context, r slog.Record) error {
	r.Attrs(func(a slog.Attr) bool {
		if err, ok := a.Value.Any().(error); ok && a.Key == "err" && errors.Is(err, h.target) {
			select {
			case h.seen <- err:
			default:
			}
		}
		return true
	})
	return nil
}

func (h *ends) Enabled(context.Context, slog.Level) bool { return true }
func (h *ends) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *ends) WithGroup(string) slog.Handler            { return h }

// Dial applies the documented receive limit, not gRPC's default of 4 MiB:
// one response of five events of 900 KiB (4.5 MiB) arrives whole.
func TestDialReceivesAFullWindowAboveGRPCsDefaultLimit(t *testing.T) {
	e := newEnv(t, nil)
	ids := e.appendLarge(t, 0, 5, 900<<10)
	sub := e.client.Subscribe(topic, pubsub.WithWindow(5), fastRetry())
	defer sub.Close()
	receiveAll(testCtx(t), t, sub, ids)
	if st := sub.Stats(); st.Reconnects != 0 || st.Batch != 5 {
		t.Errorf("stats %+v: a 4.5 MiB response did not fit the receive limit", st)
	}
}

// A response above the receive limit ends the stream with
// RESOURCE_EXHAUSTED; the subscription reopens it after the last event
// received, asking for half as many events each time until a response
// fits, and goes back to its full window once a window of events has come
// through. Every event arrives once, in order.
func TestResponseAboveTheReceiveLimitCutsTheBatch(t *testing.T) {
	e := newEnv(t, nil)
	client, err := pubsub.Dial(e.srv.Addr(), pubsub.StaticToken(creds), transport(e.srv), pubsub.WithLogger(quiet()),
		pubsub.WithMaxReceiveSize(64<<10))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	// 12 events of 16 KiB: 12 or 6 in one response exceed 64 KiB, 3 fit.
	ids := e.appendLarge(t, 0, 12, 16<<10)
	sub := client.Subscribe(topic, pubsub.WithWindow(12), fastRetry())
	defer sub.Close()
	receiveAll(testCtx(t), t, sub, ids)
	st := sub.Stats()
	if st.Reconnects != 2 || st.Events != 12 {
		t.Errorf("stats %+v, want two reopened streams (12 and 6 events did not fit, 3 did) and 12 events received", st)
	}
	if st.Batch != 12 {
		t.Errorf("batch %d after a full window at the cut batch, want the window (12) again", st.Batch)
	}
	if err := sub.Err(); err != nil {
		t.Errorf("Err() = %v after the events came through", err)
	}
}

// An event too large for the receive limit on its own cannot be read: the
// subscription backs off instead of reconnecting in a loop, delivers
// nothing past it, and Err says why and what to do. A client with a larger
// limit, resuming from the checkpoint, delivers it and the rest.
func TestSingleEventAboveTheReceiveLimit(t *testing.T) {
	e := newEnv(t, nil)
	small := e.appendUpdates(t, 0, 1)
	large := e.appendLarge(t, 1, 1, 16<<10)
	after := e.appendUpdates(t, 2, 1)
	log := &ends{target: pubsub.ErrMessageTooLarge, seen: make(chan error, 1)}
	client, err := pubsub.Dial(e.srv.Addr(), pubsub.StaticToken(creds), transport(e.srv), pubsub.WithLogger(slog.New(log)),
		pubsub.WithMaxReceiveSize(8<<10))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	var waits atomic.Int32
	sub := client.Subscribe(topic, pubsub.WithWindow(3),
		pubsub.WithBackOff(func() backoff.BackOff { return countingBackOff{&waits, time.Hour} }))
	defer sub.Close()
	ctx := testCtx(t)
	receiveAll(ctx, t, sub, small)
	select {
	case <-log.seen:
	case <-ctx.Done():
		t.Fatal("the oversized event was never reported")
	}
	if err := sub.Err(); !errors.Is(err, pubsub.ErrMessageTooLarge) || !strings.Contains(err.Error(), "8192 bytes") {
		t.Errorf("Err() = %v, want ErrMessageTooLarge naming the limit", err)
	}
	if st := sub.Stats(); st.Events != 1 || st.Batch != 1 || waits.Load() != 1 {
		t.Errorf("stats %+v after %d backoff waits: want one event received, a batch of one and one wait", st, waits.Load())
	}
	sub.Close()

	checkpoints := memory.New()
	if err := checkpoints.SaveCheckpoint(ctx, sfsync.Position{Stream: topic, Token: small[0]}); err != nil {
		t.Fatal(err)
	}
	next := e.client.Subscribe(topic, fastRetry())
	defer next.Close()
	if err := next.Resume(ctx, checkpoints); err != nil {
		t.Fatal(err)
	}
	receiveAll(ctx, t, next, append(large, after...))
}

// countingBackOff waits d between attempts and counts the waits.
type countingBackOff struct {
	n *atomic.Int32
	d time.Duration
}

func (b countingBackOff) NextBackOff() time.Duration { b.n.Add(1); return b.d }
func (b countingBackOff) Reset()                     {}

// The server refusing a subscription for its limits (the org's event
// delivery allocation) is reported by Err and waited out with the
// backoff, never by reconnecting at once; the events then arrive, and Err
// clears.
func TestServerLimitBacksOffAndIsReported(t *testing.T) {
	e := newEnv(t, nil)
	ids := e.appendUpdates(t, 0, 3)
	e.srv.InjectFault(pubsubtest.Fault{ExceedDeliveryLimit: 2})
	b := &gatedBackOff{waiting: make(chan struct{}), release: make(chan struct{})}
	sub := e.client.Subscribe(topic, pubsub.WithBackOff(func() backoff.BackOff { return b }))
	defer sub.Close()
	ctx := testCtx(t)
	got := make(chan error, 1)
	go func() {
		changes, err := sub.Receive(ctx)
		if err == nil && (len(changes) != 1 || !bytes.Equal(changes[0].Position.Token, ids[0])) {
			err = fmt.Errorf("the first delivery is %+v, want the event at %x", changes, ids[0])
		}
		got <- err
	}()
	select {
	case <-b.waiting:
	case <-ctx.Done():
		t.Fatal("the subscription never backed off")
	}
	err := sub.Err()
	if !errors.Is(err, pubsub.ErrServerLimit) || !strings.Contains(err.Error(), "event delivery limit") ||
		!strings.Contains(err.Error(), pubsubtest.CodeDeliveryLimit) {
		t.Errorf("Err() = %v, want ErrServerLimit with the server's message and error code", err)
	}
	close(b.release)
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	receiveAll(ctx, t, sub, ids[1:])
	if n := b.n.Load(); n != 2 {
		t.Errorf("%d backoff waits, want one per refused subscription (2)", n)
	}
	if err := sub.Err(); err != nil {
		t.Errorf("Err() = %v after events arrived", err)
	}
}

// gatedBackOff counts waits; the first tells waiting and lasts until
// release is closed, so that the test sees the state between the refusal
// and the retry.
type gatedBackOff struct {
	n                atomic.Int32
	waiting, release chan struct{}
}

func (b *gatedBackOff) NextBackOff() time.Duration {
	if b.n.Add(1) == 1 {
		close(b.waiting)
		<-b.release
	}
	return 0
}
func (b *gatedBackOff) Reset() {}

// A managed subscription refused for the server's limits retries with
// backoff and delivers once the limit passes: no permanent error reaches
// the engine.
func TestManagedSubscriptionWaitsOutTheServerLimit(t *testing.T) {
	e, _ := orderEnv(t)
	e.srv.AddManagedSubscription(managedName, orderTopic)
	publishOrders(t, e, 0, 2)
	e.srv.InjectFault(pubsubtest.Fault{ExceedDeliveryLimit: 2})
	var waits atomic.Int32
	sub := e.client.ManagedSubscribe(managedName, pubsub.WithBackOff(func() backoff.BackOff { return countingBackOff{&waits, 0} }))
	defer sub.Close()
	ctx := testCtx(t)
	for i := range 2 {
		if c := receiveOrder(ctx, t, sub); c.RecordID != fmt.Sprintf("ord-%d", i) {
			t.Fatalf("delivery %d = %+v", i, c)
		}
	}
	if n := waits.Load(); n != 2 {
		t.Errorf("%d backoff waits, want 2", n)
	}
}

// The engine's Health reports a subscription the server refuses for its
// limits, and stops reporting it once events flow again.
func TestEngineHealthReportsTheServerLimit(t *testing.T) {
	e := newEnv(t, nil)
	ids := e.appendUpdates(t, 0, 2)
	e.srv.InjectFault(pubsubtest.Fault{ExceedDeliveryLimit: 1})
	b := &gatedBackOff{waiting: make(chan struct{}), release: make(chan struct{})}
	sub := committing{e.client.Subscribe(topic, pubsub.WithBackOff(func() backoff.BackOff { return b })), make(chan struct{}, 1)}
	defer sub.Close()
	store := memory.New()
	engine, err := sync.New(sub, synctest.NewSystem(sfsync.External("erp")), sync.WithLogger(quiet()), sync.WithTenant(creds.TenantID), sync.WithStore(store),
		sync.WithMapping(&sync.Mapping{Object: "Account", External: "company", Fields: []sync.Field{{Salesforce: "Industry", External: "industry"}}}))
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- engine.Run(runCtx) }()
	select {
	case <-b.waiting:
	case <-ctx.Done():
		t.Fatal("the subscription never backed off")
	}
	if err := engine.Health(); !errors.Is(err, pubsub.ErrServerLimit) {
		t.Errorf("Health() = %v, want the server's limit", err)
	}
	close(b.release)
	for {
		cp, err := store.LoadCheckpoint(ctx, topic)
		if err == nil && bytes.Equal(cp.Token, ids[1]) {
			break
		}
		select {
		case <-sub.commits:
		case <-ctx.Done():
			t.Fatal("the events were not applied after the limit passed")
		}
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := engine.Health(); err != nil {
		t.Errorf("Health() = %v after events flowed", err)
	}
}

// committing is a subscription (its Err, Resume and Stream included) that
// signals each commit.
type committing struct {
	*pubsub.Subscription
	commits chan struct{}
}

func (c committing) Commit(ctx context.Context, pos sfsync.Position) error {
	err := c.Subscription.Commit(ctx, pos)
	select {
	case c.commits <- struct{}{}:
	default:
	}
	return err
}
