package sqlite

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/store/storetest"
)

// withLedgerIndexing sets when the ledger's newest outcomes are indexed:
// once batch of them wait, or every interval.
func withLedgerIndexing(batch int, every time.Duration) Option {
	return func(c *config) { c.ledgerBatch, c.ledgerEvery = batch, every }
}

// TestConformanceIndexedAtOnce runs the suite with the ledger indexed in
// the background after every commit, so that lookups meet outcomes
// indexed, not yet indexed and being indexed.
func TestConformanceIndexedAtOnce(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Store { return open(t, withLedgerIndexing(1, time.Millisecond)) })
}

// ledgerOutcome is outcome i of the ledger tests: five records of two
// objects, keys shared by pairs of outcomes, three statuses.
func ledgerOutcome(i int, at time.Time) sfsync.Outcome {
	return sfsync.Outcome{
		Key: fmt.Sprintf("003%02d:tx:%d", i%5, i/2), Object: []string{"Contact", "Account"}[i%2], RecordID: fmt.Sprintf("003%02d", i%5),
		Source: sfsync.Salesforce, Destination: sfsync.External("erp"), Op: sfsync.OpUpdate,
		Status: []sfsync.Status{sfsync.StatusApplied, sfsync.StatusEcho, sfsync.StatusStale}[i%3],
		Reason: fmt.Sprintf("reason %d", i), Attempts: 1, At: at,
	}
}

// checkLedger compares every lookup of want's keys, records and objects
// (alone and with a status, a time or a limit) with what a scan of want
// selects.
func checkLedger(t *testing.T, s *Store, when string, want []sfsync.Outcome) {
	t.Helper()
	ctx := context.Background()
	var qs []sfsync.OutcomeQuery
	for _, o := range want {
		qs = append(qs, sfsync.OutcomeQuery{Key: o.Key}, sfsync.OutcomeQuery{Object: o.Object, RecordID: o.RecordID},
			sfsync.OutcomeQuery{Key: o.Key, Status: o.Status}, sfsync.OutcomeQuery{Object: o.Object, Since: o.At},
			sfsync.OutcomeQuery{Object: o.Object, Limit: 3}, sfsync.OutcomeQuery{Object: o.Object, RecordID: o.RecordID, Status: o.Status})
	}
	qs = append(qs, sfsync.OutcomeQuery{Key: "none"}, sfsync.OutcomeQuery{Object: "Lead"}, sfsync.OutcomeQuery{})
	for _, q := range qs {
		var exp []sfsync.Outcome
		for _, o := range want {
			if q.Matches(o) && (q.Limit == 0 || len(exp) < q.Limit) {
				exp = append(exp, o)
			}
		}
		got, err := s.Outcomes(ctx, q)
		if err != nil {
			t.Fatalf("%s: Outcomes(%+v): %v", when, q, err)
		}
		if len(got) != len(exp) {
			t.Fatalf("%s: Outcomes(%+v) = %d outcomes, want %d", when, q, len(got), len(exp))
		}
		for i := range got {
			if got[i].Key != exp[i].Key || got[i].Reason != exp[i].Reason || !got[i].At.Equal(exp[i].At) {
				t.Fatalf("%s: Outcomes(%+v)[%d] = %s (%s), want %s (%s)", when, q, i, got[i].Key, got[i].Reason, exp[i].Key, exp[i].Reason)
			}
		}
	}
}

// TestLedgerLookupsAcrossTheIndexMark checks lookups whose outcomes are all
// indexed, none, or some (the older ones), and after compaction deleted
// the newest outcomes, whose seqs the next outcomes take again.
func TestLedgerLookupsAcrossTheIndexMark(t *testing.T) {
	ctx := context.Background()
	c := &clock{now: time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)}
	s := open(t, WithClock(c.Now), WithRetention(24*time.Hour), WithCompactionInterval(0), withLedgerIndexing(1<<30, time.Hour))
	base := c.Now()
	var all []sfsync.Outcome
	record := func(from, to int, at func(i int) time.Time) {
		t.Helper()
		var os []sfsync.Outcome
		for i := from; i < to; i++ {
			os = append(os, ledgerOutcome(i, at(i)))
		}
		if err := s.CommitState(ctx, sfsync.Commit{Outcomes: os}); err != nil {
			t.Fatal(err)
		}
		all = append(all, os...)
	}
	minutes := func(i int) time.Time { return base.Add(time.Duration(i) * time.Minute) }
	indexed := func(want int64) {
		t.Helper()
		if err := s.indexLedger(ctx); err != nil {
			t.Fatal(err)
		}
		var upto int64
		if err := s.r.QueryRowContext(ctx, `SELECT upto FROM ledger_index`).Scan(&upto); err != nil || upto != want {
			t.Fatalf("ledger indexed up to %d (%v), want %d", upto, err, want)
		}
	}

	record(0, 20, minutes)
	checkLedger(t, s, "nothing indexed", all)
	indexed(20)
	checkLedger(t, s, "all indexed", all)
	record(20, 40, minutes)
	checkLedger(t, s, "the older half indexed", all)
	indexed(40)
	checkLedger(t, s, "all indexed again", all)

	// The ten newest outcomes are two days old: compaction deletes them,
	// the newest seqs, and the next outcomes take those seqs again, with
	// the keys of the ones deleted.
	record(40, 50, func(int) time.Time { return base.Add(-48 * time.Hour) })
	indexed(50)
	got, err := s.Compact(ctx)
	if err != nil || got.Outcomes != 10 {
		t.Fatalf("Compact = %+v, %v; want the 10 old outcomes deleted", got, err)
	}
	all = all[:40]
	checkLedger(t, s, "after deleting the newest", all)
	record(40, 50, func(i int) time.Time { return base.Add(time.Hour + time.Duration(i)*time.Second) })
	checkLedger(t, s, "newest seqs taken again", all)
	indexed(50)
	checkLedger(t, s, "newest seqs taken again, indexed", all)

	// Outcomes past the retention go with their index entries.
	c.Add(24*time.Hour + 30*time.Minute)
	if got, err := s.Compact(ctx); err != nil || got.Outcomes != 30 {
		t.Fatalf("Compact a day later = %+v, %v; want the 30 outcomes older than the retention deleted", got, err)
	}
	all = all[30:]
	checkLedger(t, s, "after the retention", all)
	for _, table := range []string{"outcome_keys", "outcome_records"} {
		var n int
		if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM `+table).Scan(&n); err != nil || n != len(all) {
			t.Errorf("%s holds %d entries (%v), want %d, one per outcome left", table, n, err, len(all))
		}
	}
}

// TestLedgerIndexedInTheBackground checks that the loop indexes outcomes
// once a batch of them waits, and on its tick however few wait, and that
// lookups find them all meanwhile.
func TestLedgerIndexedInTheBackground(t *testing.T) {
	for _, tc := range []struct {
		name  string
		batch int
		every time.Duration
		// left is the most outcomes the loop may leave after upto: fewer
		// than a batch wake it.
		left int64
	}{
		{"batches", 25, time.Hour, 24},
		{"ticks", 1 << 30, 5 * time.Millisecond, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			s := open(t, WithCompactionInterval(0), withLedgerIndexing(tc.batch, tc.every))
			at := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
			var all []sfsync.Outcome
			for i := range 100 {
				o := ledgerOutcome(i, at.Add(time.Duration(i)*time.Second))
				if err := s.RecordOutcomes(ctx, []sfsync.Outcome{o}); err != nil {
					t.Fatal(err)
				}
				all = append(all, o)
				if i%10 == 9 {
					checkLedger(t, s, fmt.Sprintf("after %d outcomes", i+1), all)
				}
			}
			// The loop has no event to wait on: poll.
			deadline := time.Now().Add(10 * time.Second)
			for {
				var upto int64
				if err := s.r.QueryRowContext(ctx, `SELECT upto FROM ledger_index`).Scan(&upto); err != nil {
					t.Fatal(err)
				}
				if 100-upto <= tc.left {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("ledger indexed up to %d of 100 outcomes, want at least %d", upto, 100-tc.left)
				}
				time.Sleep(5 * time.Millisecond)
			}
			checkLedger(t, s, "indexed in the background", all)
		})
	}
}

// TestMigrateIndexesTheLedger upgrades a database of schema version 2,
// whose ledger had indexes by key and by record, and checks that its
// outcomes are in the lookup tables and found.
func TestMigrateIndexesTheLedger(t *testing.T) {
	ctx := context.Background()
	path, db := schemaV2(t)
	at := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	var all []sfsync.Outcome
	for i := range 30 {
		o := ledgerOutcome(i, at.Add(time.Duration(i)*time.Second))
		all = append(all, o)
		if _, err := db.ExecContext(ctx, `INSERT INTO outcomes (`+outcomeCols+`) VALUES `+values(1, 17),
			o.Key, o.Tenant, o.Object, o.RecordID, string(o.Source), string(o.Destination), string(o.Op), string(o.Status), o.Reason,
			o.Attempts, nanos(o.Version.Time), 0, 0, 0, "", []byte{}, nanos(o.At)); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	s, err := Open(ctx, path, WithCompactionInterval(0), withLedgerIndexing(1<<30, time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var upto, keys, records int64
	if err := s.r.QueryRowContext(ctx, `SELECT upto, (SELECT count(*) FROM outcome_keys), (SELECT count(*) FROM outcome_records) FROM ledger_index`).Scan(&upto, &keys, &records); err != nil {
		t.Fatal(err)
	}
	if upto != 30 || keys != 30 || records != 30 {
		t.Errorf("after migrating, indexed up to %d with %d key and %d record entries; want 30 of each", upto, keys, records)
	}
	checkLedger(t, s, "after migrating", all)
}

// TestLedgerEntriesAreChecked plants entries that lead every lookup to the
// wrong outcome, as two texts sharing a hash would, and checks that the
// lookups still answer from the outcomes themselves.
func TestLedgerEntriesAreChecked(t *testing.T) {
	ctx := context.Background()
	s := open(t, WithCompactionInterval(0), withLedgerIndexing(1<<30, time.Hour))
	at := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	var all []sfsync.Outcome
	for i := range 10 {
		all = append(all, ledgerOutcome(i, at.Add(time.Duration(i)*time.Second)))
	}
	if err := s.RecordOutcomes(ctx, all); err != nil {
		t.Fatal(err)
	}
	if err := s.indexLedger(ctx); err != nil {
		t.Fatal(err)
	}
	// Every outcome's key, object and record also lead to every other seq.
	for _, o := range all {
		for seq := range int64(len(all)) {
			if _, err := s.w.ExecContext(ctx, `INSERT OR IGNORE INTO outcome_keys VALUES (?, ?)`, ledgerHash(o.Key), seq+1); err != nil {
				t.Fatal(err)
			}
			if _, err := s.w.ExecContext(ctx, `INSERT OR IGNORE INTO outcome_records VALUES (?, ?, ?)`, ledgerHash(o.Object), ledgerHash(o.RecordID), seq+1); err != nil {
				t.Fatal(err)
			}
		}
	}
	checkLedger(t, s, "with entries leading to other outcomes", all)
}
