package sync

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/throttle"
)

// minuteRing is how many minutes of outcome counts the engine keeps.
const minuteRing = 60

// summaryEvery is the least time between two Info summaries.
const summaryEvery = time.Minute

type minuteBucket struct {
	minute int64 // Unix minutes; 0 for a bucket never used
	counts map[sfsync.Status]int
}

type summaryState struct {
	since  time.Time // start of the period the next summary covers; zero before any outcome
	counts map[sfsync.Status]int
}

type usageSource struct {
	tenant   string
	headroom func() throttle.Headroom
}

// WithAPIUsage names an org's API budget, as its limiter sees it (pass
// limiter.Headroom), so that the engine's Info summary reports the
// headroom and [Engine.Health] reports the org's requests paused at its
// limit. Give it once per org whose limiter the sinks use.
func WithAPIUsage(tenant string, headroom func() throttle.Headroom) Option {
	return func(c *config) { c.ops.usage = append(c.ops.usage, usageSource{tenant, headroom}) }
}

// MinuteOutcomes counts the outcomes committed in one minute, by status.
type MinuteOutcomes struct {
	// Minute is the minute's start.
	Minute time.Time
	Counts map[sfsync.Status]int
}

// OutcomesPerMinute returns the outcomes the engine committed in each of
// the last n minutes (1 to 60), oldest first; the last is the current
// minute, still counting. They cover this engine's run only; the ledger
// holds the history.
func (e *Engine) OutcomesPerMinute(n int) []MinuteOutcomes {
	n = min(max(n, 1), minuteRing)
	now := e.cfg.clock().Truncate(time.Minute)
	out := make([]MinuteOutcomes, n)
	e.obs.mu.Lock()
	defer e.obs.mu.Unlock()
	for i := range out {
		m := now.Add(-time.Duration(n-1-i) * time.Minute)
		out[i] = MinuteOutcomes{Minute: m, Counts: map[sfsync.Status]int{}}
		b := &e.obs.minutes[unixMinute(m)%minuteRing]
		if b.minute == unixMinute(m) {
			for s, c := range b.counts {
				out[i].Counts[s] = c
			}
		}
	}
	return out
}

func unixMinute(t time.Time) int64 { return t.Unix() / 60 }

// observeCommit runs after each successful commit of the committer: it
// moves the streams' watermarks, counts the batch's outcomes per minute,
// logs them, logs the summary when it is due, and wakes those who wait.
func (e *Engine) observeCommit(ctx context.Context, batch []result) {
	now := e.cfg.clock()
	m := unixMinute(now)
	var summary *summaryState
	e.obs.mu.Lock()
	e.committedLocked(now)
	b := &e.obs.minutes[m%minuteRing]
	if b.minute != m {
		b.minute, b.counts = m, map[sfsync.Status]int{}
	}
	sum := &e.obs.summary
	for i := range batch {
		if batch[i].empty {
			continue
		}
		st := batch[i].outcome.Status
		b.counts[st]++
		if d := batch[i].it.d; d != nil && st == sfsync.StatusDeadLettered {
			o := &e.obs.streams[d.src.index]
			o.dead++
			o.lastDead = now
		}
		if sum.counts == nil {
			sum.since, sum.counts = now, map[sfsync.Status]int{}
		}
		sum.counts[st]++
	}
	if sum.counts != nil && now.Sub(sum.since) >= summaryEvery {
		done := *sum
		summary = &done
		sum.since, sum.counts = time.Time{}, nil
	}
	e.obs.mu.Unlock()

	e.logOutcomes(ctx, batch)
	if summary != nil {
		e.logSummary(ctx, now, summary)
	}
	// Woken last, a waiter finds the commit's logs written too.
	e.obs.mu.Lock()
	e.obs.wakeLocked()
	e.obs.mu.Unlock()
}

// logOutcomes logs every outcome at Debug and every dead letter at Warn,
// once it is durable.
func (e *Engine) logOutcomes(ctx context.Context, batch []result) {
	debug := e.log.Enabled(ctx, slog.LevelDebug)
	for i := range batch {
		r := &batch[i]
		if r.empty {
			continue
		}
		o := &r.outcome
		dead := o.Status == sfsync.StatusDeadLettered
		if !debug && !dead {
			continue
		}
		attrs := []slog.Attr{
			slog.String("key", o.Key), slog.String("record", o.Object+"/"+o.RecordID),
			slog.String("source", string(o.Source)), slog.String("destination", string(o.Destination)),
			slog.String("status", string(o.Status)), slog.String("reason", o.Reason),
		}
		if dead {
			attrs = append(attrs, slog.Int("attempts", o.Attempts))
			e.log.LogAttrs(ctx, slog.LevelWarn, "sfsync: change dead-lettered; fix the cause and requeue it", attrs...)
			continue
		}
		e.log.LogAttrs(ctx, slog.LevelDebug, "sfsync: outcome", attrs...)
	}
}

// logSummary logs the period's counts by status, the streams' lag and the
// API headroom at Info.
func (e *Engine) logSummary(ctx context.Context, now time.Time, s *summaryState) {
	total := 0
	var counts []any
	for _, st := range slices.Sorted(maps.Keys(s.counts)) {
		counts = append(counts, slog.Int(string(st), s.counts[st]))
		total += s.counts[st]
	}
	var lag time.Duration
	caughtUp := true
	for _, st := range e.Streams() {
		lag = max(lag, st.Lag)
		caughtUp = caughtUp && st.CaughtUp
	}
	attrs := []slog.Attr{
		slog.Duration("period", now.Sub(s.since).Round(time.Second)),
		slog.Int("outcomes", total),
		slog.Group("by_status", counts...),
		slog.Duration("lag", lag),
		slog.Bool("caught_up", caughtUp),
		slog.Int64("in_flight", e.Stats().InFlight),
	}
	for _, u := range e.cfg.ops.usage {
		h := u.headroom()
		attrs = append(attrs, slog.Group("api."+u.tenant,
			slog.Int("used", h.Used), slog.Int("max", h.Max), slog.Int("remaining", h.Remaining()), slog.Bool("paused", h.Paused)))
	}
	e.log.LogAttrs(ctx, slog.LevelInfo, "sfsync: summary", attrs...)
}

// usageErrors are the orgs whose API requests are paused at their limit,
// for Health.
func (e *Engine) usageErrors() []error {
	var errs []error
	for _, u := range e.cfg.ops.usage {
		if h := u.headroom(); h.Paused {
			errs = append(errs, fmt.Errorf("sync: API requests to org %s are paused at its limit (%d of %d used); writes wait until headroom returns: %w",
				u.tenant, h.Used, h.Max, ErrAPIPaused))
		}
	}
	return errs
}
