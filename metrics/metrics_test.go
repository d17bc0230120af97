package metrics_test

import (
	"context"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	stdsync "sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/sfsync/sfsync/metrics"
	"github.com/sfsync/sfsync/pubsub"
	sfsyncsync "github.com/sfsync/sfsync/sync"
	"github.com/sfsync/sfsync/throttle"
)

// point is one observed value of one series.
type point struct {
	kind  string // "sum" or "gauge"
	unit  string
	value float64
}

// collect returns every data point, keyed "instrument{key=value}".
func collect(t *testing.T, r *sdkmetric.ManualReader) map[string]point {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatalf("Collect: %v", err)
	}
	out := map[string]point{}
	add := func(m metricdata.Metrics, kind string, attrs attribute.Set, v float64) {
		var kv []string
		for _, a := range attrs.ToSlice() {
			kv = append(kv, string(a.Key)+"="+a.Value.String())
		}
		key := m.Name + "{" + strings.Join(kv, ",") + "}"
		if _, dup := out[key]; dup {
			t.Errorf("duplicate point %s", key)
		}
		if m.Description == "" {
			t.Errorf("%s has no description", m.Name)
		}
		out[key] = point{kind, m.Unit, v}
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				if !d.IsMonotonic || d.Temporality != metricdata.CumulativeTemporality {
					t.Errorf("%s: monotonic=%v temporality=%v, want a cumulative monotonic sum", m.Name, d.IsMonotonic, d.Temporality)
				}
				for _, p := range d.DataPoints {
					add(m, "sum", p.Attributes, float64(p.Value))
				}
			case metricdata.Gauge[int64]:
				for _, p := range d.DataPoints {
					add(m, "gauge", p.Attributes, float64(p.Value))
				}
			case metricdata.Gauge[float64]:
				for _, p := range d.DataPoints {
					add(m, "gauge", p.Attributes, p.Value)
				}
			default:
				t.Errorf("%s: unexpected data %T", m.Name, m.Data)
			}
		}
	}
	return out
}

func quietLimiter(opts ...throttle.Option) *throttle.Limiter {
	return throttle.New(append([]throttle.Option{throttle.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))}, opts...)...)
}

func TestRegister(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer provider.Shutdown(context.Background())

	stats := sfsyncsync.Stats{
		Received: 100, Processed: 80, Applied: 50, Duplicates: 20, Echoes: 3, Noops: 2,
		Conflicts: 1, Stale: 1, Reconciled: 1, Skipped: 1, DeadLetters: 1,
		Retries: 7, Commits: 9, InFlight: 20, Lag: 1500 * time.Millisecond,
	}
	var mu stdsync.Mutex
	statsCalls := 0
	engineStats := func() sfsyncsync.Stats {
		mu.Lock()
		defer mu.Unlock()
		statsCalls++
		return stats
	}

	org := quietLimiter()
	org.ObserveUsage(120, 1000)

	tenants := throttle.NewTenants(func(string) *throttle.Limiter {
		return quietLimiter(throttle.WithConcurrency(10), throttle.WithReserve(0.2))
	})
	tenants.For("00DA").ObserveUsage(500, 2000)
	b := tenants.For("00DB")
	b.ObserveUsage(3000, 5000)
	b.LimitExceeded()      // used becomes max; paused
	b.ConcurrencyLimited() // 10 -> 5
	release, err := tenants.For("00DA").Acquire(context.Background(), throttle.PriorityHigh)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	tenants.For("00DC") // limit not known yet: no request series

	const topic = "/data/ContactChangeEvent"
	subStats := func() pubsub.SubscriptionStats {
		return pubsub.SubscriptionStats{Connects: 3, Reconnects: 2, Events: 40, Keepalives: 6, FetchRequests: 5}
	}

	reg, err := metrics.Register(provider.Meter("test"),
		metrics.Engine("contacts", engineStats),
		metrics.Limiter("00DX", org),
		metrics.Tenants(tenants),
		metrics.Subscription(topic, subStats),
	)
	if err != nil {
		t.Fatalf("Register: %v", err)
	}
	if statsCalls != 0 {
		t.Fatalf("Register read stats %d times before any collection", statsCalls)
	}

	want := map[string]point{
		"sfsync.changes.received{engine=contacts}":     {"sum", "{change}", 100},
		"sfsync.changes.processed{engine=contacts}":    {"sum", "{change}", 80},
		"sfsync.changes.applied{engine=contacts}":      {"sum", "{change}", 50},
		"sfsync.changes.duplicates{engine=contacts}":   {"sum", "{change}", 20},
		"sfsync.changes.echoes{engine=contacts}":       {"sum", "{change}", 3},
		"sfsync.changes.noops{engine=contacts}":        {"sum", "{change}", 2},
		"sfsync.changes.conflicts{engine=contacts}":    {"sum", "{change}", 1},
		"sfsync.changes.stale{engine=contacts}":        {"sum", "{change}", 1},
		"sfsync.changes.reconciled{engine=contacts}":   {"sum", "{change}", 1},
		"sfsync.changes.skipped{engine=contacts}":      {"sum", "{change}", 1},
		"sfsync.changes.dead_letters{engine=contacts}": {"sum", "{change}", 1},
		"sfsync.write.retries{engine=contacts}":        {"sum", "{retry}", 7},
		"sfsync.state.commits{engine=contacts}":        {"sum", "{commit}", 9},
		"sfsync.changes.in_flight{engine=contacts}":    {"gauge", "{change}", 20},
		"sfsync.stream.lag{engine=contacts}":           {"gauge", "s", 1.5},
		"sfsync.dedup.hit_ratio{engine=contacts}":      {"gauge", "1", 0.25},

		"sfsync.api.requests.used{tenant=00DX}":      {"gauge", "{request}", 120},
		"sfsync.api.requests.limit{tenant=00DX}":     {"gauge", "{request}", 1000},
		"sfsync.api.requests.reserve{tenant=00DX}":   {"gauge", "{request}", 100},
		"sfsync.api.concurrency.limit{tenant=00DX}":  {"gauge", "{request}", 25},
		"sfsync.api.concurrency.in_use{tenant=00DX}": {"gauge", "{request}", 0},
		"sfsync.api.paused{tenant=00DX}":             {"gauge", "1", 0},

		"sfsync.api.requests.used{tenant=00DA}":      {"gauge", "{request}", 500},
		"sfsync.api.requests.limit{tenant=00DA}":     {"gauge", "{request}", 2000},
		"sfsync.api.requests.reserve{tenant=00DA}":   {"gauge", "{request}", 400},
		"sfsync.api.concurrency.limit{tenant=00DA}":  {"gauge", "{request}", 10},
		"sfsync.api.concurrency.in_use{tenant=00DA}": {"gauge", "{request}", 1},
		"sfsync.api.paused{tenant=00DA}":             {"gauge", "1", 0},

		"sfsync.api.requests.used{tenant=00DB}":      {"gauge", "{request}", 5000},
		"sfsync.api.requests.limit{tenant=00DB}":     {"gauge", "{request}", 5000},
		"sfsync.api.requests.reserve{tenant=00DB}":   {"gauge", "{request}", 1000},
		"sfsync.api.concurrency.limit{tenant=00DB}":  {"gauge", "{request}", 5},
		"sfsync.api.concurrency.in_use{tenant=00DB}": {"gauge", "{request}", 0},
		"sfsync.api.paused{tenant=00DB}":             {"gauge", "1", 1},

		"sfsync.api.concurrency.limit{tenant=00DC}":  {"gauge", "{request}", 10},
		"sfsync.api.concurrency.in_use{tenant=00DC}": {"gauge", "{request}", 0},
		"sfsync.api.paused{tenant=00DC}":             {"gauge", "1", 0},

		"sfsync.pubsub.reconnects{topic=" + topic + "}": {"sum", "{reconnect}", 2},
		"sfsync.pubsub.events{topic=" + topic + "}":     {"sum", "{event}", 40},
		"sfsync.pubsub.keepalives{topic=" + topic + "}": {"sum", "{keepalive}", 6},
	}
	check(t, collect(t, reader), want)

	// Values are read afresh at every collection.
	mu.Lock()
	stats.Processed, stats.Duplicates, stats.DeadLetters, stats.Lag = 100, 40, 4, 0
	mu.Unlock()
	org.LimitExceeded()
	want["sfsync.changes.processed{engine=contacts}"] = point{"sum", "{change}", 100}
	want["sfsync.changes.duplicates{engine=contacts}"] = point{"sum", "{change}", 40}
	want["sfsync.changes.dead_letters{engine=contacts}"] = point{"sum", "{change}", 4}
	want["sfsync.stream.lag{engine=contacts}"] = point{"gauge", "s", 0}
	want["sfsync.dedup.hit_ratio{engine=contacts}"] = point{"gauge", "1", 0.4}
	want["sfsync.api.requests.used{tenant=00DX}"] = point{"gauge", "{request}", 1000}
	want["sfsync.api.paused{tenant=00DX}"] = point{"gauge", "1", 1}
	check(t, collect(t, reader), want)
	if statsCalls != 2 {
		t.Errorf("stats read %d times in 2 collections, want 2", statsCalls)
	}

	// After Unregister nothing is reported.
	if err := reg.Unregister(); err != nil {
		t.Fatalf("Unregister: %v", err)
	}
	if got := collect(t, reader); len(got) != 0 {
		t.Errorf("after Unregister: %d points reported: %v", len(got), slices.Sorted(maps.Keys(got)))
	}
	if statsCalls != 2 {
		t.Errorf("stats read after Unregister (%d calls)", statsCalls)
	}
}

func check(t *testing.T, got, want map[string]point) {
	t.Helper()
	for _, k := range slices.Sorted(maps.Keys(want)) {
		g, ok := got[k]
		if !ok {
			t.Errorf("%s: missing", k)
			continue
		}
		if g != want[k] {
			t.Errorf("%s = %+v, want %+v", k, g, want[k])
		}
	}
	for _, k := range slices.Sorted(maps.Keys(got)) {
		if _, ok := want[k]; !ok {
			t.Errorf("%s = %+v: unexpected", k, got[k])
		}
	}
}

func TestTenantPrecedence(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer provider.Shutdown(context.Background())

	explicit := quietLimiter()
	explicit.ObserveUsage(1, 10)
	tenants := throttle.NewTenants(func(string) *throttle.Limiter { return quietLimiter() })
	tenants.For("00DA").ObserveUsage(7, 10)

	reg, err := metrics.Register(provider.Meter("test"), metrics.Tenants(tenants), metrics.Limiter("00DA", explicit))
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Unregister()
	got := collect(t, reader) // collect fails the test on duplicate series
	if p := got["sfsync.api.requests.used{tenant=00DA}"]; p.value != 1 {
		t.Errorf("used = %v, want 1 from the explicit limiter", p.value)
	}
}

func TestRegisterErrors(t *testing.T) {
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	defer provider.Shutdown(context.Background())
	meter := provider.Meter("test")
	stats := func() sfsyncsync.Stats { return sfsyncsync.Stats{} }
	subStats := func() pubsub.SubscriptionStats { return pubsub.SubscriptionStats{} }

	for name, opts := range map[string][]metrics.Option{
		"nil engine stats":       {metrics.Engine("e", nil)},
		"duplicate engine":       {metrics.Engine("e", stats), metrics.Engine("e", stats)},
		"nil limiter":            {metrics.Limiter("t", nil)},
		"duplicate limiter":      {metrics.Limiter("t", quietLimiter()), metrics.Limiter("t", quietLimiter())},
		"nil tenants":            {metrics.Tenants(nil)},
		"nil subscription stats": {metrics.Subscription("s", nil)},
		"duplicate subscription": {metrics.Subscription("s", subStats), metrics.Subscription("s", subStats)},
	} {
		if reg, err := metrics.Register(meter, opts...); err == nil {
			reg.Unregister()
			t.Errorf("%s: Register succeeded", name)
		}
	}
	if _, err := metrics.Register(nil); err == nil {
		t.Error("nil meter: Register succeeded")
	}
}
