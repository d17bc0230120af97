package sync_test

import (
	"context"
	"errors"
	"fmt"
	stdsync "sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/pubsub"
	"github.com/sfsync/sfsync/store/memory"
	sfsyncsync "github.com/sfsync/sfsync/sync"
	"github.com/sfsync/sfsync/sync/synctest"
)

// fakeClock is a clock a test moves by hand.
type fakeClock struct{ nanos atomic.Int64 }

func newFakeClock(t time.Time) *fakeClock {
	c := &fakeClock{}
	c.nanos.Store(t.UnixNano())
	return c
}

func (c *fakeClock) Now() time.Time            { return time.Unix(0, c.nanos.Load()).UTC() }
func (c *fakeClock) Advance(d time.Duration)   { c.nanos.Add(int64(d)) }
func (c *fakeClock) Set(t time.Time)           { c.nanos.Store(t.UnixNano()) }
func (c *fakeClock) option() sfsyncsync.Option { return sfsyncsync.WithClock(c.Now) }

// gatedSink holds every write until its gate opens.
type gatedSink struct {
	gate    chan struct{}
	entered chan struct{}
	once    stdsync.Once
	writes  atomic.Int64
}

func newGatedSink() *gatedSink {
	return &gatedSink{gate: make(chan struct{}), entered: make(chan struct{})}
}

func (s *gatedSink) Write(ctx context.Context, cs []sfsync.Change) error {
	s.once.Do(func() { close(s.entered) })
	select {
	case <-s.gate:
	case <-ctx.Done():
		return ctx.Err()
	}
	s.writes.Add(int64(len(cs)))
	return nil
}

// openSink writes at once.
type openSink struct{ writes atomic.Int64 }

func (s *openSink) Write(_ context.Context, cs []sfsync.Change) error {
	s.writes.Add(int64(len(cs)))
	return nil
}

func erpChange(id string, v time.Time, fields map[string]any) sfsync.Change {
	return sfsync.Change{Source: erp, Object: "Contact", RecordID: id, Op: sfsync.OpUpdate, Fields: fields, Version: sfsync.Version{Time: v}}
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// A stream's state follows it from starting, through changes in flight
// (lag counted from the oldest of them), to caught up with its checkpoint
// committed, to stopped.
func TestStreamsFollowAStream(t *testing.T) {
	clock := newFakeClock(t0.Add(10 * time.Second))
	log := synctest.NewLog("erp/contacts")
	sink := newGatedSink()
	e, err := sfsyncsync.New(log.Source(), sink, sfsyncsync.WithLogger(quiet()), sfsyncsync.WithStore(newState(t)), clock.option())
	if err != nil {
		t.Fatal(err)
	}
	st := e.Streams()
	if len(st) != 1 || st[0].Name != "erp/contacts" || st[0].Phase != sfsyncsync.StreamStarting {
		t.Fatalf("before Run: %+v", st)
	}
	r := start(t, e)
	ctx := ctxFor(t)

	log.Append(erpChange("C1", t0, map[string]any{"Phone": "1"}))
	<-sink.entered
	st = e.Streams()
	if st[0].Phase != sfsyncsync.StreamStreaming || st[0].CaughtUp || st[0].InFlight != 1 {
		t.Errorf("a delivery in flight: %+v", st[0])
	}
	if st[0].Lag != 10*time.Second || !st[0].LastEvent.Equal(t0) || !st[0].LastReceipt.Equal(clock.Now()) {
		t.Errorf("lag %v, last event %v, last receipt %v; want 10s behind an event at %v received at %v", st[0].Lag, st[0].LastEvent, st[0].LastReceipt, t0, clock.Now())
	}
	if !st[0].Checkpoint.IsZero() {
		t.Errorf("a checkpoint before any commit: %+v", st[0].Checkpoint)
	}

	clock.Advance(2 * time.Second)
	close(sink.gate)
	if err := e.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	st = e.Streams()
	if got, err := synctest.Index(st[0].Checkpoint); err != nil || st[0].Checkpoint.Stream != "erp/contacts" || got != 0 {
		t.Errorf("checkpoint %+v, want the first position of erp/contacts", st[0].Checkpoint)
	}
	if !st[0].CaughtUp || st[0].InFlight != 0 || st[0].Lag != 12*time.Second || !st[0].CheckpointAt.Equal(clock.Now()) {
		t.Errorf("caught up: %+v; want lag 12s (event to committed outcome)", st[0])
	}
	if st[0].Watchdog != 0 {
		t.Errorf("a source without keepalives is watched: %v", st[0].Watchdog)
	}
	if err := e.Health(); err != nil {
		t.Errorf("Health = %v", err)
	}
	r.stop(t)
	if st := e.Streams(); st[0].Phase != sfsyncsync.StreamStopped || st[0].Err != nil {
		t.Errorf("after Run: %+v", st[0])
	}
}

// A restarted engine shows the checkpoint it resumes from before it
// commits anything.
func TestStreamsShowTheResumedCheckpoint(t *testing.T) {
	store := newState(t)
	log := synctest.NewLog("erp/contacts")
	log.Append(erpChange("C1", t0, map[string]any{"Phone": "1"}))
	first, err := sfsyncsync.New(log.Source(), &openSink{}, sfsyncsync.WithLogger(quiet()), sfsyncsync.WithStore(store))
	if err != nil {
		t.Fatal(err)
	}
	r := start(t, first)
	if err := first.WaitUntil(ctxFor(t), func() bool { return first.Stats().Processed == 1 }); err != nil {
		t.Fatal(err)
	}
	if err := first.WaitIdle(ctxFor(t)); err != nil {
		t.Fatal(err)
	}
	r.stop(t)
	cp := first.Streams()[0].Checkpoint

	second, err := sfsyncsync.New(log.Source(), &openSink{}, sfsyncsync.WithLogger(quiet()), sfsyncsync.WithStore(store))
	if err != nil {
		t.Fatal(err)
	}
	start(t, second)
	if err := second.WaitIdle(ctxFor(t)); err != nil {
		t.Fatal(err)
	}
	st := second.Streams()[0]
	if st.Checkpoint.Stream != cp.Stream || string(st.Checkpoint.Token) != string(cp.Token) || !st.CheckpointAt.IsZero() {
		t.Errorf("resumed stream: checkpoint %+v at %v; want %+v loaded from the store", st.Checkpoint, st.CheckpointAt, cp)
	}
}

// Pub/Sub subscriptions are watched: their keepalives prove them alive.
var (
	_ sfsyncsync.ReceiptReporter = (*pubsub.Subscription)(nil)
	_ sfsyncsync.ReceiptReporter = (*pubsub.ManagedSubscription)(nil)
)

// keptAlive is a source that hears keepalives the engine never sees.
type keptAlive struct {
	*synctest.Source
	last atomic.Int64
}

func (k *keptAlive) LastReceipt() time.Time {
	if n := k.last.Load(); n != 0 {
		return time.Unix(0, n).UTC()
	}
	return time.Time{}
}

// A stream whose source hears nothing, not even a keepalive, for longer
// than the watchdog allows is degraded, and Health says so; a keepalive
// heals it. A source without keepalives is not watched.
func TestWatchdogFlagsASilentStream(t *testing.T) {
	clock := newFakeClock(t0)
	quietLog := synctest.NewLog("erp/quiet")
	src := &keptAlive{Source: synctest.NewLog("/data/ContactChangeEvent").Source()}
	e, err := sfsyncsync.New(src, &openSink{}, sfsyncsync.WithSource(quietLog.Source()),
		sfsyncsync.WithLogger(quiet()), sfsyncsync.WithStore(newState(t)), clock.option(), sfsyncsync.WithWatchdog(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	start(t, e)
	if err := e.WaitIdle(ctxFor(t)); err != nil {
		t.Fatal(err)
	}
	if err := e.Health(); err != nil {
		t.Fatalf("Health at start = %v", err)
	}
	if w := e.Streams()[0].Watchdog; w != time.Minute {
		t.Errorf("watchdog of a keepalive source = %v, want 1m", w)
	}

	clock.Advance(50 * time.Second)
	src.last.Store(clock.Now().UnixNano()) // a keepalive
	clock.Advance(50 * time.Second)
	if err := e.Health(); err != nil {
		t.Fatalf("50s after a keepalive: Health = %v", err)
	}

	clock.Advance(11 * time.Second)
	err = e.Health()
	var se *sfsyncsync.StreamError
	if !errors.Is(err, sfsyncsync.ErrStreamSilent) || !errors.As(err, &se) || se.Stream != "/data/ContactChangeEvent" {
		t.Fatalf("61s of silence: Health = %v, want the stream silent", err)
	}
	st := e.Streams()
	if st[0].Phase != sfsyncsync.StreamDegraded || st[0].CaughtUp || st[1].Phase != sfsyncsync.StreamStreaming {
		t.Errorf("streams: %+v", st)
	}
	t.Logf("Health: %v", err)

	src.last.Store(clock.Now().UnixNano())
	if err := e.Health(); err != nil {
		t.Errorf("after a keepalive: Health = %v", err)
	}
}

// flakySource fails every Receive.
type flakySource struct{}

var errUnreachable = errors.New("connection refused")

func (flakySource) Receive(context.Context) ([]sfsync.Change, error) { return nil, errUnreachable }
func (flakySource) Commit(context.Context, sfsync.Position) error    { return nil }

// A source whose receives fail is degraded with the error while the engine
// retries, and the other streams go on.
func TestStreamsShowFailingReceives(t *testing.T) {
	log := synctest.NewLog("erp/contacts")
	e, err := sfsyncsync.New(flakySource{}, &openSink{}, sfsyncsync.WithSource(log.Source()),
		sfsyncsync.WithLogger(quiet()), sfsyncsync.WithStore(newState(t)),
		sfsyncsync.WithBackOff(func() backoff.BackOff { return backoff.NewConstantBackOff(time.Hour) }))
	if err != nil {
		t.Fatal(err)
	}
	start(t, e)
	if err := e.WaitUntil(ctxFor(t), func() bool {
		return e.Health() != nil && e.Streams()[1].Phase == sfsyncsync.StreamStreaming
	}); err != nil {
		t.Fatal(err)
	}
	err = e.Health()
	var se *sfsyncsync.StreamError
	if !errors.Is(err, errUnreachable) || !errors.As(err, &se) || se.Stream != "source 0" {
		t.Errorf("Health = %v, want source 0 degraded by its receive error", err)
	}
	st := e.Streams()
	if st[0].Phase != sfsyncsync.StreamDegraded || st[1].Phase != sfsyncsync.StreamStreaming {
		t.Errorf("streams: %+v", st)
	}
}

// A fenced engine's streams say so.
func TestStreamsShowFencing(t *testing.T) {
	log := synctest.NewLog("erp/contacts")
	for i := range 3 {
		log.Append(erpChange("C", t0.Add(time.Duration(i)*time.Second), map[string]any{"Phone": fmt.Sprint(i)}))
	}
	st := &fencedAfter{Store: memory.New()}
	e, err := sfsyncsync.New(log.Source(), &openSink{}, sfsyncsync.WithLogger(quiet()), sfsyncsync.WithStore(st), sfsyncsync.WithCommitBatch(1))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Run(context.Background()); !errors.Is(err, sfsync.ErrFenced) {
		t.Fatalf("Run = %v, want fenced", err)
	}
	s := e.Streams()[0]
	if s.Phase != sfsyncsync.StreamFenced || !errors.Is(s.Err, sfsync.ErrFenced) {
		t.Errorf("stream of a fenced engine: %+v", s)
	}
	if err := e.WaitIdle(context.Background()); !errors.Is(err, sfsync.ErrFenced) {
		t.Errorf("WaitIdle on a fenced engine = %v, want its error", err)
	}
}

// WaitCommitted returns once what the engine took has committed outcomes,
// not before.
func TestWaitCommittedWaitsForOutcomes(t *testing.T) {
	log := synctest.NewLog("erp/contacts")
	sink := newGatedSink()
	e, err := sfsyncsync.New(log.Source(), sink, sfsyncsync.WithLogger(quiet()), sfsyncsync.WithStore(newState(t)))
	if err != nil {
		t.Fatal(err)
	}
	start(t, e)
	log.Append(erpChange("C1", t0, map[string]any{"Phone": "1"}))
	<-sink.entered
	done := make(chan error, 1)
	go func() { done <- e.WaitCommitted(ctxFor(t)) }()
	// The write is held, so its outcome cannot be committed yet.
	select {
	case err := <-done:
		t.Fatalf("WaitCommitted returned %v while the write was held", err)
	default:
	}
	close(sink.gate)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if s := e.Stats(); s.Processed != 1 || s.InFlight != 0 {
		t.Errorf("after WaitCommitted: %+v", s)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := e.WaitUntil(ctx, func() bool { return false }); !errors.Is(err, context.Canceled) {
		t.Errorf("WaitUntil with an ended context = %v", err)
	}
}
