package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	stdsync "sync"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/pubsub"
	"github.com/sfsync/sfsync/reconcile"
	"github.com/sfsync/sfsync/salesforce"
	"github.com/sfsync/sfsync/salesforce/salesforcetest"
	"github.com/sfsync/sfsync/sync"
)

// The backfill rows copy a whole object of the fake org, held by a child
// process (backfill_org.go), through the engine on SQLite into a sink that
// does nothing: the first start of a sync.

// bfPoll is the first poll of a Bulk job: the fake org's jobs complete at
// once, so the default 1 s would only measure a sleep.
const bfPoll = 100 * time.Millisecond

var bfFields = []string{"Name", "Email__c", "Title__c", "Grade__c", "Active__c", "Hired__c", "Salary__c"}

// bfClient signs in to the org process and returns a client of it.
func bfClient(ctx context.Context, log *slog.Logger, org *orgChild) (*salesforce.Client, *salesforce.OAuthSource, error) {
	hc := &http.Client{}
	tokens := salesforce.ClientCredentials(salesforce.ClientCredentialsConfig{TokenURL: org.url, ClientID: org.clientID, ClientSecret: org.secret, HTTPClient: hc})
	if _, err := tokens.Token(ctx); err != nil {
		return nil, nil, fmt.Errorf("signing in to the fake org: %w", err)
	}
	return salesforce.New(tokens, salesforce.WithHTTPClient(hc), salesforce.WithLogger(log)), tokens, nil
}

// resetPeak returns freed memory to the OS and restarts the kernel's peak
// RSS (VmHWM) from the current RSS, so that a peak read later is that of
// what ran in between.
func resetPeak() error {
	runtime.GC()
	debug.FreeOSMemory()
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		return fmt.Errorf("resetting the peak RSS (/proc/self/clear_refs): %w", err)
	}
	return nil
}

// liveHeapMiB is the Go heap the last GC found live: what the process
// holds, without the garbage RSS also counts until the next GC.
func liveHeapMiB() float64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return float64(s[0].Value.Uint64()) / (1 << 20)
}

// bfRun is what one backfill through the engine measured.
type bfRun struct {
	wall           time.Duration
	calls          int
	polls, pages   int
	before, peak   float64
	rss            []float64 // MiB at each tenth of the records read
	heap           []float64 // live Go heap, MiB, at each tenth
	baseWall       time.Duration
	basePeak       float64
	restWall       time.Duration
	restCalls      int
	restPeak       float64
	maxRecords     int
	orgPeak        int
	baseRead, read int64
	// sampled is the RSS every 100 ms while the backfill ran (MiB), and
	// goMapped the memory the Go runtime held from the OS at its end: the
	// rest of the RSS is SQLite's (modernc.org/sqlite allocates outside
	// the Go heap) and the binary's.
	sampled  []float64
	goMapped float64
}

// goMappedMiB is the memory the Go runtime holds from the OS, less what it
// has returned.
func goMappedMiB() float64 {
	s := []metrics.Sample{{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 || s[1].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return float64(s[0].Value.Uint64()-s[1].Value.Uint64()) / (1 << 20)
}

// sampleRSS records the RSS every 100 ms until stop is closed, and returns
// the samples once it is.
func sampleRSS(stop <-chan struct{}) <-chan []float64 {
	out := make(chan []float64, 1)
	go func() {
		var got []float64
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				out <- got
				return
			case <-t.C:
				cur, _ := rssMiB()
				got = append(got, cur)
			}
		}
	}()
	return out
}

func (b *bench) backfillRows(ctx context.Context) []row {
	n := b.o.backfill
	name := fmt.Sprintf("backfill (Bulk, SQLite, %d rec)", n)
	fail := func(err error) []row { return []row{{name: name, err: err}} }
	org, err := startOrg(ctx, n)
	if err != nil {
		return fail(err)
	}
	defer org.close()
	sf, _, err := bfClient(ctx, b.log, org)
	if err != nil {
		return fail(err)
	}
	r := bfRun{maxRecords: salesforce.DefaultMaxRecords}

	// Baseline: the Authority's own query as one job, its pages only
	// downloaded and parsed (Client.QueryResults), nothing done with them.
	query := "SELECT Id, LastModifiedDate, SystemModstamp, IsDeleted"
	for _, f := range bfFields {
		query += ", " + f
	}
	query += " FROM " + bfObject
	if err := resetPeak(); err != nil {
		return fail(err)
	}
	start := time.Now()
	job, err := sf.CreateQueryJob(ctx, salesforce.BulkQueryAll, query)
	if err == nil {
		job, err = sf.WaitQueryJob(ctx, job.ID, salesforce.WithPollInterval(bfPoll, time.Second))
	}
	if err != nil {
		return fail(fmt.Errorf("baseline job: %w", err))
	}
	for _, err := range sf.QueryResults(ctx, job, "") {
		if err != nil {
			return fail(fmt.Errorf("baseline read: %w", err))
		}
		r.baseRead++
	}
	r.baseWall = time.Since(start)
	_, r.basePeak = rssMiB()
	if err := sf.DeleteQueryJob(ctx, job.ID); err != nil {
		return fail(fmt.Errorf("baseline job delete: %w", err))
	}
	if r.baseRead != int64(n) {
		return fail(fmt.Errorf("baseline read %d of %d records", r.baseRead, n))
	}

	// REST queryAll, as backfills were before Bulk: the same scan through
	// the Authority, 2,000 records a call.
	if err := resetPeak(); err != nil {
		return fail(err)
	}
	if _, err := org.ints("reset"); err != nil {
		return fail(err)
	}
	start = time.Now()
	rest := salesforce.NewAuthority(sf, map[string][]string{bfObject: bfFields}, salesforce.WithBulkThreshold(-1))
	read := 0
	for _, err := range rest.Scan(ctx, bfObject, nil, time.Time{}) {
		if err != nil {
			return fail(fmt.Errorf("REST scan: %w", err))
		}
		read++
	}
	r.restWall = time.Since(start)
	if r.restCalls, err = org.usage(); err != nil {
		return fail(err)
	}
	_, r.restPeak = rssMiB()
	if read != n {
		return fail(fmt.Errorf("REST scan read %d of %d records", read, n))
	}

	// A client of its own, so the backfill describes the object as a
	// first start does.
	fresh, tokens, err := bfClient(ctx, b.log, org)
	if err != nil {
		return fail(err)
	}
	if err := b.backfillEngine(ctx, org, fresh, tokens, n, &r); err != nil {
		return fail(err)
	}
	rss, err := org.ints("rss")
	if err != nil {
		return fail(err)
	}
	r.orgPeak = rss[1]
	return bfTable(n, r)
}

// backfillEngine runs the first start of a sync of the object through the
// engine on SQLite into a sink that does nothing.
func (b *bench) backfillEngine(ctx context.Context, org *orgChild, sf *salesforce.Client, tokens *salesforce.OAuthSource, n int, r *bfRun) error {
	store, _, err := openSQLite(ctx, b.log, b.o.sqliteCache, b.dir, "backfill")
	if err != nil {
		return err
	}
	defer store.Close()
	ps, err := pubsub.Dial(org.pubsub, salesforce.PubSubTokens(tokens), pubsub.WithInsecure(), pubsub.WithLogger(b.log))
	if err != nil {
		return fmt.Errorf("dial the fake org's Pub/Sub: %w", err)
	}
	defer ps.Close()
	sub := ps.Subscribe(salesforcetest.Topic(bfObject))
	defer sub.Close()
	mapped := make([]sync.Field, len(bfFields))
	for i, f := range bfFields {
		mapped[i] = sync.Field{Salesforce: f, External: f}
	}
	authority := salesforce.NewAuthority(sf, map[string][]string{bfObject: bfFields},
		salesforce.WithBulkOptions(salesforce.WithPollInterval(bfPoll, time.Second)))

	var mu stdsync.Mutex
	var last sfsync.Position
	var job []int // jobs, polls, result requests
	var jobErr error
	tenth := 0
	finished := make(chan struct{})
	var once stdsync.Once
	opts := []sync.Option{sync.WithLogger(b.log)}
	if b.o.versionCache > 0 {
		opts = append(opts, sync.WithVersionCache(b.o.versionCache))
	}
	engine, err := sync.New(sub, &nopSink{}, append(opts, sync.WithTenant(org.orgID), sync.WithStore(store),
		sync.WithMapping(&sync.Mapping{Object: bfObject, External: "employee", Fields: mapped}),
		sync.WithReconciler(reconcile.New(authority, reconcile.WithTenant(org.orgID), reconcile.WithLogger(b.log))),
		sync.WithBackfill(bfObject),
		sync.WithBackfillProgress(func(p sync.BackfillProgress) {
			mu.Lock()
			defer mu.Unlock()
			// The job is deleted once its last page is handled: keep its
			// counters from the reports before.
			if p.Phase == sync.PhaseReading {
				if j, err := org.ints("job"); err != nil {
					jobErr = err
				} else if j[0] > 0 {
					job = j
				}
			}
			for p.Total > 0 && tenth < 10 && p.Read*10 >= int64(tenth+1)*p.Total {
				cur, _ := rssMiB()
				r.rss, r.heap = append(r.rss, cur), append(r.heap, liveHeapMiB())
				tenth++
			}
			if len(p.Pinned) > 0 {
				last = p.Pinned[0]
			}
			if p.Phase == sync.PhaseDone {
				r.read = p.Read
				once.Do(func() { close(finished) })
			}
		}))...)
	if err != nil {
		return err
	}
	if err := resetPeak(); err != nil {
		return err
	}
	r.before, _ = rssMiB()
	if _, err := org.ints("reset"); err != nil {
		return err
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	ran := make(chan error, 1)
	start := time.Now()
	sampling := make(chan struct{})
	samples := sampleRSS(sampling)
	go func() { ran <- engine.Run(runCtx) }()
	select {
	case <-finished:
	case err := <-ran:
		if err == nil {
			err = errors.New("without an error")
		}
		return fmt.Errorf("engine stopped before the backfill finished: %w", err)
	case <-ctx.Done():
		return ctx.Err()
	}
	r.wall = time.Since(start)
	_, r.peak = rssMiB()
	r.goMapped = goMappedMiB()
	close(sampling)
	r.sampled = <-samples
	stop()
	if err := <-ran; err != nil {
		return fmt.Errorf("stopping the engine: %w", err)
	}
	if r.calls, err = org.usage(); err != nil {
		return err
	}
	mu.Lock()
	defer mu.Unlock()
	if jobErr != nil {
		return jobErr
	}
	if len(job) != 3 || job[0] != 1 || last.Stream == "" {
		return fmt.Errorf("backfill: Bulk jobs seen %v, pinned %q; want one job and a pinned stream", job, last.Stream)
	}
	r.polls, r.pages = job[1], job[2]
	if r.read != int64(n) {
		return fmt.Errorf("backfill read %d of %d records", r.read, n)
	}
	return nil
}

func bfTable(n int, r bfRun) []row {
	rate := float64(n) / r.wall.Seconds()
	baseRate := float64(n) / r.baseWall.Seconds()
	restRate := float64(n) / r.restWall.Seconds()
	wantPages := (n + r.maxRecords - 1) / r.maxRecords
	return []row{{
		name: fmt.Sprintf("backfill (Bulk, SQLite, %d rec)", n), goal: "report",
		ratio:    fmt.Sprintf("%.2f× baseline rate", rate/baseRate),
		measured: fmt.Sprintf("%.0f rec/s, %.1f s: pin, job, pages through the engine to a sink that does nothing", rate, r.wall.Seconds()),
		baseline: fmt.Sprintf("job + QueryResults loop (download, parse, type the same CSV): %.0f rec/s, %.1f s", baseRate, r.baseWall.Seconds()),
	}, {
		name: "backfill API calls", goal: fmt.Sprintf("1 job, a few polls, ⌈N/%d⌉ = %d pages", r.maxRecords, wantPages),
		ratio:    fmt.Sprintf("%d vs %d calls (%.0f× fewer)", r.calls, r.restCalls, float64(r.restCalls)/float64(max(r.calls, 1))),
		measured: fmt.Sprintf("%d calls: 1 job created, %d polls, %d result pages, %d others (describe, COUNT(), job delete)", r.calls, r.polls, r.pages, r.calls-1-r.polls-r.pages),
		baseline: fmt.Sprintf("REST queryAll scan (⌈N/2000⌉ = %d pages): %d calls, %.0f rec/s", (n+1999)/2000, r.restCalls, restRate),
	}, {
		name: "backfill memory", goal: "peak ≤256 MiB, flat",
		ratio: fmt.Sprintf("peak RSS %.0f MiB", r.peak),
		measured: fmt.Sprintf("%.0f MiB before; RSS MiB per tenth: %s; every 100 ms: %s; live Go heap MiB per tenth: %s; Go runtime at the end %.0f MiB; the org process: peak %d MiB",
			r.before, joinf(r.rss, "%.0f"), spread(r.sampled), joinf(r.heap, "%.0f"), r.goMapped, r.orgPeak),
		baseline: fmt.Sprintf("peak RSS of the baseline %.0f MiB; of the REST scan %.0f MiB", r.basePeak, r.restPeak),
	}}
}

// spread is "min–max MiB (n samples)" of samples in MiB.
func spread(samples []float64) string {
	if len(samples) == 0 {
		return "no samples"
	}
	lo, hi := samples[0], samples[0]
	for _, v := range samples {
		lo, hi = min(lo, v), max(hi, v)
	}
	return fmt.Sprintf("%.0f–%.0f MiB (%d samples)", lo, hi, len(samples))
}
