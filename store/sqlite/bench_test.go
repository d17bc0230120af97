package sqlite

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
)

// benchBatch is how many events one group commit holds.
const benchBatch = 256

const benchStream = "/data/ContactChangeEvent"

func benchStore(b *testing.B) *Store {
	b.Helper()
	s, err := Open(context.Background(), filepath.Join(b.TempDir(), "state.db"), WithCompactionInterval(0))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := s.Close(); err != nil {
			b.Error(err)
		}
	})
	return s
}

// benchOutcome is the ledger entry of event i, with its position.
func benchOutcome(i int, at time.Time) sfsync.Outcome {
	key := "003A" + strconv.Itoa(i) + ":tx"
	tok := binary.BigEndian.AppendUint64(nil, uint64(i))
	return sfsync.Outcome{
		Key: key, Tenant: "acme", Object: "Contact", RecordID: "003A" + strconv.Itoa(i),
		Source: "salesforce", Destination: "warehouse", Op: "update", Status: sfsync.StatusApplied,
		Reason: "applied all fields", Attempts: 1,
		Version:  sfsync.Version{Time: at, Seq: int64(i)},
		Position: sfsync.Position{Stream: benchStream, Token: tok},
		At:       at,
	}
}

// BenchmarkCommitStateBatch measures group commit: one CommitState per
// benchBatch events, holding their outcomes and claims and the checkpoint of
// the last. b.N counts events.
func BenchmarkCommitStateBatch(b *testing.B) {
	ctx := context.Background()
	s := benchStore(b)
	at := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	outcomes := make([]sfsync.Outcome, 0, benchBatch)
	claims := make([]string, 0, benchBatch)
	b.ReportAllocs()
	b.ResetTimer()
	for start := 0; start < b.N; start += benchBatch {
		outcomes, claims = outcomes[:0], claims[:0]
		for i := start; i < min(b.N, start+benchBatch); i++ {
			o := benchOutcome(i, at)
			outcomes = append(outcomes, o)
			claims = append(claims, o.Key)
		}
		err := s.CommitState(ctx, sfsync.Commit{
			Outcomes:    outcomes,
			Claims:      claims,
			ClaimTTL:    24 * time.Hour,
			Checkpoints: []sfsync.Position{outcomes[len(outcomes)-1].Position},
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkPerEventAutocommit is the baseline without group commit: per
// event a claim, an outcome and a checkpoint, each its own transaction.
func BenchmarkPerEventAutocommit(b *testing.B) {
	ctx := context.Background()
	s := benchStore(b)
	at := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		o := benchOutcome(i, at)
		if _, err := s.Claim(ctx, o.Key, 24*time.Hour); err != nil {
			b.Fatal(err)
		}
		if err := s.RecordOutcomes(ctx, []sfsync.Outcome{o}); err != nil {
			b.Fatal(err)
		}
		if err := s.SaveCheckpoint(ctx, o.Position); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// growthFields are the fields each event of the growth benchmark sets.
var growthFields = []string{"Industry", "Phone", "Website", "Description", "Rating", "AnnualRevenue", "NumberOfEmployees", "LastModifiedDate"}

func growthPrint(rec, field string, i int) string {
	place := sha256.Sum256([]byte("external:bench\x00company\x00" + rec + "\x00" + field))
	val := sha256.Sum256([]byte(strconv.Itoa(i)))
	return base64.RawURLEncoding.EncodeToString(place[:15]) + "." + base64.RawURLEncoding.EncodeToString(val[:12])
}

// BenchmarkCommitStateGrowth commits what the engine commits for the
// end-to-end row's events (an outcome, a claim, nine versions and, unless
// the destination's changes never reach the engine, nine remembered writes
// each, over 10,000 records) in group commits of 1,000, and reports the
// rate of the last tenth against the first: a cost that grows with the
// state shows as a ratio below 1.
func BenchmarkCommitStateGrowth(b *testing.B) {
	b.Run("writes=remembered", func(b *testing.B) { benchGrowth(b, true) })
	b.Run("writes=none", func(b *testing.B) { benchGrowth(b, false) })
}

func benchGrowth(b *testing.B, remember bool) {
	ctx := context.Background()
	path := filepath.Join(b.TempDir(), "state.db")
	// SFSYNC_BENCH_SQLITE_CACHE sets the writer's page cache in bytes, to
	// compare sizes; unset, the default.
	cache, _ := strconv.ParseInt(os.Getenv("SFSYNC_BENCH_SQLITE_CACHE"), 10, 64)
	s, err := Open(ctx, path, WithCompactionInterval(0), WithCacheSize(cache))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	at := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	const batch = 1000
	// The process's CPU time per event in each tenth (the background
	// checkpointer's included) holds better than the rate on a shared
	// machine.
	var cpuTenths []float64
	cpuAt := func() float64 {
		var ru syscall.Rusage
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e3
	}
	lastCPU := cpuAt()
	var tenths []float64
	tenth := max(1, b.N/10)
	last := time.Now()
	b.ReportAllocs()
	b.ResetTimer()
	for start := 0; start < b.N; start += batch {
		var c sfsync.Commit
		c.ClaimTTL = 96 * time.Hour
		var fps []string
		for i := start; i < min(b.N, start+batch); i++ {
			rec := fmt.Sprintf("001%015d", i%10000)
			sum := sha256.Sum256(binary.BigEndian.AppendUint64(nil, uint64(i)))
			key := rec + ":" + base64.RawURLEncoding.EncodeToString(sum[:16])
			c.Outcomes = append(c.Outcomes, sfsync.Outcome{
				Key: key, Tenant: "00D000000000001AAA", Object: "Account", RecordID: rec,
				Source: "salesforce", Destination: "external:bench", Op: "update", Status: sfsync.StatusApplied,
				Reason: "wrote [AnnualRevenue Description Industry LastModifiedDate NumberOfEmployees Phone Rating Website] to external:bench", Attempts: 1,
				Version:  sfsync.Version{Time: at.Add(time.Duration(i) * time.Millisecond), Commit: int64(i), Seq: 1},
				Position: sfsync.Position{Stream: "/data/AccountChangeEvent", Token: binary.BigEndian.AppendUint64(nil, uint64(i))},
				At:       time.Now(),
			})
			c.Claims = append(c.Claims, key)
			for _, f := range append([]string{""}, growthFields...) {
				c.Versions = append(c.Versions, sfsync.AppliedVersion{Record: "company/" + rec, Source: "salesforce", Field: f,
					Version: sfsync.Version{Time: at.Add(time.Duration(i) * time.Millisecond), Commit: int64(i), Seq: 1}})
				fps = append(fps, growthPrint(rec, f, i))
			}
			// The engine remembers the writes of each applied group as it
			// goes; they reach the table with the next commit.
			if !remember {
				fps = fps[:0]
			}
			if err := s.RememberWrites(ctx, fps, time.Hour); err != nil {
				b.Fatal(err)
			}
			fps = fps[:0]
			c.Checkpoints = []sfsync.Position{c.Outcomes[len(c.Outcomes)-1].Position}
			if (i+1)%tenth == 0 {
				tenths = append(tenths, float64(tenth)/time.Since(last).Seconds())
				last = time.Now()
				c := cpuAt()
				cpuTenths = append(cpuTenths, (c-lastCPU)/float64(tenth))
				lastCPU = c
			}
		}
		if err := s.CommitState(ctx, c); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	if len(tenths) >= 10 {
		b.ReportMetric(tenths[9]/tenths[0], "last/first")
		b.Logf("events/s per tenth: %.0f", tenths)
		b.Logf("CPU µs/event per tenth: %.1f", cpuTenths)
		// The pages of each table and index: a randomly keyed one costs a
		// page written per insert once it is much larger than a commit.
		rows, err := s.r.QueryContext(ctx, `SELECT name, count(*) FROM dbstat GROUP BY name HAVING count(*) > 1 ORDER BY 2 DESC`)
		if err != nil {
			b.Fatal(err)
		}
		var pages []string
		for rows.Next() {
			var n string
			var c int
			if err := rows.Scan(&n, &c); err != nil {
				b.Fatal(err)
			}
			pages = append(pages, fmt.Sprintf("%s %d", n, c))
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			b.Fatal(err)
		}
		b.Logf("pages: %s", strings.Join(pages, ", "))
	}
	var n int64
	for _, p := range []string{path, path + "-wal"} {
		if fi, err := os.Stat(p); err == nil {
			n += fi.Size()
		}
	}
	b.ReportMetric(float64(n)/float64(b.N), "B/event")
}

// BenchmarkLedgerLookup measures a lookup by key and one by record in a
// ledger of 200,000 outcomes, all indexed or with the newest ones not yet
// (as many as start a batch), which the lookup scans.
func BenchmarkLedgerLookup(b *testing.B) {
	for _, tail := range []int{0, defaultLedgerBatch} {
		b.Run(fmt.Sprintf("unindexed=%d", tail), func(b *testing.B) {
			ctx := context.Background()
			s, err := Open(ctx, filepath.Join(b.TempDir(), "state.db"), WithCompactionInterval(0), func(c *config) { c.ledgerBatch, c.ledgerEvery = 1<<30, time.Hour })
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			at := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
			const n = 200_000
			record := func(from, to int) {
				var c sfsync.Commit
				for i := from; i < to; i++ {
					c.Outcomes = append(c.Outcomes, benchOutcome(i, at))
					if len(c.Outcomes) == 1000 || i == to-1 {
						if err := s.CommitState(ctx, c); err != nil {
							b.Fatal(err)
						}
						c.Outcomes = c.Outcomes[:0]
					}
				}
			}
			record(0, n-tail)
			if err := s.indexLedger(ctx); err != nil {
				b.Fatal(err)
			}
			record(n-tail, n)
			b.ResetTimer()
			for i := range b.N {
				o := benchOutcome(i*7919%n, at)
				for _, q := range []sfsync.OutcomeQuery{{Key: o.Key}, {Object: o.Object, RecordID: o.RecordID}} {
					if got, err := s.Outcomes(ctx, q); err != nil || len(got) != 1 {
						b.Fatalf("Outcomes(%+v) = %d outcomes, %v; want 1", q, len(got), err)
					}
				}
			}
		})
	}
}
