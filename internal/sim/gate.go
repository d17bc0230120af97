package sim

import (
	"context"
	"errors"
	stdsync "sync"
	"sync/atomic"

	"github.com/sfsync/sfsync"
)

// errKilled is what a killed engine instance gets from everything around
// it: its process is gone, so nothing it does from now on takes effect.
var errKilled = errors.New("sim: the engine's process was killed")

// gate stands between one engine instance and the world (its state store,
// its sinks, its sources). Killing the gate is a crash: whatever the
// instance does afterwards fails, so it commits nothing more. Freezing it
// is a process pause: calls block until the gate is thawed or killed.
type gate struct {
	// superseded is set once another instance holds the lease: a commit
	// that still succeeds through this gate was not fenced.
	superseded atomic.Bool

	mu     stdsync.Mutex
	killed bool
	frozen chan struct{} // closed on thaw; nil when running
}

func (g *gate) pass(ctx context.Context) error {
	for {
		g.mu.Lock()
		killed, frozen := g.killed, g.frozen
		g.mu.Unlock()
		if killed {
			return sfsync.Permanent(errKilled)
		}
		if frozen == nil {
			return nil
		}
		select {
		case <-frozen:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (g *gate) kill() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.killed = true
	if g.frozen != nil {
		close(g.frozen)
		g.frozen = nil
	}
}

func (g *gate) freeze() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.frozen == nil && !g.killed {
		g.frozen = make(chan struct{})
	}
}

func (g *gate) thaw() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.frozen != nil {
		close(g.frozen)
		g.frozen = nil
	}
}
