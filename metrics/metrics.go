package metrics

import (
	"context"
	"errors"
	"fmt"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/pubsub"
	"github.com/sfsync/sfsync/reconcile"
	sfsyncsync "github.com/sfsync/sfsync/sync"
	"github.com/sfsync/sfsync/throttle"
)

// Attribute keys of the series.
const (
	EngineKey = attribute.Key("engine")
	TenantKey = attribute.Key("tenant")
	TopicKey  = attribute.Key("topic")
	// ReconcilerKey names a reconciler given to [Reconciler].
	ReconcilerKey = attribute.Key("reconciler")
	// ObjectKey names an object given to [Backfill].
	ObjectKey = attribute.Key("object")
	// StreamKey names a source stream of an engine given to [Streams].
	StreamKey = attribute.Key("stream")
)

type engineSource struct {
	name  string
	stats func() sfsyncsync.Stats
}

type streamsSource struct {
	name    string
	streams func() []sfsyncsync.StreamState
}

type limiterSource struct {
	tenant string
	l      *throttle.Limiter
}

type subscriptionSource struct {
	topic string
	stats func() pubsub.SubscriptionStats
}

type reconcilerSource struct {
	name  string
	stats func() reconcile.Stats
}

type backfillSource struct {
	checkpoints sfsync.CheckpointStore
	objects     []string
}

type config struct {
	engines       []engineSource
	streams       []streamsSource
	limiters      []limiterSource
	tenants       []*throttle.Tenants
	subscriptions []subscriptionSource
	reconcilers   []reconcilerSource
	backfills     []backfillSource
	errs          []error
}

// Option selects a component to report on. Create it with [Engine],
// [Streams], [Limiter], [Tenants], [Subscription], [Reconciler] or [Backfill].
type Option func(*config)

// Engine reports a sync engine's counters; pass engine.Stats. name becomes
// the "engine" attribute and must be unique among the engines registered
// together.
func Engine(name string, stats func() sfsyncsync.Stats) Option {
	return func(c *config) {
		addSource(c, &c.engines, "engine", name, stats == nil, engineSource{name, stats}, func(e engineSource) string { return e.name })
	}
}

// Streams reports each source stream of an engine: its lag, its
// deliveries in flight and whether it is up (streaming, not degraded,
// fenced or stopped); pass engine.Streams. name becomes the "engine"
// attribute, the stream's name the "stream" attribute.
func Streams(name string, streams func() []sfsyncsync.StreamState) Option {
	return func(c *config) {
		addSource(c, &c.streams, "streams of engine", name, streams == nil, streamsSource{name, streams}, func(x streamsSource) string { return x.name })
	}
}

// Limiter reports the API headroom of one org's limiter, with tenant as
// the "tenant" attribute. A tenant given here takes precedence over the
// same tenant in a [Tenants] set.
func Limiter(tenant string, l *throttle.Limiter) Option {
	return func(c *config) {
		addSource(c, &c.limiters, "limiter", tenant, l == nil, limiterSource{tenant, l}, func(x limiterSource) string { return x.tenant })
	}
}

// Tenants reports the API headroom of every limiter in t, one series per
// tenant (the "tenant" attribute), including tenants first seen after
// registration.
func Tenants(t *throttle.Tenants) Option {
	return func(c *config) {
		if t == nil {
			c.errs = append(c.errs, errors.New("metrics: nil tenants"))
			return
		}
		c.tenants = append(c.tenants, t)
	}
}

// Subscription reports a Pub/Sub subscription's counters; pass sub.Stats.
// topic becomes the "topic" attribute and must be unique among the
// subscriptions registered together.
func Subscription(topic string, stats func() pubsub.SubscriptionStats) Option {
	return func(c *config) {
		addSource(c, &c.subscriptions, "subscription", topic, stats == nil, subscriptionSource{topic, stats}, func(x subscriptionSource) string { return x.topic })
	}
}

// Reconciler reports a reconciler's progress (records scanned, changes
// emitted, deletes emitted); pass reconciler.Stats. Backfills and drift
// checks run through the reconciler, so these counters are how far a
// backfill has got. name becomes the "reconciler" attribute.
func Reconciler(name string, stats func() reconcile.Stats) Option {
	return func(c *config) {
		addSource(c, &c.reconcilers, "reconciler", name, stats == nil, reconcilerSource{name, stats}, func(x reconcilerSource) string { return x.name })
	}
}

// Backfill reports, per object, whether a backfill is owed and not yet
// finished (sfsync.backfill.pending, 1 or 0), read at collection time from
// the checkpoints where the engine records it durably. objects are the
// objects given to sync.WithBackfill.
func Backfill(checkpoints sfsync.CheckpointStore, objects ...string) Option {
	return func(c *config) {
		if checkpoints == nil {
			c.errs = append(c.errs, errors.New("metrics: backfill: nil checkpoint store"))
			return
		}
		c.backfills = append(c.backfills, backfillSource{checkpoints, append([]string(nil), objects...)})
	}
}

// addSource appends src to list, or records why not: it is missing, or its
// name is taken by another of its kind.
func addSource[S any](c *config, list *[]S, kind, name string, missing bool, src S, nameOf func(S) string) {
	if missing {
		c.errs = append(c.errs, fmt.Errorf("metrics: %s %q: nothing to read (nil)", kind, name))
		return
	}
	for _, x := range *list {
		if nameOf(x) == name {
			c.errs = append(c.errs, fmt.Errorf("metrics: %s %q registered twice", kind, name))
			return
		}
	}
	*list = append(*list, src)
}

// engineCounter is one engine counter and the field it reads.
type engineCounter struct {
	name, unit, desc string
	get              func(sfsyncsync.Stats) int64
	inst             metric.Int64ObservableCounter
}

type instruments struct {
	engineCounters []engineCounter
	inFlight       metric.Int64ObservableGauge
	lag            metric.Float64ObservableGauge
	hitRatio       metric.Float64ObservableGauge

	streamLag                metric.Float64ObservableGauge
	streamInFlight, streamUp metric.Int64ObservableGauge

	apiUsed, apiLimit, apiReserve   metric.Int64ObservableGauge
	concLimit, concInUse, apiPaused metric.Int64ObservableGauge

	reconnects, events, keepalives metric.Int64ObservableCounter

	scanned, emitted, deleted metric.Int64ObservableCounter
	backfillPending           metric.Int64ObservableGauge
	backfillRead              metric.Int64ObservableGauge
	backfillTotal             metric.Int64ObservableGauge
}

// Register creates observable instruments on meter that read the given
// components at collection time (no goroutines, no polling), and returns
// the registration to Unregister. It fails on a nil meter, an invalid
// option, or an instrument the meter refuses.
func Register(meter metric.Meter, opts ...Option) (metric.Registration, error) {
	if meter == nil {
		return nil, errors.New("metrics: nil meter")
	}
	var c config
	for _, o := range opts {
		o(&c)
	}
	if err := errors.Join(c.errs...); err != nil {
		return nil, err
	}
	ins, all, err := newInstruments(meter)
	if err != nil {
		return nil, err
	}
	reg, err := meter.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		c.observe(o, ins)
		return c.observeBackfills(ctx, o, ins)
	}, all...)
	if err != nil {
		return nil, fmt.Errorf("metrics: registering callback: %w", err)
	}
	return reg, nil
}

func newInstruments(m metric.Meter) (*instruments, []metric.Observable, error) {
	ins := &instruments{engineCounters: []engineCounter{
		{"sfsync.changes.received", "{change}", "Changes taken from event sources.", func(s sfsyncsync.Stats) int64 { return s.Received }, nil},
		{"sfsync.changes.processed", "{change}", "Changes with a durable outcome.", func(s sfsyncsync.Stats) int64 { return s.Processed }, nil},
		{"sfsync.changes.applied", "{change}", "Changes written to the target.", func(s sfsyncsync.Stats) int64 { return s.Applied }, nil},
		{"sfsync.changes.duplicates", "{change}", "Changes recognised as duplicates by idempotency key.", func(s sfsyncsync.Stats) int64 { return s.Duplicates }, nil},
		{"sfsync.changes.echoes", "{change}", "Changes that were the engine's own writes coming back, not written again.", func(s sfsyncsync.Stats) int64 { return s.Echoes }, nil},
		{"sfsync.changes.noops", "{change}", "Changes that needed no write because the target already held the values.", func(s sfsyncsync.Stats) int64 { return s.Noops }, nil},
		{"sfsync.changes.conflicts", "{change}", "Changes that lost to the conflict policy.", func(s sfsyncsync.Stats) int64 { return s.Conflicts }, nil},
		{"sfsync.changes.stale", "{change}", "Changes that arrived after newer data and were not written.", func(s sfsyncsync.Stats) int64 { return s.Stale }, nil},
		{"sfsync.changes.reconciled", "{change}", "Gap and overflow events handed to the reconciler.", func(s sfsyncsync.Stats) int64 { return s.Reconciled }, nil},
		{"sfsync.changes.skipped", "{change}", "Changes not routed anywhere, or of a kind the engine ignores.", func(s sfsyncsync.Stats) int64 { return s.Skipped }, nil},
		{"sfsync.changes.dead_letters", "{change}", "Changes that could not be applied and were dead-lettered.", func(s sfsyncsync.Stats) int64 { return s.DeadLetters }, nil},
		{"sfsync.write.retries", "{retry}", "Write attempts repeated after a retryable failure.", func(s sfsyncsync.Stats) int64 { return s.Retries }, nil},
		{"sfsync.state.commits", "{commit}", "Durable state commits, each covering a batch of outcomes.", func(s sfsyncsync.Stats) int64 { return s.Commits }, nil},
	}}
	var all []metric.Observable
	var errs []error
	for i := range ins.engineCounters {
		ec := &ins.engineCounters[i]
		var err error
		ec.inst, err = m.Int64ObservableCounter(ec.name, metric.WithUnit(ec.unit), metric.WithDescription(ec.desc))
		errs = append(errs, err)
		all = append(all, ec.inst)
	}
	i64g := func(dst *metric.Int64ObservableGauge, name, unit, desc string) {
		var err error
		*dst, err = m.Int64ObservableGauge(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		all = append(all, *dst)
	}
	f64g := func(dst *metric.Float64ObservableGauge, name, unit, desc string) {
		var err error
		*dst, err = m.Float64ObservableGauge(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		all = append(all, *dst)
	}
	i64c := func(dst *metric.Int64ObservableCounter, name, unit, desc string) {
		var err error
		*dst, err = m.Int64ObservableCounter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		all = append(all, *dst)
	}
	i64g(&ins.inFlight, "sfsync.changes.in_flight", "{change}", "Received changes without a durable outcome yet.")
	f64g(&ins.lag, "sfsync.stream.lag", "s", "How far behind the event stream the engine is: now minus the commit time of the newest received change.")
	f64g(&ins.streamLag, "sfsync.streams.lag", "s", "How far behind its source a stream is: while changes are in flight, the age of the oldest; once caught up, how long the last change took to its committed outcome.")
	i64g(&ins.streamInFlight, "sfsync.streams.in_flight", "{delivery}", "Deliveries received from a stream without a committed outcome.")
	i64g(&ins.streamUp, "sfsync.streams.up", "", "1 while a stream is streaming (backfilling or not), 0 while it is starting, degraded (failing, or silent past its watchdog), fenced or stopped.")
	f64g(&ins.hitRatio, "sfsync.dedup.hit_ratio", "1", "Share of processed changes that were duplicates, from 0 to 1.")
	i64g(&ins.apiUsed, "sfsync.api.requests.used", "{request}", "API requests the org has used today, as last reported by Salesforce.")
	i64g(&ins.apiLimit, "sfsync.api.requests.limit", "{request}", "The org's daily API request limit.")
	i64g(&ins.apiReserve, "sfsync.api.requests.reserve", "{request}", "API requests of the daily limit kept for the org's other consumers.")
	i64g(&ins.concLimit, "sfsync.api.concurrency.limit", "{request}", "Current cap on API calls in flight.")
	i64g(&ins.concInUse, "sfsync.api.concurrency.in_use", "{request}", "API calls in flight.")
	i64g(&ins.apiPaused, "sfsync.api.paused", "1", "1 while API calls are paused after a request limit error, else 0.")
	i64c(&ins.reconnects, "sfsync.pubsub.reconnects", "{reconnect}", "Pub/Sub stream reconnections after the first connection.")
	i64c(&ins.events, "sfsync.pubsub.events", "{event}", "Events received from the Pub/Sub stream.")
	i64c(&ins.keepalives, "sfsync.pubsub.keepalives", "{keepalive}", "Keepalive messages received from the Pub/Sub stream.")
	i64c(&ins.scanned, "sfsync.reconcile.scanned", "{record}", "Authoritative records read by reconciliation and backfill.")
	i64c(&ins.emitted, "sfsync.reconcile.emitted", "{change}", "Changes reconciliation and backfill handed to the engine.")
	i64c(&ins.deleted, "sfsync.reconcile.deleted", "{change}", "Deletes among the changes reconciliation handed to the engine.")
	i64g(&ins.backfillPending, "sfsync.backfill.pending", "{backfill}", "1 while a backfill of the object is owed and not finished, else 0.")
	i64g(&ins.backfillRead, "sfsync.backfill.read", "{record}", "Records the object's current or last backfill has read and applied, as stored after each page.")
	i64g(&ins.backfillTotal, "sfsync.backfill.total", "{record}", "Records the object's current or last backfill covers, once known.")
	if err := errors.Join(errs...); err != nil {
		return nil, nil, fmt.Errorf("metrics: creating instruments: %w", err)
	}
	return ins, all, nil
}

// observe reads every component once and records its values.
func (c *config) observe(o metric.Observer, ins *instruments) {
	for _, e := range c.engines {
		s := e.stats()
		attrs := metric.WithAttributeSet(attribute.NewSet(EngineKey.String(e.name)))
		for _, ec := range ins.engineCounters {
			o.ObserveInt64(ec.inst, ec.get(s), attrs)
		}
		o.ObserveInt64(ins.inFlight, s.InFlight, attrs)
		o.ObserveFloat64(ins.lag, s.Lag.Seconds(), attrs)
		o.ObserveFloat64(ins.hitRatio, s.DedupHitRate(), attrs)
	}

	for _, e := range c.streams {
		for _, st := range e.streams() {
			attrs := metric.WithAttributeSet(attribute.NewSet(EngineKey.String(e.name), StreamKey.String(st.Name)))
			o.ObserveFloat64(ins.streamLag, st.Lag.Seconds(), attrs)
			o.ObserveInt64(ins.streamInFlight, int64(st.InFlight), attrs)
			var up int64
			if st.Phase == sfsyncsync.StreamStreaming || st.Phase == sfsyncsync.StreamBackfilling {
				up = 1
			}
			o.ObserveInt64(ins.streamUp, up, attrs)
		}
	}

	seen := make(map[string]bool, len(c.limiters))
	for _, l := range c.limiters {
		seen[l.tenant] = true
		observeHeadroom(o, ins, l.tenant, l.l.Headroom())
	}
	for _, t := range c.tenants {
		for tenant, h := range t.Headroom() {
			if seen[tenant] {
				continue
			}
			seen[tenant] = true
			observeHeadroom(o, ins, tenant, h)
		}
	}

	for _, s := range c.subscriptions {
		st := s.stats()
		attrs := metric.WithAttributeSet(attribute.NewSet(TopicKey.String(s.topic)))
		o.ObserveInt64(ins.reconnects, int64(st.Reconnects), attrs)
		o.ObserveInt64(ins.events, int64(st.Events), attrs)
		o.ObserveInt64(ins.keepalives, int64(st.Keepalives), attrs)
	}

	for _, r := range c.reconcilers {
		st := r.stats()
		attrs := metric.WithAttributeSet(attribute.NewSet(ReconcilerKey.String(r.name)))
		o.ObserveInt64(ins.scanned, st.Scanned, attrs)
		o.ObserveInt64(ins.emitted, st.Emitted, attrs)
		o.ObserveInt64(ins.deleted, st.Deleted, attrs)
	}
}

// BackfillPending reports whether a backfill of object is owed and not
// finished, from the state the engine keeps in its checkpoint store
// (sync.LoadBackfill), and why it runs.
func BackfillPending(ctx context.Context, checkpoints sfsync.CheckpointStore, object string) (pending bool, reason string, err error) {
	p, err := sfsyncsync.LoadBackfill(ctx, checkpoints, object)
	if errors.Is(err, sfsync.ErrNotFound) {
		return false, "", nil
	}
	if err != nil {
		return false, "", fmt.Errorf("metrics: %w", err)
	}
	return p.Phase != sfsyncsync.PhaseDone, p.Reason, nil
}

// observeBackfills reads the backfill records; unlike the other sources
// this is I/O, so it honours ctx and reports what it could not read.
func (c *config) observeBackfills(ctx context.Context, o metric.Observer, ins *instruments) error {
	var errs []error
	for _, b := range c.backfills {
		for _, object := range b.objects {
			p, err := sfsyncsync.LoadBackfill(ctx, b.checkpoints, object)
			if errors.Is(err, sfsync.ErrNotFound) {
				p = sfsyncsync.BackfillProgress{Phase: sfsyncsync.PhaseDone, Total: -1}
			} else if err != nil {
				errs = append(errs, fmt.Errorf("metrics: %w", err))
				continue
			}
			var v int64
			if p.Phase != sfsyncsync.PhaseDone {
				v = 1
			}
			attrs := metric.WithAttributeSet(attribute.NewSet(ObjectKey.String(object)))
			o.ObserveInt64(ins.backfillPending, v, attrs)
			o.ObserveInt64(ins.backfillRead, p.Read, attrs)
			if p.Total >= 0 {
				o.ObserveInt64(ins.backfillTotal, p.Total, attrs)
			}
		}
	}
	return errors.Join(errs...)
}

func observeHeadroom(o metric.Observer, ins *instruments, tenant string, h throttle.Headroom) {
	attrs := metric.WithAttributeSet(attribute.NewSet(TenantKey.String(tenant)))
	if h.Max > 0 {
		// Until a response reports the limit, usage and reserve mean nothing.
		o.ObserveInt64(ins.apiUsed, int64(h.Used), attrs)
		o.ObserveInt64(ins.apiLimit, int64(h.Max), attrs)
		o.ObserveInt64(ins.apiReserve, int64(h.Reserve), attrs)
	}
	o.ObserveInt64(ins.concLimit, int64(h.Concurrency), attrs)
	o.ObserveInt64(ins.concInUse, int64(h.InUse), attrs)
	var paused int64
	if h.Paused {
		paused = 1
	}
	o.ObserveInt64(ins.apiPaused, paused, attrs)
}
