package reconcile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/sfsync/sfsync"
)

// RunFunc runs one reconciliation, typically (*sync.Engine).Reconcile, so
// that the emitted changes go through the engine's pipeline.
type RunFunc func(ctx context.Context, scope sfsync.Scope) error

// Loop reconciles a set of objects periodically to detect and correct drift
// that no event announced. Each pass scans only what changed since the
// previous pass began, less an overlap that covers clock skew and
// long-running transactions committing late.
type Loop struct {
	run      RunFunc
	objects  []string
	interval time.Duration
	overlap  time.Duration
	now      func() time.Time
	ticks    <-chan time.Time
	logger   *slog.Logger

	mu    sync.Mutex
	since map[string]time.Time
}

// LoopOption configures a Loop. [WithLogger] is one too.
type LoopOption interface{ applyLoop(*Loop) }

type loopOption func(*Loop)

func (o loopOption) applyLoop(l *Loop) { o(l) }

// WithInterval sets the time between passes (default 15 minutes).
func WithInterval(d time.Duration) LoopOption { return loopOption(func(l *Loop) { l.interval = d }) }

// WithOverlap sets how far each pass reaches back before the previous pass
// began (default 1 minute).
func WithOverlap(d time.Duration) LoopOption { return loopOption(func(l *Loop) { l.overlap = d }) }

// WithClock sets the clock the watermarks are read from (default time.Now).
func WithClock(now func() time.Time) LoopOption { return loopOption(func(l *Loop) { l.now = now }) }

// WithTicks drives passes from ch instead of a ticker, for tests and for
// callers that schedule passes themselves.
func WithTicks(ch <-chan time.Time) LoopOption { return loopOption(func(l *Loop) { l.ticks = ch }) }

// WithStart sets the first pass's lower bound per object; objects not named
// start with a full scan.
func WithStart(since map[string]time.Time) LoopOption {
	return loopOption(func(l *Loop) {
		for k, v := range since {
			l.since[k] = v
		}
	})
}

// NewLoop returns a Loop that reconciles objects through run.
func NewLoop(run RunFunc, objects []string, opts ...LoopOption) *Loop {
	l := &Loop{
		run: run, objects: append([]string(nil), objects...),
		interval: 15 * time.Minute, overlap: time.Minute,
		now: time.Now, logger: slog.Default(), since: map[string]time.Time{},
	}
	for _, o := range opts {
		o.applyLoop(l)
	}
	return l
}

// Since returns the lower bound the next pass uses for object.
func (l *Loop) Since(object string) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.since[object]
}

// RunOnce makes one pass over every object. An object whose pass fails
// keeps its old watermark, so the next pass covers its window again; the
// errors of all objects are joined.
func (l *Loop) RunOnce(ctx context.Context) error {
	var errs []error
	for _, obj := range l.objects {
		started := l.now()
		since := l.Since(obj)
		scope := sfsync.Scope{Object: obj, Since: since, Reason: "drift check"}
		if err := l.run(ctx, scope); err != nil {
			errs = append(errs, fmt.Errorf("reconcile loop: %s since %s: %w", obj, since.Format(time.RFC3339), err))
			continue
		}
		l.mu.Lock()
		l.since[obj] = started.Add(-l.overlap)
		l.mu.Unlock()
	}
	return errors.Join(errs...)
}

// Run makes a pass at once and then one per interval until ctx ends. A
// failed pass is logged and retried at the next interval: drift checks are
// background work and must not stop the engine. Run returns ctx's error.
func (l *Loop) Run(ctx context.Context) error {
	ticks := l.ticks
	if ticks == nil {
		t := time.NewTicker(l.interval)
		defer t.Stop()
		ticks = t.C
	}
	for {
		if err := l.RunOnce(ctx); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			l.logger.LogAttrs(ctx, slog.LevelWarn, "reconcile pass failed; retrying next interval", slog.Any("error", err))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ticks:
		}
	}
}
