// Command backfill shows a durable, resumable backfill: the first start of
// a sync copies every record of a 200,000-record object from a fake
// Salesforce org, through one Bulk API 2.0 query job read page by page, to
// an external system, with its progress on screen and its state on disk.
//
//	go run ./examples/backfill                  # backfill, resuming what an earlier run left
//	go run ./examples/backfill -crash-at 50%    # stop the process hard half way
//	go run ./examples/backfill -fresh           # forget both files and start over
//
// The engine keeps its state in a SQLite file (-state) and the external
// system keeps its employees in a JSON-lines file (-external); those two
// files are all that passes from one run to the next. The fake org lives in
// the process and is generated again from a fixed seed each run, with the
// same ids, values and SystemModstamps. A real org also keeps the Bulk job
// an interrupted backfill was reading; the fake one cannot outlive its
// process, so the example notes its jobs in the state file, under a stream
// of its own, and the next run's org restores them (same id, same pages,
// same locators).
//
// -crash-at 50% ends the process with os.Exit(3), without draining or
// closing anything, as soon as the external system holds half of the
// records: in the middle of a page, with writes done whose outcomes the
// engine has not yet committed. Running the plain command again resumes
// from the stored state: the same pinned stream position, the same Bulk
// job, the page after the last one whose records all had outcomes. It
// prints where it resumed and how many records it wrote; what the first
// run applied is not written again. It ends by comparing every record of
// the object in the org with the external system, and exits 2 if they
// differ (1 on any other error).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	stdsync "sync"
	"syscall"
	"time"

	"github.com/sfsync/sfsync/pubsub"
	"github.com/sfsync/sfsync/reconcile"
	"github.com/sfsync/sfsync/salesforce"
	"github.com/sfsync/sfsync/salesforce/salesforcetest"
	"github.com/sfsync/sfsync/store/sqlite"
	"github.com/sfsync/sfsync/sync"
)

// Exit codes besides 0 and 1.
const (
	exitDiffer = 2
	exitCrash  = 3
)

// options are the command's flags.
type options struct {
	records  int
	seed     uint64
	page     int
	state    string
	external string
	// crashAt is the fraction of the records at which the process stops
	// hard; 0: never.
	crashAt float64
	fresh   bool
}

func main() {
	var o options
	var crashAt string
	flag.IntVar(&o.records, "records", 200_000, "employees in the fake org")
	flag.Uint64Var(&o.seed, "seed", 1, "seed the fake org is generated from")
	flag.IntVar(&o.page, "page", 10_000, "records per Bulk API results page (maxRecords)")
	flag.StringVar(&o.state, "state", "backfill-state.db", "SQLite file of the engine's state")
	flag.StringVar(&o.external, "external", "backfill-external.jsonl", "JSON-lines file of the external system")
	flag.StringVar(&crashAt, "crash-at", "", "stop the process hard once the external system holds this share of the records (50% or 0.5)")
	flag.BoolVar(&o.fresh, "fresh", false, "remove the state and external files first")
	flag.Parse()
	var err error
	if o.crashAt, err = parseShare(crashAt); err != nil {
		fmt.Fprintln(os.Stderr, "backfill:", err)
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Stdout, o); err != nil {
		fmt.Fprintln(os.Stderr, "backfill:", err)
		stop()
		if errors.Is(err, errDiffer) {
			os.Exit(exitDiffer)
		}
		os.Exit(1)
	}
}

var errDiffer = errors.New("the external system differs from the org")

// parseShare reads "50%" or "0.5"; "" is 0.
func parseShare(s string) (float64, error) {
	if s == "" {
		return 0, nil
	}
	pct := strings.HasSuffix(s, "%")
	f, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
	if pct {
		f /= 100
	}
	if err != nil || f <= 0 || f > 1 {
		return 0, fmt.Errorf("-crash-at %q: give a share of the records above 0 and at most 100%%, such as 50%%", s)
	}
	return f, nil
}

func run(ctx context.Context, out io.Writer, o options) error {
	// The library's warnings go to stderr; its progress is on the screen.
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	statePath, err := filepath.Abs(o.state)
	if err != nil {
		return err
	}
	extPath, err := filepath.Abs(o.external)
	if err != nil {
		return err
	}
	if o.fresh {
		for _, p := range []string{statePath, statePath + "-wal", statePath + "-shm", extPath} {
			if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("-fresh: %w", err)
			}
		}
	}
	fmt.Fprintf(out, "engine state (SQLite): %s\nexternal system (JSON lines): %s\n", statePath, extPath)

	began := time.Now()
	org, deleted, err := newOrg(o.seed, o.records)
	if err != nil {
		return err
	}
	defer org.Close()
	fmt.Fprintf(out, "fake org: %s %s records generated from seed %d in %s, %s of them deleted\n",
		thousands(int64(o.records)), object, o.seed, time.Since(began).Round(time.Millisecond), thousands(int64(len(deleted))))
	clientID, secret := org.ClientCredentials()
	tokens := salesforce.ClientCredentials(salesforce.ClientCredentialsConfig{TokenURL: org.URL(), ClientID: clientID, ClientSecret: secret, HTTPClient: org.Client()})
	tok, err := tokens.Token(ctx)
	if err != nil {
		return fmt.Errorf("signing in to the fake org: %w", err)
	}
	sf := salesforce.New(tokens, salesforce.WithHTTPClient(org.Client()), salesforce.WithClientID("sfsync"), salesforce.WithLogger(log))

	state, err := sqlite.Open(ctx, statePath, sqlite.WithLogger(log))
	if err != nil {
		return fmt.Errorf("opening the engine's state: %w", err)
	}
	defer state.Close()
	jobs := &orgJobs{org: org, store: state}
	if n, err := jobs.restore(ctx); err != nil {
		return err
	} else if n > 0 {
		fmt.Fprintf(out, "fake org: restored the %d Bulk job(s) the previous run's org held (a real org keeps a job seven days)\n", n)
	}
	ext, err := openExternal(extPath)
	if err != nil {
		return err
	}
	defer ext.Close()
	held, _, _ := ext.counts()
	fmt.Fprintf(out, "external system: %s employees on disk\n", thousands(int64(held)))

	disp := &display{out: out, bar: isTerminal(out), held: func() int { n, _, _ := ext.counts(); return n }}
	if o.crashAt > 0 {
		target := int(math.Ceil(o.crashAt * float64(o.records)))
		fmt.Fprintf(out, "-crash-at %g%%: the process stops hard once the external system holds %s employees\n", 100*o.crashAt, thousands(int64(target)))
		ext.afterWrite = func(records int) {
			if records < target {
				return
			}
			disp.printf("crash: the external system holds %s employees; stopping hard now (os.Exit(%d): no drain, no commit, no close)\n", thousands(int64(records)), exitCrash)
			os.Exit(exitCrash)
		}
	}

	ps, err := pubsub.Dial(org.PubSub().Addr(), salesforce.PubSubTokens(tokens), pubsub.WithTLSConfig(org.ClientTLSConfig()), pubsub.WithLogger(log))
	if err != nil {
		return fmt.Errorf("connecting to the fake org's Pub/Sub API: %w", err)
	}
	defer ps.Close()
	sub := ps.Subscribe(salesforcetest.Topic(object))
	defer sub.Close()

	sfFields := make([]string, len(fieldMap))
	mapped := make([]sync.Field, len(fieldMap))
	for i, f := range fieldMap {
		sfFields[i], mapped[i] = f.sf, sync.Field{Salesforce: f.sf, External: f.ext}
	}
	authority := salesforce.NewAuthority(sf, map[string][]string{object: sfFields},
		// More than one REST page of records: one Bulk job instead.
		salesforce.WithBulkThreshold(2000),
		salesforce.WithBulkOptions(salesforce.WithMaxRecords(o.page), salesforce.WithPollInterval(250*time.Millisecond, 2*time.Second)))

	finished := make(chan struct{})
	var finishOnce stdsync.Once
	var resumed sync.BackfillProgress
	disp.onFirst = func(p sync.BackfillProgress) string {
		resumed = p
		return startLine(p)
	}
	engine, err := sync.New(sub, ext,
		sync.WithLogger(log), sync.WithTenant(tok.OrgID), sync.WithClientID("sfsync"), sync.WithStore(state),
		sync.WithMapping(&sync.Mapping{Object: object, External: "employee", Fields: mapped}),
		sync.WithReconciler(reconcile.New(authority, reconcile.WithTenant(tok.OrgID), reconcile.WithLogger(log))),
		sync.WithBackfill(object),
		sync.WithBackfillProgress(func(p sync.BackfillProgress) {
			disp.update(p)
			switch p.Phase {
			case sync.PhaseQuerying, sync.PhaseReading, sync.PhaseDone:
				if err := jobs.save(ctx); err != nil {
					log.Warn("backfill example: the fake org's jobs were not saved; a run after a crash starts the scan again", "err", err)
				}
			}
			if p.Phase == sync.PhaseDone {
				finishOnce.Do(func() { close(finished) })
			}
		}),
	)
	if err != nil {
		return err
	}
	runCtx, stopEngine := context.WithCancel(ctx)
	defer stopEngine()
	ran := make(chan error, 1)
	go func() { ran <- engine.Run(runCtx) }()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
wait:
	for {
		select {
		case <-finished:
			break wait
		case err := <-ran:
			return fmt.Errorf("the engine stopped before the backfill finished: %w", err)
		case <-ctx.Done():
			stopEngine()
			<-ran
			return fmt.Errorf("interrupted; run again to resume: %w", ctx.Err())
		case <-tick.C:
			disp.tick()
		}
	}
	// A finished backfill's last state is committed as the engine drains.
	stopEngine()
	if err := <-ran; err != nil {
		return fmt.Errorf("stopping the engine: %w", err)
	}

	held, written, same := ext.counts()
	used, _ := org.APIUsage()
	s := engine.Stats()
	disp.printf("this run: written %s records to the external system\n", thousands(written))
	fmt.Fprintf(out, "this run: not written again: %s records the engine knew were applied (duplicates, stale or unchanged), %s the external system already held at that version\n",
		thousands(s.Duplicates+s.Stale+s.Noops), thousands(same))
	if resumed.Phase != "" && resumed.Phase != sync.PhaseOwed && resumed.Phase != sync.PhaseDone {
		fmt.Fprintf(out, "this run: read %s records from Salesforce, after the %s earlier runs had read\n", thousands(last(engine).Read-resumed.Read), thousands(resumed.Read))
	}
	fmt.Fprintf(out, "this run: %s API calls to the org (token, describe, count, Bulk job, polls, result pages)\n", thousands(int64(used)))
	checked, diffs := compare(org, deleted, ext)
	if len(diffs) > 0 {
		fmt.Fprintf(out, "NOT EQUAL: %d of %s %s records differ from the external system (%s employees held), for example:\n", len(diffs), thousands(int64(checked)), object, thousands(int64(held)))
		for _, d := range diffs[:min(len(diffs), 10)] {
			fmt.Fprintln(out, "  "+d)
		}
		fmt.Fprintln(out, "(state from a run with other -records or -seed? start over with -fresh)")
		return errDiffer
	}
	fmt.Fprintf(out, "equal: all %s %s records of the org (%s deleted) match the external system's %s employees\n",
		thousands(int64(checked)), object, thousands(int64(len(deleted))), thousands(int64(held)))
	return nil
}

// startLine says what the engine found stored when it started.
func startLine(p sync.BackfillProgress) string {
	switch p.Phase {
	case sync.PhaseOwed:
		return fmt.Sprintf("backfill of %s owed (%s)", p.Object, p.Reason)
	case sync.PhaseDone:
		return fmt.Sprintf("the backfill of %s finished in an earlier run (%s records read); nothing to resume", p.Object, thousands(p.Read))
	}
	where := fmt.Sprintf("%s records read", thousands(p.Read))
	if p.Total > 0 {
		where = fmt.Sprintf("%s of %s records read", thousands(p.Read), thousands(p.Total))
	}
	pins := make([]string, len(p.Pinned))
	for i, pos := range p.Pinned {
		pins[i] = fmt.Sprintf("%s at %x", pos.Stream, pos.Token)
		if len(pos.Token) == 0 {
			pins[i] = pos.Stream + " from the earliest retained event"
		}
	}
	return fmt.Sprintf("resumed: the backfill of %s an earlier run did not finish, from its stored state: phase %s, %s; started %s, stream pinned: %s",
		p.Object, p.Phase, where, p.Started.Format(time.RFC3339), strings.Join(pins, ", "))
}

// last returns the engine's last progress of the object's backfill.
func last(e *sync.Engine) sync.BackfillProgress {
	for _, p := range e.Backfills() {
		if p.Object == object {
			return p
		}
	}
	return sync.BackfillProgress{}
}
