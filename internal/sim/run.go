package sim

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sfsync/sfsync"
)

// Result is what one seed's run found.
type Result struct {
	Seed       int64
	Scenario   *Scenario
	Events     int // changes delivered to engines
	Edits      int // user edits that took effect
	Faults     map[FaultKind]int
	Violations []Violation
	// Err is set when the run could not be carried out at all (a fake
	// failed to start); it is not a verdict on the engine.
	Err      error
	Trace    []string
	Duration time.Duration
}

// Failed reports whether the run found a violation or could not run.
func (r *Result) Failed() bool { return len(r.Violations) > 0 || r.Err != nil }

// Run generates the scenario of seed and runs it.
func Run(ctx context.Context, seed int64, opt Options) *Result {
	return RunScenario(ctx, Generate(seed), opt)
}

// RunScenario runs sc: it starts the fakes and an engine, executes the
// steps, settles, clears the faults, requeues what was dead-lettered,
// settles again and checks every invariant.
func RunScenario(ctx context.Context, sc *Scenario, opt Options) *Result {
	began := time.Now()
	if opt.Wait <= 0 {
		opt.Wait = 20 * time.Second
	}
	if opt.MaxSteps > 0 && len(sc.Steps) > opt.MaxSteps {
		sc.Steps = sc.Steps[:opt.MaxSteps]
	}
	// With a PostgreSQL server, every third SQLite seed runs on it instead.
	if opt.Postgres != "" && sc.Store == "sqlite" && sc.Seed%3 == 0 {
		sc.Store = "postgres"
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	r := &run{sc: sc, opt: opt, ctx: ctx, clock: newClock(), log: discard(), holder: "sim-1",
		pingSeen: map[string]int{}, sfIDs: map[int]string{}, faults: map[FaultKind]int{}, requeued: map[string]bool{}}
	res := &Result{Seed: sc.Seed, Scenario: sc}
	r.tracef("scenario: %s", sc.Describe())
	if opt.ExternalPostgres {
		r.tracef("ERP: pgmirror in PostgreSQL")
		if opt.Postgres == "" {
			res.Err = errors.New("sim: the pgmirror ERP needs a PostgreSQL database: set Options.Postgres (SFSYNC_TEST_POSTGRES)")
			return res
		}
	}
	if sc.ExtSkew != 0 {
		r.count(FaultClockSkew)
	}
	if sc.SlowState > 0 {
		r.count(FaultSlowState)
	}
	dir, cleanup, err := tempDir()
	if err != nil {
		res.Err = err
		return res
	}
	defer cleanup()
	err = r.setup(dir)
	defer r.teardown()
	if err == nil {
		err = r.start(false)
	}
	for i, st := range sc.Steps {
		if err != nil {
			break
		}
		err = r.exec(i, st)
	}
	if err == nil {
		err = r.finish()
	}
	if err != nil && !errors.Is(err, errNotQuiescent) {
		res.Err = err
	}
	r.mu.Lock()
	res.Events = len(r.deliveries)
	res.Edits = len(r.history)
	res.Faults = r.faults
	res.Violations = r.violations
	res.Trace = r.trace
	r.mu.Unlock()
	res.Duration = time.Since(began)
	return res
}

// finish brings the run to its end state and checks it.
func (r *run) finish() error {
	if r.cur == nil {
		if err := r.start(false); err != nil {
			return err
		}
	}
	r.tracef("final: settle, clear faults, requeue dead letters, settle")
	if err := r.settle("end of workload"); err != nil {
		return err
	}
	r.thawZombies()
	r.clearFaults()
	if err := r.requeueAll(); err != nil {
		return err
	}
	if err := r.settle("after the final requeue"); err != nil {
		return err
	}
	ledger, err := r.store.base.Outcomes(r.ctx, sfsync.OutcomeQuery{Limit: 1_000_000})
	if err != nil {
		return err
	}
	r.checkOutcomes(ledger)
	r.checkEffects()
	r.checkModel()
	r.checkStuck()
	if dls, err := r.store.base.DeadLetters(r.ctx, sfsync.DeadLetterQuery{}); err == nil && len(dls) > 0 {
		for _, d := range dls {
			r.tracef("    left dead-lettered: %s %s: %s", d.Key(), d.Change.Op, d.Err)
		}
	}
	return nil
}

// Describe sums the scenario up in one line.
func (sc *Scenario) Describe() string {
	var objs []string
	for _, o := range sc.Objects {
		n := 0
		for _, r := range sc.Records {
			if sc.Objects[r.Object].Name == o.Name {
				n++
			}
		}
		objs = append(objs, fmt.Sprintf("%s×%d", o.Name, n))
	}
	slow := ""
	if sc.SlowState > 0 {
		slow = fmt.Sprintf(" (lookups up to %v)", sc.SlowState)
	}
	return fmt.Sprintf("seed %d: %s, policy %s, %s state%s, ERP clock %+v, %d workers, batch %d, lease %v, %d steps",
		sc.Seed, strings.Join(objs, " "), &sc.Policy, sc.Store, slow, sc.ExtSkew, sc.Workers, sc.Batch, sc.Lease, len(sc.Steps))
}

// Report is the readable account of a failed run: the scenario, its steps
// and faults as they ran, and the violations with the records' histories.
func (res *Result) Report() string {
	var b strings.Builder
	fmt.Fprintf(&b, "FAIL seed %d (replay: go run ./internal/cmd/simulate -seed %d)\n", res.Seed, res.Seed)
	for _, t := range res.Trace {
		b.WriteString("  " + t + "\n")
	}
	if res.Err != nil {
		fmt.Fprintf(&b, "  run error: %v\n", res.Err)
	}
	for _, v := range res.Violations {
		fmt.Fprintf(&b, "  VIOLATION %s\n", v)
	}
	return b.String()
}
