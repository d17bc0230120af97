// Command simulate runs the deterministic randomized fault simulator of
// package internal/sim: one seed, or a campaign of many.
//
//	go run ./internal/cmd/simulate                  # seeds 1-200
//	go run ./internal/cmd/simulate -seeds 1-10000 -parallel 8
//	go run ./internal/cmd/simulate -seed 4711       # replay one seed, with its trace
//	go run ./internal/cmd/simulate -pg-external -seeds 1-30 -steps 8
//
// It prints a summary table (seeds, events, faults by kind, violations by
// invariant) and, for every failing seed, its trace. It exits 1 when a
// seed failed. SFSYNC_TEST_POSTGRES, when set, adds PostgreSQL state;
// with -pg-external the ERP is package pgmirror in that database.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"time"

	"github.com/sfsync/sfsync/internal/sim"
)

func main() {
	seed := flag.Int64("seed", 0, "run this one seed and print its whole trace")
	seeds := flag.String("seeds", "1-200", "seeds of a campaign: 7, 1-100 or 1,5,9-12")
	parallel := flag.Int("parallel", runtime.GOMAXPROCS(0), "seeds run at once")
	traces := flag.Int("traces", 3, "print the traces of at most this many failing seeds of a campaign")
	wait := flag.Duration("wait", 20*time.Second, "bound of each wait for quiescence")
	steps := flag.Int("steps", 0, "cut every scenario to its first N steps (0: whole scenarios)")
	pgExternal := flag.Bool("pg-external", false, "the ERP is package pgmirror in the SFSYNC_TEST_POSTGRES database instead of the in-memory system")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	opt := sim.Options{Postgres: os.Getenv("SFSYNC_TEST_POSTGRES"), Wait: *wait, MaxSteps: *steps, ExternalPostgres: *pgExternal}
	if *pgExternal && opt.Postgres == "" {
		fmt.Fprintln(os.Stderr, "simulate: -pg-external needs a PostgreSQL database: run `eval \"$(bash .ci/start-postgres.sh)\"` to set SFSYNC_TEST_POSTGRES")
		os.Exit(2)
	}

	if *seed != 0 {
		res := sim.Run(ctx, *seed, opt)
		if res.Failed() {
			fmt.Print(res.Report())
		} else {
			for _, t := range res.Trace {
				fmt.Println("  " + t)
			}
			fmt.Printf("PASS seed %d (%d events, %d edits) in %s\n", *seed, res.Events, res.Edits, res.Duration.Round(time.Millisecond))
		}
		var sum sim.Summary
		sum.Add(res)
		sum.Duration = res.Duration
		sum.Print(os.Stdout)
		if res.Failed() {
			os.Exit(1)
		}
		return
	}

	list, err := sim.ParseSeeds(*seeds)
	if err != nil {
		fmt.Fprintln(os.Stderr, "simulate:", err)
		os.Exit(2)
	}
	printed := 0
	sum := sim.Campaign(ctx, list, *parallel, opt, func(res *sim.Result) {
		if !res.Failed() {
			return
		}
		if printed < *traces {
			printed++
			fmt.Print(res.Report())
			return
		}
		fmt.Printf("FAIL seed %d (%s): %d violations, first: %s\n", res.Seed, res.Duration.Round(time.Millisecond), len(res.Violations), first(res))
	})
	sum.Print(os.Stdout)
	if len(sum.Failed) > 0 {
		os.Exit(1)
	}
}

func first(res *sim.Result) string {
	if len(res.Violations) > 0 {
		return res.Violations[0].String()
	}
	return fmt.Sprint(res.Err)
}
