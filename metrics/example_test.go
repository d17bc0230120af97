package metrics_test

import (
	"context"
	"fmt"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/sfsync/sfsync/metrics"
	sfsyncsync "github.com/sfsync/sfsync/sync"
)

func Example() {
	reader := sdkmetric.NewManualReader()
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer provider.Shutdown(context.Background())

	// In a program, pass engine.Stats.
	stats := func() sfsyncsync.Stats {
		return sfsyncsync.Stats{Processed: 200, Duplicates: 30, Lag: 2500 * time.Millisecond}
	}
	reg, err := metrics.Register(provider.Meter("github.com/sfsync/sfsync"), metrics.Engine("contacts", stats))
	if err != nil {
		panic(err)
	}
	defer reg.Unregister()

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		panic(err)
	}
	for _, m := range rm.ScopeMetrics[0].Metrics {
		switch m.Name {
		case "sfsync.stream.lag", "sfsync.dedup.hit_ratio":
			p := m.Data.(metricdata.Gauge[float64]).DataPoints[0]
			engine, _ := p.Attributes.Value(metrics.EngineKey)
			fmt.Printf("%s{engine=%s} = %g %s\n", m.Name, engine.AsString(), p.Value, m.Unit)
		}
	}
	// Output:
	// sfsync.stream.lag{engine=contacts} = 2.5 s
	// sfsync.dedup.hit_ratio{engine=contacts} = 0.15 1
}
