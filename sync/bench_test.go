package sync_test

import (
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"strconv"
	stdsync "sync"
	"testing"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/store/memory"
	"github.com/sfsync/sfsync/store/sqlite"
	sfsyncsync "github.com/sfsync/sfsync/sync"
)

// genSource generates n distinct updates over 1,000 records and reports
// when the last one is committed.
type genSource struct {
	n, next int
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
		Version:  sfsync.Version{Time: t0, Seq: int64(i)},
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

type nopSink struct{}

func (nopSink) Write(context.Context, []sfsync.Change) error { return nil }

// System names the sink's system: the pipeline is one-way, so changes from
// Salesforce cannot be echoes and need no fingerprint lookup.
func (nopSink) System() sfsync.System { return sfsync.External("bench") }

// BenchmarkEngine measures the whole pipeline per event (validation, dedup,
// ordering, decision, write, group commit of outcome, claim and
// checkpoint) with the in-memory store and a sink that does nothing.
func BenchmarkEngine(b *testing.B) { benchEngine(b, memory.New()) }

// BenchmarkEngineSQLite is BenchmarkEngine on durable state: every outcome,
// claim and checkpoint is committed to a SQLite file.
func BenchmarkEngineSQLite(b *testing.B) {
	dir := b.TempDir()
	store, err := sqlite.Open(context.Background(), filepath.Join(dir, "state.db"), sqlite.WithLogger(quiet()), sqlite.WithCompactionInterval(0))
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	benchEngine(b, store)
	if fi, err := os.Stat(filepath.Join(dir, "state.db-wal")); err == nil {
		b.Logf("WAL %d MiB", fi.Size()>>20)
	}
}

// salesforceGen is genSource saying which system it delivers, as a
// Pub/Sub subscription does (sfsyncsync.SystemSource).
type salesforceGen struct{ *genSource }

func (salesforceGen) System() sfsync.System { return sfsync.Salesforce }

// BenchmarkEngineSystemSource is BenchmarkEngine with a source that says it
// delivers Salesforce's changes only: the engine then knows that the sink's
// system never flows back, and keeps no write fingerprints and no marks of
// writes awaiting their echo. The difference to BenchmarkEngine is what a
// one-way engine pays when its source does not say so.
func BenchmarkEngineSystemSource(b *testing.B) {
	src := &genSource{n: b.N, done: make(chan struct{})}
	runEngineBench(b, src, salesforceGen{src}, memory.New())
}

func benchEngine(b *testing.B, store sfsyncsync.Store) {
	src := &genSource{n: b.N, done: make(chan struct{})}
	runEngineBench(b, src, src, store)
}

// salesforceSink is nopSink writing to Salesforce.
type salesforceSink struct{ nopSink }

func (salesforceSink) System() sfsync.System { return sfsync.Salesforce }

// BenchmarkEngineTwoWay is BenchmarkEngine with routes both ways, as a
// two-way sync has them: each record is decided and written under its gate
// (the changes of a linked record arrive under two ids), and the changes
// of a system the engine writes to are counted while queued in their lane
// (a decision may wait for them). The changes all come from Salesforce.
func BenchmarkEngineTwoWay(b *testing.B) {
	src := &genSource{n: b.N, done: make(chan struct{})}
	runEngineBench(b, src, src, memory.New(),
		sfsyncsync.WithRoute(sfsyncsync.Route{From: sfsync.Salesforce, Sink: nopSink{}}),
		sfsyncsync.WithRoute(sfsyncsync.Route{From: sfsync.External("bench"), Sink: salesforceSink{}}))
}

// runEngineBench runs an engine reading from es, gen's changes, until gen
// has seen its last position committed. Without routes in opts, it writes
// every change to a sink that does nothing.
func runEngineBench(b *testing.B, src *genSource, es sfsync.EventSource, store sfsyncsync.Store, opts ...sfsyncsync.Option) {
	var sink sfsync.Sink = nopSink{}
	if len(opts) > 0 {
		sink = nil
	}
	e, err := sfsyncsync.New(es, sink, append([]sfsyncsync.Option{sfsyncsync.WithLogger(quiet()), sfsyncsync.WithStore(store)}, opts...)...)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	b.ReportAllocs()
	b.ResetTimer()
	go func() { done <- e.Run(ctx) }()
	<-src.done
	b.StopTimer()
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	if s := e.Stats(); s.Applied != int64(b.N) {
		b.Fatalf("applied %d of %d", s.Applied, b.N)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(b.N)/float64(max(e.Stats().Commits, 1)), "events/commit")
}

// BenchmarkBaselineDirect is the floor the engine is measured against: the
// same source and sink wired by a loop that writes each change and commits
// its position, with no state, ordering or decisions.
func BenchmarkBaselineDirect(b *testing.B) {
	src := &genSource{n: b.N, done: make(chan struct{})}
	ctx := context.Background()
	var sink nopSink
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		cs, _ := src.Receive(ctx)
		_ = sink.Write(ctx, cs)
		_ = src.Commit(ctx, cs[0].Position)
	}
}
