package sqlite

import (
	"context"
	"encoding/binary"
	"path/filepath"
	"strconv"
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
