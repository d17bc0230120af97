package throttle_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	stdsync "sync"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/sfsync/sfsync/throttle"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// org counts API calls like Salesforce does and reports usage on every
// response.
type org struct {
	mu        stdsync.Mutex
	used, max int
	limitHits int
}

func (o *org) call(l *throttle.Limiter) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.used >= o.max {
		o.limitHits++
		l.LimitExceeded()
		return
	}
	o.used++
	l.ObserveUsage(o.used, o.max)
}

func TestSteadyStateKeepsTheReserve(t *testing.T) {
	o := &org{max: 1000}
	l := throttle.New(throttle.WithRate(rate.Inf, 1), throttle.WithReserve(0.1), throttle.WithDailyLimit(1000), throttle.WithLogger(quiet()))
	ctx := context.Background()
	low := 0
	for l.Allowed(throttle.PriorityLow) {
		if err := l.Wait(ctx, throttle.PriorityLow); err != nil {
			t.Fatal(err)
		}
		o.call(l)
		low++
	}
	if low != 900 {
		t.Errorf("low-priority work made %d calls, want 900 (the reserve is 100)", low)
	}
	high := 0
	for l.Allowed(throttle.PriorityHigh) {
		if err := l.Wait(ctx, throttle.PriorityHigh); err != nil {
			t.Fatal(err)
		}
		o.call(l)
		high++
	}
	if high != 100 || o.limitHits != 0 {
		t.Errorf("write-back made %d calls into the reserve with %d limit errors; want 100 and none", high, o.limitHits)
	}
	h := l.Headroom()
	if h.Used != 1000 || h.Remaining() != 0 || h.Reserve != 100 {
		t.Errorf("headroom = %+v", h)
	}
}

func TestLimitExceededPausesUntilHeadroomReturns(t *testing.T) {
	l := throttle.New(throttle.WithRate(rate.Inf, 1), throttle.WithLogger(quiet()))
	l.ObserveUsage(500, 1000)
	l.LimitExceeded()
	if l.Allowed(throttle.PriorityHigh) || !l.Headroom().Paused {
		t.Fatal("not paused after a limit error")
	}
	results := make(chan error, 2)
	for _, p := range []throttle.Priority{throttle.PriorityHigh, throttle.PriorityLow} {
		go func() { results <- l.Wait(context.Background(), p) }()
	}
	select {
	case err := <-results:
		t.Fatalf("a caller passed a paused limiter: %v", err)
	default:
	}
	l.ObserveUsage(10, 1000) // a new day
	for range 2 {
		select {
		case err := <-results:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("callers still held after headroom returned")
		}
	}
}

func TestProbeEndsThePause(t *testing.T) {
	ticks := make(chan time.Time)
	answers := make(chan int) // the usage each probe reports, handed over one at a time
	probe := func(ctx context.Context) (int, int, error) {
		select {
		case used := <-answers:
			return used, 1000, nil
		case <-ctx.Done():
			return 0, 0, ctx.Err()
		}
	}
	l := throttle.New(throttle.WithRate(rate.Inf, 1), throttle.WithLogger(quiet()), throttle.WithLimitsProbe(probe, time.Hour), throttle.WithProbeTicks(ticks))
	defer l.Close()
	l.LimitExceeded()
	ticks <- time.Time{}
	answers <- 1000 // still at the limit
	// The prober takes the next tick only once it has handled the answer.
	ticks <- time.Time{}
	if !l.Headroom().Paused {
		t.Fatal("resumed while the probe showed no headroom")
	}
	answers <- 200
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := l.Wait(ctx, throttle.PriorityLow); err != nil {
		t.Fatalf("still paused after the probe saw headroom: %v", err)
	}
	select {
	case ticks <- time.Time{}:
		t.Fatal("the prober kept running after headroom returned")
	default:
	}
}

func TestConcurrencyCapShrinksAndGrows(t *testing.T) {
	l := throttle.New(throttle.WithRate(rate.Inf, 1), throttle.WithConcurrency(8), throttle.WithLogger(quiet()))
	ctx := context.Background()
	l.ConcurrencyLimited()
	if c := l.Headroom().Concurrency; c != 4 {
		t.Fatalf("cap after one concurrency error = %d, want 4", c)
	}
	var releases []func()
	for range 4 {
		r, err := l.Acquire(ctx, throttle.PriorityHigh)
		if err != nil {
			t.Fatal(err)
		}
		releases = append(releases, r)
	}
	got := make(chan func(), 1)
	go func() {
		r, err := l.Acquire(ctx, throttle.PriorityHigh)
		if err != nil {
			t.Error(err)
		}
		got <- r
	}()
	select {
	case <-got:
		t.Fatal("a fifth call got a slot under a cap of 4")
	default:
	}
	releases[0]()
	releases[0]() // releasing twice is harmless
	select {
	case r := <-got:
		releases[0] = r
	case <-time.After(10 * time.Second):
		t.Fatal("a freed slot was not handed over")
	}
	for _, r := range releases {
		r()
	}
	// Additive increase: one slot per cap's worth of clean calls.
	for i := 0; l.Headroom().Concurrency < 8; i++ {
		if i > 100 {
			t.Fatalf("cap stuck at %d", l.Headroom().Concurrency)
		}
		r, err := l.Acquire(ctx, throttle.PriorityHigh)
		if err != nil {
			t.Fatal(err)
		}
		r()
	}
	for range 10 {
		l.ConcurrencyLimited()
	}
	if c := l.Headroom().Concurrency; c != 1 {
		t.Errorf("cap floor = %d, want 1", c)
	}
}

func TestWaitHonoursContext(t *testing.T) {
	l := throttle.New(throttle.WithLogger(quiet()))
	l.LimitExceeded()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := l.Wait(ctx, throttle.PriorityHigh)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait = %v, want context.Canceled", err)
	}
}

func TestTenantsAreIndependent(t *testing.T) {
	ts := throttle.NewTenants(func(string) *throttle.Limiter { return throttle.New(throttle.WithLogger(quiet())) })
	a, b := ts.For("00DA"), ts.For("00DB")
	if a == b || ts.For("00DA") != a {
		t.Fatal("one limiter per tenant expected")
	}
	a.LimitExceeded()
	if !b.Allowed(throttle.PriorityLow) {
		t.Error("a limit error in one org paused another")
	}
	if h := ts.Headroom(); !h["00DA"].Paused || h["00DB"].Paused {
		t.Errorf("headroom = %+v", h)
	}
}

func ExampleLimiter() {
	limiter := throttle.New(throttle.WithRate(rate.Inf, 1), throttle.WithReserve(0.1), throttle.WithLogger(quiet()))
	// Every response carries Sforce-Limit-Info: api-usage=used/max.
	limiter.ObserveUsage(95_000, 100_000)
	fmt.Println("backfill may run:", limiter.Allowed(throttle.PriorityLow))
	fmt.Println("write-back may run:", limiter.Allowed(throttle.PriorityHigh))
	limiter.LimitExceeded()
	fmt.Println("after REQUEST_LIMIT_EXCEEDED:", limiter.Allowed(throttle.PriorityHigh))
	// Output:
	// backfill may run: false
	// write-back may run: true
	// after REQUEST_LIMIT_EXCEEDED: false
}
