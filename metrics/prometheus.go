package metrics

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
)

// Prometheus is a ready /metrics endpoint: the instruments of [Register]
// exported through OpenTelemetry's Prometheus exporter, plus the Go
// runtime and process collectors, served by promhttp. It is an
// [http.Handler]; mount it where the scraper looks.
//
// It owns its registry and meter provider, so several can live in one
// process (tests, several engines on different ports) without touching the
// Prometheus default registry.
type Prometheus struct {
	handler  http.Handler
	provider *sdkmetric.MeterProvider
	reg      metric.Registration
}

// NewPrometheus registers the components opts select (see [Register]) on a
// meter provider of its own and returns the endpoint that serves them.
// Call Shutdown when done.
func NewPrometheus(opts ...Option) (*Prometheus, error) {
	registry := prometheus.NewRegistry()
	// The runtime collectors cost nothing until scraped and answer the
	// first questions asked of a process that misbehaves (memory,
	// goroutines, open files).
	if err := errors.Join(
		registry.Register(collectors.NewGoCollector()),
		registry.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})),
	); err != nil {
		return nil, fmt.Errorf("metrics: registering runtime collectors: %w", err)
	}
	exporter, err := otelprom.New(otelprom.WithRegisterer(registry), otelprom.WithoutScopeInfo())
	if err != nil {
		return nil, fmt.Errorf("metrics: creating the Prometheus exporter: %w", err)
	}
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter))
	reg, err := Register(provider.Meter("github.com/sfsync/sfsync"), opts...)
	if err != nil {
		return nil, errors.Join(err, provider.Shutdown(context.Background()))
	}
	return &Prometheus{
		handler:  promhttp.HandlerFor(registry, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}),
		provider: provider,
		reg:      reg,
	}, nil
}

// ServeHTTP serves the current values in the Prometheus exposition format.
func (p *Prometheus) ServeHTTP(w http.ResponseWriter, r *http.Request) { p.handler.ServeHTTP(w, r) }

// Shutdown stops reading the components and releases the meter provider.
// A scrape after Shutdown reports the runtime collectors only.
func (p *Prometheus) Shutdown(ctx context.Context) error {
	return errors.Join(p.reg.Unregister(), p.provider.Shutdown(ctx))
}
