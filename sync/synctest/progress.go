package synctest

import (
	"context"
	"fmt"
	stdsync "sync"
	"time"

	"github.com/sfsync/sfsync"
)

// Progress lets a test or a demo wait for an engine's progress without
// sleeping: sources wrapped with [Progress.Watch] report every commit, and
// [Progress.Until] re-checks a condition after each one.
type Progress struct {
	mu stdsync.Mutex
	ch chan struct{}
}

// NewProgress returns a Progress with no sources yet.
func NewProgress() *Progress { return &Progress{ch: make(chan struct{})} }

// Watch wraps src so that its commits wake [Progress.Until]. The wrapper
// keeps src's Resume and Stream.
func (p *Progress) Watch(src sfsync.EventSource) sfsync.EventSource {
	return watched{EventSource: src, p: p}
}

func (p *Progress) tick() {
	p.mu.Lock()
	close(p.ch)
	p.ch = make(chan struct{})
	p.mu.Unlock()
}

// Until blocks until cond holds, checking it now and after every commit of
// a watched source, or until ctx ends.
func (p *Progress) Until(ctx context.Context, what string, cond func() bool) error {
	for {
		p.mu.Lock()
		ch := p.ch
		p.mu.Unlock()
		if cond() {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("synctest: waiting for %s: %w", what, ctx.Err())
		}
	}
}

type watched struct {
	sfsync.EventSource
	p *Progress
}

func (w watched) Commit(ctx context.Context, pos sfsync.Position) error {
	err := w.EventSource.Commit(ctx, pos)
	w.p.tick()
	return err
}

func (w watched) Resume(ctx context.Context, cps sfsync.CheckpointStore) error {
	if r, ok := w.EventSource.(sfsync.Resumer); ok {
		return r.Resume(ctx, cps)
	}
	return nil
}

func (w watched) Stream() string {
	if s, ok := w.EventSource.(interface{ Stream() string }); ok {
		return s.Stream()
	}
	return ""
}

// Pin pins the wrapped source's stream when it can (sync.Pinner), and
// pins nothing otherwise.
func (w watched) Pin(ctx context.Context) (sfsync.Position, error) {
	if p, ok := w.EventSource.(interface {
		Pin(context.Context) (sfsync.Position, error)
	}); ok {
		return p.Pin(ctx)
	}
	return sfsync.Position{}, nil
}

// GapFreeSince forwards the wrapped source's (sync.GapFree), and reports
// false when it does not say. A source that pins nothing holds nothing
// back from a backfill: every commit it carries is delivered.
func (w watched) GapFreeSince() (time.Time, bool) {
	if g, ok := w.EventSource.(interface{ GapFreeSince() (time.Time, bool) }); ok {
		return g.GapFreeSince()
	}
	if _, ok := w.EventSource.(interface {
		Pin(context.Context) (sfsync.Position, error)
	}); !ok {
		return time.Time{}, true
	}
	return time.Time{}, false
}

// System forwards the wrapped source's system (sync.SystemSource), or ""
// when it does not say.
func (w watched) System() sfsync.System {
	if s, ok := w.EventSource.(interface{ System() sfsync.System }); ok {
		return s.System()
	}
	return ""
}
