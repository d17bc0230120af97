package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"time"

	"github.com/sfsync/sfsync/store/memory"
)

type bench struct {
	o      options
	log    *slog.Logger
	c      *child
	dir    string
	topics int
	// memRate is the end-to-end rate in memory, the durable rows' baseline.
	memRate float64
}

// topic names a fresh channel, so every run reads exactly its own events.
func (b *bench) topic() string {
	b.topics++
	return fmt.Sprintf("/data/Bench%d__chn", b.topics)
}

func perEvent(u usage, n int) (ns, allocs, bytes, cpu float64) {
	f := float64(n)
	return float64(u.wall.Nanoseconds()) / f, float64(u.mallocs) / f, float64(u.bytes) / f, float64(u.cpu.Nanoseconds()) / f
}

func describe(u usage, n int) string {
	_, allocs, bytes, cpu := perEvent(u, n)
	return fmt.Sprintf("%.0f ev/s, %.1f µs CPU/ev, %.1f allocs/ev, %.1f KB/ev", float64(n)/u.wall.Seconds(), cpu/1e3, allocs, bytes/1e3)
}

// e2eRow runs the baseline and the pipeline alternately o.count times.
func (b *bench) e2eRow(ctx context.Context) row {
	r := row{name: fmt.Sprintf("end to end (memory, %d ev)", b.o.e2e), goal: "≤1.3× cost, ≤90 allocs/ev"}
	var base, pipe []usage
	var rates, cpuRatio, baseRates []float64
	for range b.o.count {
		runtime.GC()
		bu, err := runBaseline(ctx, b.c, b.topic(), b.o.e2e)
		if err != nil {
			r.err = fmt.Errorf("baseline: %w", err)
			return r
		}
		runtime.GC()
		pr, err := runPipeline(ctx, b.log, b.c, b.topic(), b.o.e2e, memory.New(), "")
		if err != nil {
			r.err = err
			return r
		}
		base, pipe = append(base, bu), append(pipe, pr.use)
		rates = append(rates, pr.rate())
		baseRates = append(baseRates, float64(b.o.e2e)/bu.wall.Seconds())
		cpuRatio = append(cpuRatio, float64(pr.use.cpu)/float64(max(bu.cpu, 1)))
	}
	b.memRate = median(rates)
	mi, bi := medianRun(pipe), medianRun(base)
	r.ratio = fmt.Sprintf("%.2f× time, %.2f× CPU", median(baseRates)/median(rates), median(cpuRatio))
	r.measured = describe(pipe[mi], b.o.e2e)
	r.baseline = "generated gRPC client + goavro loop: " + describe(base[bi], b.o.e2e)
	return r
}

// medianRun is the index of the run of median wall time.
func medianRun(us []usage) int {
	walls := make([]float64, len(us))
	for i, u := range us {
		walls[i] = u.wall.Seconds()
	}
	m := median(walls)
	for i, w := range walls {
		if w == m {
			return i
		}
	}
	return 0
}

func (b *bench) engineRow(ctx context.Context) row {
	r := row{name: fmt.Sprintf("engine (memory, one-way, %d ev)", b.o.engine), goal: "≤5×, ≤20 allocs/ev"}
	var eng, dir []usage
	var ratios, cpuRatios []float64
	for range b.o.count {
		runtime.GC()
		d := runDirect(ctx, b.o.engine)
		runtime.GC()
		e, err := runEngine(ctx, b.log, b.o.engine)
		if err != nil {
			r.err = err
			return r
		}
		eng, dir = append(eng, e), append(dir, d)
		ratios = append(ratios, float64(e.wall)/float64(max(d.wall, 1)))
		cpuRatios = append(cpuRatios, float64(e.cpu)/float64(max(d.cpu, 1)))
	}
	ei, di := medianRun(eng), medianRun(dir)
	ens, eallocs, ebytes, ecpu := perEvent(eng[ei], b.o.engine)
	dns, dallocs, dbytes, dcpu := perEvent(dir[di], b.o.engine)
	// CPU beside wall time: on a shared machine the engine's goroutines
	// wait for cores the loop never needs, and CPU per event moves less
	// between runs than the wall clock does.
	r.ratio = fmt.Sprintf("%.1f× time, %.1f× CPU", median(ratios), median(cpuRatios))
	r.measured = fmt.Sprintf("%.2f µs/ev, %.2f µs CPU/ev, %.0f allocs/ev, %.2f KB/ev, %.0f ev/s", ens/1e3, ecpu/1e3, eallocs, ebytes/1e3, 1e9/ens)
	r.baseline = fmt.Sprintf("direct loop: %.2f µs/ev, %.2f µs CPU/ev, %.0f allocs/ev, %.2f KB/ev", dns/1e3, dcpu/1e3, dallocs, dbytes/1e3)
	return r
}

// durableRows are the end-to-end pipeline on SQLite over o.durable events:
// its rate against memory, how it holds up as state grows, state size and
// the consumer's memory.
func (b *bench) durableRows(ctx context.Context) []row {
	name := fmt.Sprintf("durable (SQLite, %d ev)", b.o.durable)
	fail := func(err error) []row {
		return []row{{name: name, err: err, goal: "≥0.5× memory; last 10% ≥0.8× first 10%"}}
	}
	if b.memRate == 0 {
		return fail(errors.New("no end-to-end rate in memory to compare with"))
	}
	store, path, err := openSQLite(ctx, b.log, b.o.sqliteCache, b.dir, "durable")
	if err != nil {
		return fail(err)
	}
	defer store.Close()
	// The rows before this one leave garbage and freed heap the runtime
	// has not yet returned; the backlog row's peak is this run's own.
	if err := resetPeak(); err != nil {
		return fail(err)
	}
	res, err := runPipeline(ctx, b.log, b.c, b.topic(), b.o.durable, store, b.o.heapProfile)
	if err != nil {
		return fail(err)
	}
	first, last := res.decile[0], res.decile[len(res.decile)-1]
	rows := []row{{
		name: name, goal: "≥0.5× memory",
		ratio:    fmt.Sprintf("%.2f× memory", res.rate()/b.memRate),
		measured: describe(res.use, res.n) + fmt.Sprintf(", %.0f ev/commit", float64(res.n)/float64(max(res.commits, 1))),
		baseline: fmt.Sprintf("end to end in memory: %.0f ev/s", b.memRate),
	}, {
		name: "durable: decay", goal: "≥0.8×",
		ratio:    fmt.Sprintf("%.2f× last/first 10%%", last/first),
		measured: "ev/s per tenth: " + joinf(res.decile, "%.0f"),
		baseline: "first tenth of the same run",
	}}
	size := fileBytes(path)
	if _, err := store.Compact(ctx); err != nil {
		return append(rows, row{name: "state size", err: err})
	}
	live, err := liveBytes(ctx, path)
	if err != nil {
		return append(rows, row{name: "state size", err: err})
	}
	rows = append(rows, row{
		name: "state size", goal: "report; bounded by retention",
		ratio:    fmt.Sprintf("%.0f B/ev", float64(size)/float64(res.n)),
		measured: fmt.Sprintf("file+WAL %.1f MiB; in use after compaction (30-day retention) %.1f MiB, %.0f B/ev", float64(size)/(1<<20), float64(live)/(1<<20), float64(live)/float64(res.n)),
		baseline: "—",
	}, row{
		name: "backlog memory", goal: "peak ≤128 MiB, flat",
		ratio:    fmt.Sprintf("peak RSS %.0f MiB", res.peakRSS),
		measured: "RSS MiB per tenth: " + joinf(res.rss, "%.0f") + describeMem(res.mem),
		baseline: "—",
	})
	return rows
}

// describeMem says where the resident memory of each tenth was.
func describeMem(ms []memParts) string {
	var held, other, files, live []float64
	for _, m := range ms {
		held, other, files, live = append(held, m.goHeld), append(other, m.other), append(files, m.files), append(live, m.liveHeap)
	}
	return "; Go runtime " + joinf(held, "%.0f") + " (live heap after the last GC " + joinf(live, "%.0f") +
		"); other anonymous (SQLite's allocator) " + joinf(other, "%.0f") + "; files " + joinf(files, "%.0f")
}

func joinf(xs []float64, format string) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = fmt.Sprintf(format, x)
	}
	return strings.Join(s, " ")
}

// latencyRows publish at a steady rate, in memory then on SQLite.
func (b *bench) latencyRows(ctx context.Context) []row {
	var rows []row
	name := fmt.Sprintf("latency (memory, %d ev/s, %s)", b.o.rate, b.o.duration)
	mem, err := runLatency(ctx, b.log, b.c, b.topic(), b.o.rate, b.o.duration, memory.New(), nil)
	if err != nil {
		return []row{{name: name, err: err}}
	}
	rows = append(rows, latencyRow(name, "p99 ≤2 ms", mem))
	name = fmt.Sprintf("latency (SQLite, %d ev/s, %s)", b.o.rate, b.o.duration)
	store, _, err := openSQLite(ctx, b.log, b.o.sqliteCache, b.dir, "latency")
	if err != nil {
		return append(rows, row{name: name, err: err})
	}
	defer store.Close()
	timer := &commitTimer{}
	sq, err := runLatency(ctx, b.log, b.c, b.topic(), b.o.rate, b.o.duration, timedSQLite{Store: store, t: timer}, timer)
	if err != nil {
		return append(rows, row{name: name, err: err})
	}
	r := latencyRow(name, "p99 ≤5 ms", sq)
	r.ratio += fmt.Sprintf(" (%.1f× memory p99)", float64(percentile(sq.lat, 99))/float64(max(percentile(mem.lat, 99), 1)))
	rows = append(rows, r)
	c := sq.commits
	rows = append(rows, row{
		name: "durable latency (SQLite commits)", goal: "p99 ≤20 ms",
		ratio:    fmt.Sprintf("p99 %s", ms(percentile(c, 99))),
		measured: fmt.Sprintf("%d commits: p50 %s, p95 %s, p99 %s, max %s", len(c), ms(percentile(c, 50)), ms(percentile(c, 95)), ms(percentile(c, 99)), ms(percentile(c, 100))),
		baseline: "—",
	})
	return rows
}

func latencyRow(name, goal string, r latencyResult) row {
	l := r.lat
	return row{
		name: name, goal: goal,
		ratio:    fmt.Sprintf("p99 %s", ms(percentile(l, 99))),
		measured: fmt.Sprintf("%d ev publish → sink write: p50 %s, p99 %s, max %s", len(l), ms(percentile(l, 50)), ms(percentile(l, 99)), ms(percentile(l, 100))),
		baseline: "—",
	}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/1e6) }

// postgresRow is the end-to-end pipeline on PostgreSQL against SQLite,
// both over o.pg events in this run.
func (b *bench) postgresRow(ctx context.Context) row {
	r := row{name: fmt.Sprintf("PostgreSQL (%d ev)", b.o.pg), goal: "report"}
	if b.o.postgres == "" {
		r.ratio, r.measured, r.baseline = "skipped", "no -postgres DSN or $SFSYNC_TEST_POSTGRES (eval \"$(bash .ci/start-postgres.sh)\")", "—"
		return r
	}
	lite, _, err := openSQLite(ctx, b.log, b.o.sqliteCache, b.dir, "pgbase")
	if err != nil {
		r.err = err
		return r
	}
	defer lite.Close()
	runtime.GC()
	lres, err := runPipeline(ctx, b.log, b.c, b.topic(), b.o.pg, lite, "")
	if err != nil {
		r.err = fmt.Errorf("sqlite baseline: %w", err)
		return r
	}
	pg, err := openPostgres(ctx, b.log, b.o.postgres)
	if err != nil {
		r.err = err
		return r
	}
	defer pg.Close()
	runtime.GC()
	pres, err := runPipeline(ctx, b.log, b.c, b.topic(), b.o.pg, pg, "")
	if err != nil {
		r.err = err
		return r
	}
	r.ratio = fmt.Sprintf("%.2f× SQLite", pres.rate()/lres.rate())
	r.measured = describe(pres.use, pres.n)
	r.baseline = "SQLite: " + describe(lres.use, lres.n)
	return r
}
