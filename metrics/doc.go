// Package metrics exports sfsync's operational state through the
// OpenTelemetry metric API: stream lag, retry rate, dead-letter count,
// deduplication hit ratio, and API usage against the org's limits.
//
// [Register] creates observable instruments on a [metric.Meter] and one
// callback that reads the given components at collection time: nothing
// polls and no goroutine runs between collections, so a reader that never
// collects costs nothing.
//
//	reg, err := metrics.Register(provider.Meter("github.com/sfsync/sfsync"),
//		metrics.Engine("contacts", engine.Stats),
//		metrics.Streams("contacts", engine.Streams),
//		metrics.Tenants(limiters),
//		metrics.Subscription("/data/ContactChangeEvent", sub.Stats),
//	)
//	...
//	defer reg.Unregister()
//
// # Instruments
//
// Engine counters (cumulative since the engine was built, attribute
// "engine"): sfsync.changes.received, sfsync.changes.processed and one
// counter per outcome — sfsync.changes.applied, .duplicates, .echoes,
// .noops, .conflicts, .stale, .reconciled, .skipped, .dead_letters — plus
// sfsync.write.retries and sfsync.state.commits. Engine gauges:
// sfsync.changes.in_flight, sfsync.stream.lag (seconds) and
// sfsync.dedup.hit_ratio (duplicates per processed change, 0 to 1). A retry
// rate is the rate of sfsync.write.retries over the rate of
// sfsync.changes.processed.
//
// Stream gauges (attributes "engine" and "stream", from
// sync.Engine.Streams): sfsync.streams.lag (seconds behind the source),
// sfsync.streams.in_flight (deliveries without a committed outcome) and
// sfsync.streams.up (1 while streaming; 0 while starting, degraded —
// failing, or silent past its watchdog — fenced or stopped).
//
// API gauges (attribute "tenant"): sfsync.api.requests.used,
// sfsync.api.requests.limit and sfsync.api.requests.reserve (the org's
// daily requests, reported only once the limit is known),
// sfsync.api.concurrency.limit, sfsync.api.concurrency.in_use and
// sfsync.api.paused (1 while paused after a limit error, else 0).
//
// Pub/Sub counters (attribute "topic"): sfsync.pubsub.reconnects,
// sfsync.pubsub.events and sfsync.pubsub.keepalives.
//
// Progress of reconciliation and backfill: sfsync.reconcile.scanned,
// .emitted and .deleted (attribute "reconciler", from reconcile.Stats) and
// sfsync.backfill.pending (attribute "object": 1 while a backfill is owed,
// read from the engine's checkpoints at collection time).
//
// # Prometheus
//
// [NewPrometheus] is the same registration behind a ready /metrics
// endpoint (OpenTelemetry's Prometheus exporter on a registry of its own,
// with the Go runtime and process collectors), so a host exposes it in one
// line:
//
//	prom, err := metrics.NewPrometheus(metrics.Engine("contacts", engine.Stats))
//	...
//	defer prom.Shutdown(ctx)
//	mux.Handle("/metrics", prom)
//
// Prometheus names follow the OpenTelemetry translation: dots become
// underscores, counters end in _total and units are suffixed
// (sfsync_changes_processed_total, sfsync_stream_lag_seconds).
package metrics
