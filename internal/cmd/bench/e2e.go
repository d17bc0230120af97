package main

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	stdsync "sync"
	"time"

	"github.com/linkedin/goavro/v2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/internal/eventbus"
	"github.com/sfsync/sfsync/pubsub"
	"github.com/sfsync/sfsync/pubsub/pubsubtest"
	sfsyncsync "github.com/sfsync/sfsync/sync"
)

var creds = pubsub.Credentials{AccessToken: pubsubtest.DefaultToken, InstanceURL: pubsubtest.DefaultInstanceURL, TenantID: pubsubtest.DefaultOrgID}

// mapping sends the updated fields to an external "company"; Description
// carries the publish time the latency sink reads.
var mapping = func() *sfsyncsync.Mapping {
	m := &sfsyncsync.Mapping{Object: "Account", External: "company"}
	for _, f := range updatedFields {
		m.Fields = append(m.Fields, sfsyncsync.Field{Salesforce: f, External: f})
	}
	return m
}

// pipelineOptions are added to the engine options of the end-to-end,
// durable, latency and PostgreSQL rows (from flags, to compare settings).
var pipelineOptions []sfsyncsync.Option

// nopSink accepts every write; with latency set it records publish →
// write latency from the Description field.
type nopSink struct {
	latency bool
	mu      stdsync.Mutex
	lat     []time.Duration
}

func (s *nopSink) Write(_ context.Context, cs []sfsync.Change) error {
	if !s.latency {
		return nil
	}
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range cs {
		if v, ok := c.Fields["Description"].(string); ok {
			if ns, err := strconv.ParseInt(v, 10, 64); err == nil {
				s.lat = append(s.lat, now.Sub(time.Unix(0, ns)))
			}
		}
	}
	return nil
}

// System names an external system: the pipeline is one-way.
func (*nopSink) System() sfsync.System { return sfsync.External("bench") }

// pipelineResult is one run of subscription → decoder → engine → sink.
type pipelineResult struct {
	n       int
	use     usage
	decile  []float64 // events/s in each tenth of the run
	rss     []float64 // MiB at the end of each tenth
	mem     []memParts
	peakRSS float64
	commits int64
}

func (r pipelineResult) rate() float64 { return float64(r.n) / r.use.wall.Seconds() }

// runPipeline fills topic with n updates in the server process, then
// measures the engine consuming them through a real subscription into
// store until every one has a durable outcome. With heapProfile set, an
// in-use heap profile is written there at nine tenths of the run, after a
// garbage collection (which the run's figures then include).
func runPipeline(ctx context.Context, log *slog.Logger, c *child, topic string, n int, store sfsyncsync.Store, heapProfile string) (pipelineResult, error) {
	if _, err := c.fill(topic, n); err != nil {
		return pipelineResult{}, err
	}
	client, err := pubsub.Dial(c.addr, pubsub.StaticToken(creds), pubsub.WithInsecure(), pubsub.WithLogger(log))
	if err != nil {
		return pipelineResult{}, fmt.Errorf("dial the fake server: %w", err)
	}
	defer client.Close()
	src := client.Subscribe(topic)
	defer src.Close()
	e, err := sfsyncsync.New(src, &nopSink{}, append([]sfsyncsync.Option{sfsyncsync.WithLogger(log), sfsyncsync.WithTenant(creds.TenantID),
		sfsyncsync.WithStore(store), sfsyncsync.WithMapping(mapping())}, pipelineOptions...)...)
	if err != nil {
		return pipelineResult{}, fmt.Errorf("new engine: %w", err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	res := pipelineResult{n: n}
	start := snap()
	go func() { done <- e.Run(runCtx) }()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	lastAt, next := start.at, 1
	for {
		select {
		case err := <-done:
			return res, fmt.Errorf("engine stopped after %d of %d events: %w", e.Stats().Processed, n, err)
		case <-ctx.Done():
			return res, ctx.Err()
		case <-tick.C:
		}
		p := e.Stats().Processed
		for next <= 10 && p >= int64(n*next/10) {
			now := time.Now()
			res.decile = append(res.decile, float64(n/10)/now.Sub(lastAt).Seconds())
			cur, _ := rssMiB()
			res.rss = append(res.rss, cur)
			res.mem = append(res.mem, memBreakdown())
			if next == 9 && heapProfile != "" {
				if err := writeProfile("heap", heapProfile); err != nil {
					return res, err
				}
			}
			lastAt = now
			next++
		}
		if p >= int64(n) {
			break
		}
	}
	res.use = since(start)
	_, res.peakRSS = rssMiB()
	res.commits = e.Stats().Commits
	cancel()
	if err := <-done; err != nil && runCtx.Err() == nil {
		return res, fmt.Errorf("engine: %w", err)
	}
	return res, nil
}

// runBaseline reads n events of topic with the generated gRPC client and
// decodes each with goavro in a plain loop: the floor of the end-to-end row.
func runBaseline(ctx context.Context, c *child, topic string, n int) (usage, error) {
	if _, err := c.fill(topic, n); err != nil {
		return usage{}, err
	}
	conn, err := grpc.NewClient(c.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return usage{}, fmt.Errorf("dial the fake server: %w", err)
	}
	defer conn.Close()
	api := eventbus.NewPubSubClient(conn)
	ctx = metadata.AppendToOutgoingContext(ctx, "accesstoken", creds.AccessToken, "instanceurl", creds.InstanceURL, "tenantid", creds.TenantID)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := snap()
	codecs := map[string]*goavro.Codec{}
	st, err := api.Subscribe(ctx)
	if err != nil {
		return usage{}, fmt.Errorf("subscribe: %w", err)
	}
	const window = 100
	if err := st.Send(&eventbus.FetchRequest{TopicName: topic, ReplayPreset: eventbus.ReplayPreset_EARLIEST, NumRequested: window}); err != nil {
		return usage{}, fmt.Errorf("fetch: %w", err)
	}
	got := 0
	for got < n {
		resp, err := st.Recv()
		if err != nil {
			return usage{}, fmt.Errorf("receive after %d events: %w", got, err)
		}
		for _, ev := range resp.Events {
			id := ev.Event.SchemaId
			codec, ok := codecs[id]
			if !ok {
				info, err := api.GetSchema(ctx, &eventbus.SchemaRequest{SchemaId: id})
				if err != nil {
					return usage{}, fmt.Errorf("schema %s: %w", id, err)
				}
				if codec, err = goavro.NewCodec(info.SchemaJson); err != nil {
					return usage{}, fmt.Errorf("schema %s: %w", id, err)
				}
				codecs[id] = codec
			}
			if _, _, err := codec.NativeFromBinary(ev.Event.Payload); err != nil {
				return usage{}, fmt.Errorf("decode: %w", err)
			}
			got++
		}
		// Ask for more as the window drains, as the subscription does.
		if ask := window - resp.PendingNumRequested; ask >= window/2 {
			if err := st.Send(&eventbus.FetchRequest{TopicName: topic, NumRequested: ask}); err != nil {
				return usage{}, fmt.Errorf("fetch: %w", err)
			}
		}
	}
	return since(start), nil
}

// latencyResult is one steady-rate run.
type latencyResult struct {
	events  int
	lat     []time.Duration // publish → sink write
	commits []time.Duration // CommitState durations (durable stores only)
}

// runLatency publishes at rate/s for d from the server process while the
// engine consumes live, and records publish → write latency and, through
// timed, how long each state commit took.
func runLatency(ctx context.Context, log *slog.Logger, c *child, topic string, rate int, d time.Duration, store sfsyncsync.Store, timed *commitTimer) (latencyResult, error) {
	if _, err := c.fill(topic, 0); err != nil {
		return latencyResult{}, err
	}
	client, err := pubsub.Dial(c.addr, pubsub.StaticToken(creds), pubsub.WithInsecure(), pubsub.WithLogger(log))
	if err != nil {
		return latencyResult{}, fmt.Errorf("dial the fake server: %w", err)
	}
	defer client.Close()
	src := client.Subscribe(topic)
	defer src.Close()
	sink := &nopSink{latency: true}
	e, err := sfsyncsync.New(src, sink, append([]sfsyncsync.Option{sfsyncsync.WithLogger(log), sfsyncsync.WithTenant(creds.TenantID),
		sfsyncsync.WithStore(store), sfsyncsync.WithMapping(mapping())}, pipelineOptions...)...)
	if err != nil {
		return latencyResult{}, fmt.Errorf("new engine: %w", err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- e.Run(runCtx) }()
	// Let the subscription open before the first event, so the first
	// latencies do not include connecting.
	time.Sleep(300 * time.Millisecond)
	out, err := c.do("steady %s %d %d", topic, rate, d.Milliseconds())
	if err != nil {
		return latencyResult{}, err
	}
	total, _ := strconv.Atoi(out)
	deadline := time.Now().Add(30 * time.Second)
	for e.Stats().Processed < int64(total) {
		if time.Now().After(deadline) {
			return latencyResult{}, fmt.Errorf("only %d of %d events processed 30 s after the last was published", e.Stats().Processed, total)
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil && runCtx.Err() == nil {
		return latencyResult{}, fmt.Errorf("engine: %w", err)
	}
	res := latencyResult{events: total}
	sink.mu.Lock()
	res.lat = sink.lat
	sink.mu.Unlock()
	if timed != nil {
		res.commits = timed.durations()
	}
	return res, nil
}

// commitTimer records how long each CommitState of a store took.
type commitTimer struct {
	mu stdsync.Mutex
	ds []time.Duration
}

func (t *commitTimer) add(d time.Duration) {
	t.mu.Lock()
	t.ds = append(t.ds, d)
	t.mu.Unlock()
}

func (t *commitTimer) durations() []time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]time.Duration(nil), t.ds...)
}
