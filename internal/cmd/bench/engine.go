package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"strconv"
	stdsync "sync"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/store/memory"
	sfsyncsync "github.com/sfsync/sfsync/sync"
)

// genSource hands out n distinct one-field updates over 1,000 records, one
// a Receive, and reports when the last one is committed: the in-memory
// source of the engine row (the same as sync's BenchmarkEngine).
type genSource struct {
	n, next int
	t0      time.Time
	mu      stdsync.Mutex
	done    chan struct{}
	closed  bool
}

func (g *genSource) Receive(ctx context.Context) ([]sfsync.Change, error) {
	if g.next >= g.n {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	i := g.next
	g.next++
	return []sfsync.Change{g.change(i)}, nil
}

func (g *genSource) change(i int) sfsync.Change {
	id := "003" + strconv.Itoa(i%1000)
	return sfsync.Change{
		Source: sfsync.Salesforce, Object: "Contact", RecordID: id, Op: sfsync.OpUpdate,
		Fields:   map[string]any{"Phone": strconv.Itoa(i)},
		Version:  sfsync.Version{Time: g.t0, Seq: int64(i)},
		Key:      id + ":" + strconv.Itoa(i),
		Position: sfsync.Position{Stream: "bench", Token: binary.BigEndian.AppendUint64(nil, uint64(i))},
	}
}

func (g *genSource) Commit(_ context.Context, pos sfsync.Position) error {
	if int(binary.BigEndian.Uint64(pos.Token)) == g.n-1 {
		g.mu.Lock()
		if !g.closed {
			g.closed = true
			close(g.done)
		}
		g.mu.Unlock()
	}
	return nil
}

func newGenSource(n int) *genSource {
	return &genSource{n: n, t0: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), done: make(chan struct{})}
}

// runEngine measures the engine, in memory and one-way, over n events.
func runEngine(ctx context.Context, log *slog.Logger, n int) (usage, error) {
	src := newGenSource(n)
	e, err := sfsyncsync.New(src, &nopSink{}, sfsyncsync.WithLogger(log), sfsyncsync.WithStore(memory.New()))
	if err != nil {
		return usage{}, fmt.Errorf("new engine: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	start := snap()
	go func() { done <- e.Run(ctx) }()
	select {
	case <-src.done:
	case err := <-done:
		return usage{}, fmt.Errorf("engine stopped early: %w", err)
	}
	u := since(start)
	cancel()
	if err := <-done; err != nil && ctx.Err() == nil {
		return u, fmt.Errorf("engine: %w", err)
	}
	if s := e.Stats(); s.Applied != int64(n) {
		return u, fmt.Errorf("engine applied %d of %d", s.Applied, n)
	}
	return u, nil
}

// runDirect is the engine row's floor: the same source and sink wired by a
// loop that writes each change and commits its position.
func runDirect(ctx context.Context, n int) usage {
	src := newGenSource(n)
	sink := &nopSink{}
	start := snap()
	for range n {
		cs, _ := src.Receive(ctx)
		_ = sink.Write(ctx, cs)
		_ = src.Commit(ctx, cs[0].Position)
	}
	return since(start)
}
