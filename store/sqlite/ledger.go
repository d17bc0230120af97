package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/internal/sqlquery"
)

// The ledger's lookups by key and by record are served by two tables,
// outcome_keys and outcome_records, that a background loop fills in large
// sorted batches, never by the commit that appends the outcomes.
//
// An index of the ledger kept by the commit took an insert at a random
// spot per outcome and index; once an index is many times the size of one
// commit, each such insert dirties a page of its own, which the commit
// writes to the log and the checkpoint copies back, and the cost per
// outcome grows with the ledger (BENCHMARKS.md measures it). A batch of K
// entries sorted by key dirties each page of an index of N pages at most
// once, about N(1 − e^(−K/N)) pages in all, so entries cost a fraction of
// a page each once batches are as large as the index.
//
// ledger_index.upto is the newest outcome (by seq) whose entries are in
// the tables. A lookup reads the tables for outcomes up to it and scans
// the outcomes after it by seq, in one statement and so one snapshot, and
// checks every condition on the outcome row itself; an entry of an outcome
// that compaction deleted, or whose seq a newer outcome took, matches
// nothing. Outcomes take the seq after the largest one left, so compaction
// deleting the newest outcomes lowers upto with them, in its own
// transaction: a seq at most upto is never taken again.

// defaultLedgerBatch is how many outcomes after upto start a batch, and the
// most one batch takes: a lookup scans at most about this many outcomes
// besides its index entries, and a batch's memory grows with it, while the
// pages it dirties per entry shrink.
const defaultLedgerBatch = 65536

// defaultLedgerEvery is how often outcomes after upto are indexed however
// few they are, so that a quiet store's lookups scan few.
const defaultLedgerEvery = 30 * time.Second

// ledgerChunk is how many entries one transaction of a batch inserts: the
// batch's sorted entries go in as short transactions on the writer, between
// the engine's commits, each dirtying a run of neighbouring pages.
const ledgerChunk = 2048

// keyEntry and recordEntry are entries of the ledger's lookup tables.
type keyEntry struct{ key, seq int64 }
type recordEntry struct{ object, record, seq int64 }

// ledgerHash is the indexed form of a stored text in the ledger's lookup
// tables: its 64-bit FNV-1a hash. Stored entries depend on it, so it
// never changes.
func ledgerHash[T ~string | ~[]byte](b T) int64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(b); i++ {
		h ^= uint64(b[i])
		h *= 1099511628211
	}
	return int64(h)
}

const ledgerEntriesSQL = `SELECT key, object, record_id, seq FROM outcomes WHERE seq > ? AND seq <= ?`

// readLedgerEntries reads the entries of the rows of ledgerEntriesSQL,
// sorted as the tables keep them, and closes rows.
func readLedgerEntries(rows *sql.Rows) ([]keyEntry, []recordEntry, error) {
	defer rows.Close()
	var keys []keyEntry
	var records []recordEntry
	var key, object, record sql.RawBytes
	var seq int64
	for rows.Next() {
		if err := rows.Scan(&key, &object, &record, &seq); err != nil {
			return nil, nil, err
		}
		keys = append(keys, keyEntry{ledgerHash(key), seq})
		records = append(records, recordEntry{ledgerHash(object), ledgerHash(record), seq})
	}
	if err := rows.Close(); err != nil {
		return nil, nil, err
	}
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	slices.SortFunc(keys, func(a, b keyEntry) int { return cmp.Or(cmp.Compare(a.key, b.key), cmp.Compare(a.seq, b.seq)) })
	slices.SortFunc(records, func(a, b recordEntry) int {
		return cmp.Or(cmp.Compare(a.object, b.object), cmp.Compare(a.record, b.record), cmp.Compare(a.seq, b.seq))
	})
	return keys, records, nil
}

func keyEntriesSQL(rows int) string {
	return `INSERT OR IGNORE INTO outcome_keys (key_hash, seq) VALUES ` + values(rows, 2)
}

func recordEntriesSQL(rows int) string {
	return `INSERT OR IGNORE INTO outcome_records (object_hash, record_hash, seq) VALUES ` + values(rows, 3)
}

// insertLedgerEntries inserts entries into the ledger's lookup tables
// inside tx. s may be nil (a migration), then statements are prepared on
// tx for this use.
func insertLedgerEntries(ctx context.Context, s *Store, tx *sql.Tx, keys []keyEntry, records []recordEntry) error {
	err := insertRows(ctx, s, tx, len(keys), 2, keyEntriesSQL, nil, func(i int, a []any) []any {
		return append(a, keys[i].key, keys[i].seq)
	})
	if err != nil {
		return err
	}
	return insertRows(ctx, s, tx, len(records), 3, recordEntriesSQL, nil, func(i int, a []any) []any {
		return append(a, records[i].object, records[i].record, records[i].seq)
	})
}

// indexStoredLedger fills the lookup tables with the outcomes stored before
// they existed (migration 5), a slice of seqs at a time.
func indexStoredLedger(ctx context.Context, tx *sql.Tx) error {
	var newest int64
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM outcomes`).Scan(&newest); err != nil {
		return fmt.Errorf("read the newest outcome: %w", err)
	}
	const slice = 100_000
	for lo := int64(0); lo < newest; lo += slice {
		rows, err := tx.QueryContext(ctx, ledgerEntriesSQL, lo, lo+slice)
		if err != nil {
			return fmt.Errorf("read outcomes to index: %w", err)
		}
		keys, records, err := readLedgerEntries(rows)
		if err != nil {
			return fmt.Errorf("read outcomes to index: %w", err)
		}
		if err := insertLedgerEntries(ctx, nil, tx, keys, records); err != nil {
			return fmt.Errorf("index outcomes: %w", err)
		}
	}
	_, err := tx.ExecContext(ctx, `UPDATE ledger_index SET upto = ?`, newest)
	return err
}

// addedOutcomes tells the indexing loop that n outcomes were committed, and
// wakes it once enough are waiting.
func (s *Store) addedOutcomes(n int) {
	if n == 0 || s.ledgerPending.Add(int64(n)) < int64(s.cfg.ledgerBatch) {
		return
	}
	select {
	case s.ledgerWake <- struct{}{}:
	default:
	}
}

// ledgerLoop indexes the ledger's newest outcomes and moves the newest
// claims out of their log (see dedup.go), once a batch of either waits or
// at every tick.
func (s *Store) ledgerLoop() {
	defer close(s.ledgerDone)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-s.stop
		cancel()
	}()
	t := time.NewTicker(s.cfg.ledgerEvery)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-s.ledgerWake:
		case <-t.C:
		}
		if err := s.indexLedger(ctx); err != nil && ctx.Err() == nil && !s.closed.Load() {
			s.log.Warn("sqlite: indexing the ledger failed; lookups scan the newest outcomes until it runs again", "err", err)
		}
		if err := s.indexClaims(ctx); err != nil && ctx.Err() == nil && !s.closed.Load() {
			s.log.Warn("sqlite: moving claims out of their log failed; they stay there, and found, until it runs again", "err", err)
		}
	}
}

// indexLedger puts the entries of the outcomes after upto into the ledger's
// lookup tables, at most ledgerBatch outcomes at a time (whose entries it
// holds in memory, 40 bytes each), and moves upto past them.
func (s *Store) indexLedger(ctx context.Context) error {
	s.ledgerMu.Lock()
	defer s.ledgerMu.Unlock()
	for {
		s.ledgerPending.Store(0)
		var upto, newest int64
		if err := s.r.QueryRowContext(ctx, `SELECT upto, COALESCE((SELECT MAX(seq) FROM outcomes), 0) FROM ledger_index`).Scan(&upto, &newest); err != nil {
			return s.fail("read how far the ledger is indexed", err)
		}
		if newest <= upto {
			return nil
		}
		hi := min(newest, upto+int64(s.cfg.ledgerBatch))
		rows, err := s.r.QueryContext(ctx, ledgerEntriesSQL, upto, hi)
		if err != nil {
			return s.fail("read outcomes to index", err)
		}
		keys, records, err := readLedgerEntries(rows)
		if err != nil {
			return s.fail("read outcomes to index", err)
		}
		// In short transactions on the writer, between the engine's
		// commits, each dirtying a run of neighbouring pages.
		for len(keys) > 0 || len(records) > 0 {
			k, r := min(len(keys), ledgerChunk), min(len(records), ledgerChunk)
			err := s.tx(ctx, "index the ledger", func(tx *sql.Tx) error {
				return insertLedgerEntries(ctx, s, tx, keys[:k], records[:r])
			})
			if err != nil {
				return err
			}
			keys, records = keys[k:], records[r:]
		}
		// Compaction may have deleted the newest outcomes meanwhile (and
		// lowered upto): upto never passes the newest seq left, whose
		// successors are taken next.
		err = s.tx(ctx, "mark the ledger indexed", func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `UPDATE ledger_index SET upto = MIN(?, COALESCE((SELECT MAX(seq) FROM outcomes), 0)) WHERE upto = ?`, hi, upto)
			return err
		})
		if err != nil || hi == newest {
			return err
		}
	}
}

// outcomesQuery returns the query of the outcomes matching q (in stored
// form), oldest first and, among equal times, in the order recorded, with
// at most limit rows; and its arguments. A query by key or by object (and
// record) reads the ledger's lookup tables for the outcomes indexed and
// scans the rest.
func outcomesQuery(q sfsync.OutcomeQuery, limit int) (string, []any) {
	question := func(int) string { return "?" }
	var lookup string
	var lookupArgs []any
	switch {
	case q.Key != "":
		lookup, lookupArgs = `SELECT seq FROM outcome_keys WHERE key_hash = ?`, []any{ledgerHash(q.Key)}
	case q.Object != "" && q.RecordID != "":
		lookup, lookupArgs = `SELECT seq FROM outcome_records WHERE object_hash = ? AND record_hash = ?`, []any{ledgerHash(q.Object), ledgerHash(q.RecordID)}
	case q.Object != "":
		lookup, lookupArgs = `SELECT seq FROM outcome_records WHERE object_hash = ?`, []any{ledgerHash(q.Object)}
	default:
		return sqlquery.Outcomes(outcomeCols, q, limit, question)
	}
	// The conditions go in twice, each time with "?" parameters, which
	// SQLite numbers by position.
	where, args := sqlquery.OutcomeConditions(q, question)
	const upto = `(SELECT upto FROM ledger_index)`
	cond := strings.Join(where, " AND ")
	query := `SELECT ` + outcomeCols + ` FROM (` +
		`SELECT seq, ` + outcomeCols + ` FROM outcomes WHERE seq IN (` + lookup + ` AND seq <= ` + upto + `) AND ` + cond +
		` UNION ALL ` +
		`SELECT seq, ` + outcomeCols + ` FROM outcomes WHERE seq > ` + upto + ` AND ` + cond +
		`) ORDER BY at, seq LIMIT ?`
	all := make([]any, 0, len(lookupArgs)+2*len(args)+1)
	all = append(append(append(append(all, lookupArgs...), args...), args...), limit)
	return query, all
}

// deleteOldOutcomes deletes up to n of the outcomes recorded before
// before, oldest first, with their lookup entries, in one transaction, and
// returns how many it deleted.
func (s *Store) deleteOldOutcomes(ctx context.Context, before int64, n int) (int64, error) {
	var deleted int64
	err := s.tx(ctx, "delete old outcomes", func(tx *sql.Tx) error {
		const old = `SELECT seq FROM outcomes WHERE at < ?1 ORDER BY at, seq LIMIT ?2`
		rows, err := tx.QueryContext(ctx, `SELECT key, object, record_id, seq FROM outcomes WHERE seq IN (`+old+`)`, before, n)
		if err != nil {
			return err
		}
		keys, records, err := readLedgerEntries(rows)
		if err != nil {
			return err
		}
		delKey, err := s.stmt(ctx, tx, `DELETE FROM outcome_keys WHERE key_hash = ? AND seq = ?`)
		if err != nil {
			return err
		}
		for _, e := range keys {
			if _, err := delKey.ExecContext(ctx, e.key, e.seq); err != nil {
				return err
			}
		}
		delRecord, err := s.stmt(ctx, tx, `DELETE FROM outcome_records WHERE object_hash = ? AND record_hash = ? AND seq = ?`)
		if err != nil {
			return err
		}
		for _, e := range records {
			if _, err := delRecord.ExecContext(ctx, e.object, e.record, e.seq); err != nil {
				return err
			}
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM outcomes WHERE seq IN (`+old+`)`, before, n)
		if err != nil {
			return err
		}
		if deleted, err = res.RowsAffected(); err != nil {
			return err
		}
		// The next outcome takes the seq after the largest one left: an
		// index entry must not stand for it (see the top of this file).
		_, err = tx.ExecContext(ctx, `UPDATE ledger_index SET upto = MIN(upto, COALESCE((SELECT MAX(seq) FROM outcomes), 0))`)
		return err
	})
	return deleted, err
}
