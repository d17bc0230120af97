package metrics

import (
	"context"
	"errors"
	"fmt"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/sfsync/sfsync/pubsub"
	sfsyncsync "github.com/sfsync/sfsync/sync"
	"github.com/sfsync/sfsync/throttle"
)

// Attribute keys of the series.
const (
	EngineKey = attribute.Key("engine")
	TenantKey = attribute.Key("tenant")
	TopicKey  = attribute.Key("topic")
)

type engineSource struct {
	name  string
	stats func() sfsyncsync.Stats
}

type limiterSource struct {
	tenant string
	l      *throttle.Limiter
}

type subscriptionSource struct {
	topic string
	stats func() pubsub.SubscriptionStats
}

type config struct {
	engines       []engineSource
	limiters      []limiterSource
	tenants       []*throttle.Tenants
	subscriptions []subscriptionSource
	errs          []error
}

// Option selects a component to report on. Create it with [Engine],
// [Limiter], [Tenants] or [Subscription].
type Option func(*config)

// Engine reports a sync engine's counters; pass engine.Stats. name becomes
// the "engine" attribute and must be unique among the engines registered
// together.
func Engine(name string, stats func() sfsyncsync.Stats) Option {
	return func(c *config) {
		addSource(c, &c.engines, "engine", name, stats == nil, engineSource{name, stats}, func(e engineSource) string { return e.name })
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

	apiUsed, apiLimit, apiReserve   metric.Int64ObservableGauge
	concLimit, concInUse, apiPaused metric.Int64ObservableGauge

	reconnects, events, keepalives metric.Int64ObservableCounter
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
	reg, err := meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		c.observe(o, ins)
		return nil
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
