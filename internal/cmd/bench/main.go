// Command bench measures sfsync end to end and prints one table in which
// every row is a ratio against a baseline measured in the same run, with
// the absolute figures beside it. The fake Pub/Sub server runs in a child
// process, so CPU, allocation and memory figures are the consumer's.
//
//	go run ./internal/cmd/bench            # full sizes, three runs of the ratio rows
//	go run ./internal/cmd/bench -short     # the same rows, small, in under three minutes
//	go run ./internal/cmd/bench -rows e2e,durable
//
// It exits non-zero when a row cannot run. BENCHMARKS.md explains the rows.
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sfsync/sfsync/sync"
)

type options struct {
	rows     map[string]bool
	e2e      int
	engine   int
	durable  int
	pg       int
	rate     int
	duration time.Duration
	count    int
	postgres string
	backfill int
	drift    int
	// versionCache is the backfill engine's sync.WithVersionCache; 0 for
	// the default.
	versionCache int
	// sqliteCache is the SQLite stores' sqlite.WithCacheSize in bytes; 0
	// for the default.
	sqliteCache int64
	// heapProfile is where the durable row writes an in-use heap profile.
	heapProfile string
}

// row is one line of the table.
type row struct {
	name, measured, baseline, ratio, goal string
	err                                   error
}

func main() {
	serveMode := flag.Bool("serve", false, "run as the fake Pub/Sub server process (used by bench itself)")
	serveOrgN := flag.Int("serve-org", 0, "run as the fake org process of the backfill rows, with this many records (used by bench itself)")
	short := flag.Bool("short", false, "small sizes: the same rows in under three minutes")
	rows := flag.String("rows", "e2e,engine,durable,latency,postgres", "comma-separated rows to run: e2e, engine, durable, latency, postgres, backfill, drift")
	e2e := flag.Int("events", 0, "events of the end-to-end row (default 100,000; -short 20,000)")
	engine := flag.Int("engine-events", 0, "events of the engine row (default 1,000,000; -short 200,000)")
	durable := flag.Int("durable-events", 0, "events of the durable row (default 1,000,000; -short 50,000)")
	pg := flag.Int("postgres-events", 0, "events of the PostgreSQL row (default 200,000; -short 20,000)")
	backfill := flag.Int("backfill-records", 0, "records of the backfill rows (default 1,000,000; -short 100,000)")
	drift := flag.Int("drift-records", 0, "records of the drift row (default 1,000,000; -short 100,000)")
	versionCache := flag.Int("version-cache", 0, "records of the backfill engine's version cache (sync.WithVersionCache; default the engine's), to compare its memory")
	rate := flag.Int("rate", 1000, "events per second of the latency rows")
	duration := flag.Duration("duration", 0, "length of each latency run (default 30s; -short 5s)")
	count := flag.Int("count", 0, "runs of the ratio rows, of which the median is shown (default 3; -short 1)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the consumer (whole run) to this file")
	memProfile := flag.String("memprofile", "", "write an allocation profile of the consumer (whole run) to this file")
	sqliteCache := flag.Int64("sqlite-cache", 0, "bytes of the SQLite stores' writer page cache (sqlite.WithCacheSize; default the store's), to compare its memory and speed")
	maxInFlight := flag.Int("max-in-flight", 0, "the pipeline rows' sync.WithMaxInFlight (default the engine's), to compare memory and speed")
	heapProfile := flag.String("heapprofile", "", "write an in-use heap profile of the consumer at nine tenths of the durable row to this file")
	pgDSN := flag.String("postgres", os.Getenv("SFSYNC_TEST_POSTGRES"), "PostgreSQL DSN of the PostgreSQL row (default $SFSYNC_TEST_POSTGRES; the row is skipped without one)")
	flag.Parse()

	if *serveMode {
		if err := serve(os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "bench server:", err)
			os.Exit(1)
		}
		return
	}
	if *serveOrgN > 0 {
		if err := serveOrg(*serveOrgN, os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "bench org:", err)
			os.Exit(1)
		}
		return
	}
	pick := func(v, full, small int) int {
		switch {
		case v > 0:
			return v
		case *short:
			return small
		}
		return full
	}
	o := options{
		rows: map[string]bool{}, postgres: *pgDSN, rate: *rate,
		e2e: pick(*e2e, 100_000, 20_000), engine: pick(*engine, 1_000_000, 200_000),
		durable: pick(*durable, 1_000_000, 50_000), pg: pick(*pg, 200_000, 20_000), backfill: pick(*backfill, 1_000_000, 100_000),
		drift: pick(*drift, 1_000_000, 100_000),
		count: pick(*count, 3, 1), duration: *duration, versionCache: *versionCache, heapProfile: *heapProfile, sqliteCache: *sqliteCache,
	}
	if *maxInFlight > 0 {
		pipelineOptions = append(pipelineOptions, sync.WithMaxInFlight(*maxInFlight))
	}
	if o.duration <= 0 {
		o.duration = 30 * time.Second
		if *short {
			o.duration = 5 * time.Second
		}
	}
	for _, r := range strings.Split(*rows, ",") {
		o.rows[strings.TrimSpace(r)] = true
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench: cpu profile:", err)
			os.Exit(2)
		}
		defer pprof.StopCPUProfile()
	}
	table, err := run(ctx, o)
	if *memProfile != "" {
		if werr := writeProfile("allocs", *memProfile); werr != nil {
			err = errors.Join(err, werr)
		}
	}
	print(os.Stdout, o, table)
	failed := err != nil
	for _, r := range table {
		failed = failed || r.err != nil
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
	}
	if failed {
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

// writeProfile writes the named runtime profile ("allocs", "heap") to
// path; a heap profile after a collection, so that it is current.
func writeProfile(name, path string) error {
	if name == "heap" {
		runtime.GC()
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("%s profile: %w", name, err)
	}
	defer f.Close()
	if err := pprof.Lookup(name).WriteTo(f, 0); err != nil {
		return fmt.Errorf("%s profile: %w", name, err)
	}
	return nil
}

func run(ctx context.Context, o options) ([]row, error) {
	// The library logs nothing the bench needs; warnings would only skew it.
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	c, err := startChild(ctx)
	if err != nil {
		return nil, err
	}
	defer c.close()
	dir, err := os.MkdirTemp("", "sfsync-bench-")
	if err != nil {
		return nil, fmt.Errorf("temp dir: %w", err)
	}
	defer os.RemoveAll(dir)
	b := &bench{o: o, log: log, c: c, dir: dir}
	var table []row
	if o.rows["e2e"] || o.rows["durable"] {
		table = append(table, b.e2eRow(ctx))
	}
	if o.rows["engine"] {
		table = append(table, b.engineRow(ctx))
	}
	if o.rows["durable"] {
		table = append(table, b.durableRows(ctx)...)
	}
	if o.rows["latency"] {
		table = append(table, b.latencyRows(ctx)...)
	}
	if o.rows["postgres"] {
		table = append(table, b.postgresRow(ctx))
	}
	if o.rows["backfill"] {
		table = append(table, b.backfillRows(ctx)...)
	}
	if o.rows["drift"] {
		table = append(table, b.driftRows(ctx)...)
	}
	return table, nil
}

func print(w io.Writer, o options, table []row) {
	// The garbage collector's settings change the memory rows; say which
	// were in effect.
	gc := "GOGC " + cmp.Or(os.Getenv("GOGC"), "100 (default)")
	if lim := debug.SetMemoryLimit(-1); lim != math.MaxInt64 {
		gc += fmt.Sprintf(", GOMEMLIMIT %d MiB", lim>>20)
	}
	fmt.Fprintf(w, "sfsync bench: %s/%s, %d CPUs, %s, %s; fake Pub/Sub server in pid-separate child process; medians of %d run(s) for e2e and engine\n\n",
		runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version(), gc, o.count)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "row\tratio\tmeasured\tbaseline (same run)\tgoal")
	for _, r := range table {
		if r.err != nil {
			fmt.Fprintf(tw, "%s\tFAILED\t%v\t\t%s\n", r.name, r.err, r.goal)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.name, r.ratio, r.measured, r.baseline, r.goal)
	}
	tw.Flush()
}
