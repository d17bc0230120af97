package throttle

import (
	"context"
	"fmt"
	"log/slog"
	stdsync "sync"
	"time"

	"golang.org/x/time/rate"
)

// Priority orders work competing for the same budget.
type Priority int

const (
	// PriorityHigh is live write-back: it may use the budget down to the
	// reserve and, slowed, into it.
	PriorityHigh Priority = iota
	// PriorityLow is background work (reconciliation, backfill): it stops
	// at the reserve.
	PriorityLow
)

func (p Priority) String() string {
	if p == PriorityLow {
		return "low"
	}
	return "high"
}

// Headroom is a snapshot of a Limiter's view of the org's limits.
type Headroom struct {
	// Used and Max are the org's daily API requests, as last observed; Max
	// is 0 until a response reported it.
	Used, Max int
	// Reserve is the number of requests kept for the org's other consumers.
	Reserve int
	// Paused is true after a limit error until headroom is observed.
	Paused bool
	// Concurrency is the current cap on calls in flight; InUse how many are.
	Concurrency, InUse int
}

// Remaining is Max-Used, or -1 when Max is unknown.
func (h Headroom) Remaining() int {
	if h.Max == 0 {
		return -1
	}
	return h.Max - h.Used
}

// Limiter throttles the API calls to one org. It is safe for concurrent
// use. Create it with [New].
type Limiter struct {
	logger        *slog.Logger
	bucket        *rate.Limiter
	slow          *rate.Limiter // the pace of high-priority work inside the reserve
	reserveShare  float64
	maxConc       int
	probe         func(ctx context.Context) (used, max int, err error)
	probeInterval time.Duration
	probeTicks    <-chan time.Time

	mu       stdsync.Mutex
	used     int
	max      int
	paused   bool
	probing  bool
	conc     int
	inUse    int
	granted  int // releases since the cap last changed
	changed  chan struct{}
	stopOnce stdsync.Once
	stop     chan struct{}
}

// Option configures a [Limiter].
type Option func(*Limiter)

// WithRate sets the steady request rate and burst (default 25 per second,
// burst 25). rate.Inf disables the bucket.
func WithRate(r rate.Limit, burst int) Option {
	return func(l *Limiter) { l.bucket = rate.NewLimiter(r, max(burst, 1)) }
}

// WithSlowRate sets the rate of high-priority work once usage is inside
// the reserve (default a quarter of the steady rate).
func WithSlowRate(r rate.Limit) Option {
	return func(l *Limiter) { l.slow = rate.NewLimiter(r, 1) }
}

// WithDailyLimit sets the org's daily request limit before any response
// reported it.
func WithDailyLimit(n int) Option { return func(l *Limiter) { l.max = n } }

// WithReserve sets the share of the daily limit kept for the org's other
// consumers (default 0.1).
func WithReserve(share float64) Option {
	return func(l *Limiter) { l.reserveShare = min(max(share, 0), 1) }
}

// WithConcurrency caps the calls in flight (default 25, the limit Salesforce
// applies to long-running requests in production orgs).
func WithConcurrency(n int) Option { return func(l *Limiter) { l.maxConc = max(n, 1) } }

// WithLimitsProbe sets how a paused limiter learns that headroom returned:
// probe reads the org's usage (the /limits resource, which does not count
// against the limit), every interval (default one minute) while paused.
func WithLimitsProbe(probe func(ctx context.Context) (used, max int, err error), interval time.Duration) Option {
	return func(l *Limiter) {
		l.probe = probe
		if interval > 0 {
			l.probeInterval = interval
		}
	}
}

// WithProbeTicks drives the limits probe from ticks instead of a timer, for
// tests and for callers that schedule it themselves.
func WithProbeTicks(ticks <-chan time.Time) Option { return func(l *Limiter) { l.probeTicks = ticks } }

// WithLogger sets the logger (default slog.Default()).
func WithLogger(lg *slog.Logger) Option { return func(l *Limiter) { l.logger = lg } }

// New returns a Limiter for one org.
func New(opts ...Option) *Limiter {
	l := &Limiter{
		logger: slog.Default(), reserveShare: 0.1, maxConc: 25, probeInterval: time.Minute,
		changed: make(chan struct{}), stop: make(chan struct{}),
	}
	for _, o := range opts {
		o(l)
	}
	if l.bucket == nil {
		l.bucket = rate.NewLimiter(25, 25)
	}
	if l.slow == nil {
		slow := l.bucket.Limit() / 4
		if l.bucket.Limit() == rate.Inf {
			slow = rate.Inf
		}
		l.slow = rate.NewLimiter(slow, 1)
	}
	l.conc = l.maxConc
	return l
}

// Close stops the limits probe, if one runs. Waiting callers are not woken.
func (l *Limiter) Close() { l.stopOnce.Do(func() { close(l.stop) }) }

// notifyLocked wakes every waiter to look at the state again.
func (l *Limiter) notifyLocked() {
	close(l.changed)
	l.changed = make(chan struct{})
}

func (l *Limiter) reserveLocked() int { return int(float64(l.max) * l.reserveShare) }

// gateLocked says whether p may go now and whether it must take the slow
// pace; when it may not, the reason.
func (l *Limiter) gateLocked(p Priority) (ok, slow bool, why string) {
	if l.paused {
		return false, false, "paused after an API limit error"
	}
	if l.max == 0 {
		return true, false, ""
	}
	remaining := l.max - l.used
	if remaining <= 0 {
		return false, false, "daily API limit used up"
	}
	if remaining <= l.reserveLocked() {
		if p == PriorityLow {
			return false, false, "inside the reserve kept for the org's other consumers"
		}
		return true, true, ""
	}
	return true, false, ""
}

// Allowed reports whether work of priority p would pass the budget gate
// now (the token bucket and the concurrency cap aside).
func (l *Limiter) Allowed(p Priority) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	ok, _, _ := l.gateLocked(p)
	return ok
}

// Wait blocks until work of priority p may make one API call: the budget
// admits it and the token bucket has a token. It returns ctx's error,
// wrapped, when ctx ends first.
func (l *Limiter) Wait(ctx context.Context, p Priority) error {
	for {
		l.mu.Lock()
		ok, slow, why := l.gateLocked(p)
		changed := l.changed
		l.mu.Unlock()
		if ok {
			if err := l.bucket.Wait(ctx); err != nil {
				return fmt.Errorf("throttle: waiting for a request token: %w", err)
			}
			if slow {
				if err := l.slow.Wait(ctx); err != nil {
					return fmt.Errorf("throttle: waiting at the reserve pace: %w", err)
				}
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("throttle: %s priority work held (%s): %w", p, why, ctx.Err())
		case <-changed:
		}
	}
}

// Acquire waits like [Limiter.Wait] and then for a concurrency slot. Call
// release exactly once when the call has finished.
func (l *Limiter) Acquire(ctx context.Context, p Priority) (release func(), err error) {
	if err := l.Wait(ctx, p); err != nil {
		return nil, err
	}
	for {
		l.mu.Lock()
		if l.inUse < l.conc {
			l.inUse++
			l.mu.Unlock()
			var once stdsync.Once
			return func() { once.Do(l.release) }, nil
		}
		changed := l.changed
		l.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("throttle: waiting for one of %d concurrent request slots: %w", l.Headroom().Concurrency, ctx.Err())
		case <-changed:
		}
	}
}

func (l *Limiter) release() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.inUse--
	l.granted++
	// Additive increase: one more slot after a full cap's worth of calls
	// went through without a concurrency error.
	if l.conc < l.maxConc && l.granted >= l.conc {
		l.conc++
		l.granted = 0
	}
	l.notifyLocked()
}

// ObserveUsage records the org's usage as a response reported it
// (Sforce-Limit-Info: api-usage=used/max). Headroom after a pause resumes
// every waiting caller.
func (l *Limiter) ObserveUsage(used, max int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.used, l.max = used, max
	if l.paused && used < max {
		l.paused = false
		l.logger.Info("throttle: API headroom is back; resuming", "used", used, "max", max)
	}
	l.notifyLocked()
}

// LimitExceeded records a REQUEST_LIMIT_EXCEEDED response: every caller
// waits until usage shows headroom, from a response or the limits probe.
func (l *Limiter) LimitExceeded() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.paused {
		l.logger.Warn("throttle: org API limit exceeded; pausing every call until headroom returns", "used", l.used, "max", l.max)
	}
	l.paused = true
	if l.max > 0 && l.used < l.max {
		l.used = l.max
	}
	l.notifyLocked()
	if l.probe != nil && !l.probing {
		l.probing = true
		go l.probeUntilHeadroom()
	}
}

func (l *Limiter) probeUntilHeadroom() {
	ticks := l.probeTicks
	if ticks == nil {
		t := time.NewTicker(l.probeInterval)
		defer t.Stop()
		ticks = t.C
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-l.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	for {
		select {
		case <-l.stop:
			return
		case <-ticks:
		}
		used, max, err := l.probe(ctx)
		if err != nil {
			l.logger.Warn("throttle: reading API limits failed; still paused", "err", err)
			continue
		}
		l.ObserveUsage(used, max)
		l.mu.Lock()
		done := !l.paused
		if done {
			l.probing = false
		}
		l.mu.Unlock()
		if done {
			return
		}
	}
}

// ConcurrencyLimited records a concurrent-request limit error: the cap
// halves (multiplicative decrease), down to one.
func (l *Limiter) ConcurrencyLimited() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.conc = max(1, l.conc/2)
	l.granted = 0
	l.logger.Warn("throttle: concurrent request limit hit; lowering the cap", "concurrency", l.conc)
	l.notifyLocked()
}

// Headroom returns a snapshot of usage, limits and concurrency.
func (l *Limiter) Headroom() Headroom {
	l.mu.Lock()
	defer l.mu.Unlock()
	return Headroom{Used: l.used, Max: l.max, Reserve: l.reserveLocked(), Paused: l.paused, Concurrency: l.conc, InUse: l.inUse}
}

// Tenants holds one Limiter per org.
type Tenants struct {
	newLimiter func(tenant string) *Limiter
	mu         stdsync.Mutex
	byTenant   map[string]*Limiter
}

// NewTenants returns a set of limiters made on first use by newLimiter
// (nil uses New with defaults).
func NewTenants(newLimiter func(tenant string) *Limiter) *Tenants {
	if newLimiter == nil {
		newLimiter = func(string) *Limiter { return New() }
	}
	return &Tenants{newLimiter: newLimiter, byTenant: map[string]*Limiter{}}
}

// For returns the limiter of tenant (an org id), creating it on first use.
func (t *Tenants) For(tenant string) *Limiter {
	t.mu.Lock()
	defer t.mu.Unlock()
	l, ok := t.byTenant[tenant]
	if !ok {
		l = t.newLimiter(tenant)
		t.byTenant[tenant] = l
	}
	return l
}

// Headroom returns the headroom of every tenant seen so far.
func (t *Tenants) Headroom() map[string]Headroom {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make(map[string]Headroom, len(t.byTenant))
	for id, l := range t.byTenant {
		out[id] = l.Headroom()
	}
	return out
}
