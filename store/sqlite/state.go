package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/bits"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/store/internal/codec"
)

// LoadCheckpoint returns the committed position of stream, or an error
// matching [sfsync.ErrNotFound].
func (s *Store) LoadCheckpoint(ctx context.Context, stream string) (sfsync.Position, error) {
	if err := s.check(ctx); err != nil {
		return sfsync.Position{}, err
	}
	p := sfsync.Position{Stream: stream}
	err := s.r.QueryRowContext(ctx, `SELECT token FROM checkpoints WHERE stream = ?`, codec.Key(stream)).Scan(&p.Token)
	if errors.Is(err, sql.ErrNoRows) {
		return sfsync.Position{}, fmt.Errorf("sqlite: no checkpoint for stream %q; start from the source's configured fallback: %w", stream, sfsync.ErrNotFound)
	}
	if err != nil {
		return sfsync.Position{}, s.fail("load checkpoint of "+stream, err)
	}
	if p.Token == nil {
		p.Token = []byte{}
	}
	return p, nil
}

const checkpointSQL = `INSERT INTO checkpoints (stream, token, updated) VALUES (?, ?, ?)
	ON CONFLICT (stream) DO UPDATE SET token = excluded.token, updated = excluded.updated`

// SaveCheckpoint stores pos as the committed position of its stream.
func (s *Store) SaveCheckpoint(ctx context.Context, pos sfsync.Position) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	st, err := s.stmt(ctx, nil, checkpointSQL)
	if err != nil {
		return s.fail("prepare checkpoint", err)
	}
	_, err = st.ExecContext(ctx, codec.Key(pos.Stream), token(pos.Token), s.cfg.clock().UnixNano())
	return s.fail("save checkpoint of "+pos.Stream, err)
}

// token keeps an empty token from being stored as NULL.
func token(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// RecordOutcomes appends outcomes to the ledger in one transaction.
func (s *Store) RecordOutcomes(ctx context.Context, outcomes []sfsync.Outcome) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	if len(outcomes) == 0 {
		return nil
	}
	err := s.tx(ctx, "record outcomes", func(tx *sql.Tx) error { return s.insertOutcomes(ctx, tx, outcomes) })
	if err == nil {
		s.addedOutcomes(len(outcomes))
	}
	return err
}

const outcomeCols = `key, tenant, object, record_id, source, destination, op, status, reason, attempts, v_time, v_commit, v_seq, v_counter, pos_stream, pos_token, at`

func outcomeSQL(rows int) string {
	return `INSERT INTO outcomes (` + outcomeCols + `) VALUES ` + values(rows, 17)
}

// insertOutcomes appends os. Text goes in the stored form of package codec,
// so no value fails the commit; indexed columns are bounded like keys.
func (s *Store) insertOutcomes(ctx context.Context, tx *sql.Tx, os []sfsync.Outcome) error {
	return insertRows(ctx, s, tx, len(os), 17, outcomeSQL, nil, func(i int, a []any) []any {
		o := &os[i]
		return append(a, codec.Key(o.Key), codec.Long(o.Tenant), codec.Key(o.Object), codec.Key(o.RecordID),
			codec.Long(string(o.Source)), codec.Long(string(o.Destination)), codec.Long(string(o.Op)),
			codec.Key(string(o.Status)), codec.Long(o.Reason), o.Attempts, nanos(o.Version.Time), o.Version.Commit, o.Version.Seq,
			o.Version.Counter, codec.Long(o.Position.Stream), token(o.Position.Token), nanos(o.At))
	})
}

// maxParams keeps multi-row statements under SQLite's bound-parameter limit
// with room to spare; bigger statements gain nothing measurable.
const maxParams = 1000

// insertRows inserts n rows of cols columns with few statements of few
// distinct sizes: full chunks, then the remainder in power-of-two pieces,
// so every statement is prepared once and reused whatever the batch size
// (preparing a multi-row statement costs more than running it).
// tail, if set, is appended after the rows' arguments of every statement.
// s may be nil (a migration): statements are then prepared on tx for this
// use.
func insertRows(ctx context.Context, s *Store, tx *sql.Tx, n, cols int, query func(rows int) string, tail []any, row func(i int, args []any) []any) error {
	chunk := max(1, maxParams/cols)
	args := make([]any, 0, min(n, chunk)*cols+len(tail))
	for start := 0; start < n; {
		size := chunk
		if left := n - start; left < chunk {
			size = 1 << (bits.Len(uint(left)) - 1) // the largest power of two that fits
		}
		var st *sql.Stmt
		var err error
		if s == nil {
			st, err = tx.PrepareContext(ctx, query(size))
		} else {
			st, err = s.stmt(ctx, tx, query(size))
		}
		if err != nil {
			return err
		}
		args = args[:0]
		for i := start; i < start+size; i++ {
			args = row(i, args)
		}
		args = append(args, tail...)
		if _, err := st.ExecContext(ctx, args...); err != nil {
			return err
		}
		start += size
	}
	return nil
}

// Outcomes returns the outcomes matching q, oldest first; outcomes of the
// same time come in the order they were recorded.
func (s *Store) Outcomes(ctx context.Context, q sfsync.OutcomeQuery) ([]sfsync.Outcome, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	limit := q.Limit
	if limit <= 0 {
		limit = s.cfg.limit
	}
	query, args := outcomesQuery(codec.OutcomeQuery(q), limit)
	rows, err := s.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, s.fail("query outcomes", err)
	}
	defer rows.Close()
	var out []sfsync.Outcome
	for rows.Next() {
		var o sfsync.Outcome
		var src, dst, op, status string
		var vt, at int64
		if err := rows.Scan(&o.Key, &o.Tenant, &o.Object, &o.RecordID, &src, &dst, &op, &status, &o.Reason, &o.Attempts,
			&vt, &o.Version.Commit, &o.Version.Seq, &o.Version.Counter, &o.Position.Stream, &o.Position.Token, &at); err != nil {
			return nil, s.fail("read outcome", err)
		}
		o.Key, o.Tenant, o.Object, o.RecordID = codec.FromText(o.Key), codec.FromText(o.Tenant), codec.FromText(o.Object), codec.FromText(o.RecordID)
		o.Source, o.Destination = sfsync.System(codec.FromText(src)), sfsync.System(codec.FromText(dst))
		o.Op, o.Status = sfsync.Op(codec.FromText(op)), sfsync.Status(codec.FromText(status))
		o.Reason, o.Position.Stream = codec.FromText(o.Reason), codec.FromText(o.Position.Stream)
		o.Version.Time, o.At = fromNanos(vt), fromNanos(at)
		out = append(out, o)
	}
	return out, s.fail("query outcomes", rows.Err())
}

const deadLetterCols = `key, object, destination, err, kind, attempts, first_failed, last_failed, change`

// putDeadLetterSQL replaces a dead letter of the same key, adding up the
// attempts and keeping the earliest known first failure.
const putDeadLetterSQL = `INSERT INTO dead_letters (` + deadLetterCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT (key) DO UPDATE SET
		object = excluded.object, destination = excluded.destination, err = excluded.err, kind = excluded.kind,
		attempts = dead_letters.attempts + excluded.attempts,
		first_failed = CASE
			WHEN dead_letters.first_failed = -9223372036854775808 THEN excluded.first_failed
			WHEN excluded.first_failed = -9223372036854775808 THEN dead_letters.first_failed
			ELSE MIN(dead_letters.first_failed, excluded.first_failed) END,
		last_failed = excluded.last_failed, change = excluded.change`

// PutDeadLetter stores d, replacing an earlier dead letter of the same
// change key and adding up their attempts. The change is stored as JSON in
// the form of package codec: numbers come back as float64, values JSON
// cannot hold exactly (NaN, ±Inf, text that is not UTF-8 or holds NUL,
// byte slices) come back as they were, and values over its bounds or of
// types JSON has no form for come back described.
func (s *Store) PutDeadLetter(ctx context.Context, d sfsync.DeadLetter) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	return s.tx(ctx, "put dead letter "+d.Key(), func(tx *sql.Tx) error { return s.putDeadLetters(ctx, tx, []sfsync.DeadLetter{d}) })
}

func (s *Store) putDeadLetters(ctx context.Context, tx *sql.Tx, ds []sfsync.DeadLetter) error {
	for i := range ds {
		d := &ds[i]
		if d.Key() == "" {
			return fmt.Errorf("sqlite: dead letter of %s has no change key; set Change.Key: %w", d.Change.String(), sfsync.ErrInvalid)
		}
		st, err := s.stmt(ctx, tx, putDeadLetterSQL)
		if err != nil {
			return err
		}
		if _, err := st.ExecContext(ctx, codec.Key(d.Key()), codec.Key(d.Change.Object), codec.Long(string(d.Destination)),
			codec.Long(d.Err), int(d.Kind), d.Attempts, nanos(d.FirstFailed), nanos(d.LastFailed), codec.EncodeChange(d.Change)); err != nil {
			return err
		}
	}
	return nil
}

// DeadLetters returns the dead letters matching q, oldest last failure
// first.
func (s *Store) DeadLetters(ctx context.Context, q sfsync.DeadLetterQuery) ([]sfsync.DeadLetter, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	query, args := `SELECT `+deadLetterCols+` FROM dead_letters WHERE 1=1`, []any{}
	if q.Object != "" {
		query, args = query+` AND object = ?`, append(args, codec.Key(q.Object))
	}
	if !q.Since.IsZero() {
		query, args = query+` AND last_failed >= ?`, append(args, q.Since.UnixNano())
	}
	limit := q.Limit
	if limit <= 0 {
		limit = s.cfg.limit
	}
	rows, err := s.r.QueryContext(ctx, query+` ORDER BY last_failed, key LIMIT ?`, append(args, limit)...)
	if err != nil {
		return nil, s.fail("query dead letters", err)
	}
	defer rows.Close()
	var out []sfsync.DeadLetter
	for rows.Next() {
		d, err := scanDeadLetter(rows)
		if err != nil {
			return nil, s.fail("read dead letter", err)
		}
		out = append(out, d)
	}
	return out, s.fail("query dead letters", rows.Err())
}

// DeadLetter returns the dead letter of change key, or an error matching
// [sfsync.ErrNotFound].
func (s *Store) DeadLetter(ctx context.Context, key string) (sfsync.DeadLetter, error) {
	if err := s.check(ctx); err != nil {
		return sfsync.DeadLetter{}, err
	}
	d, err := scanDeadLetter(s.r.QueryRowContext(ctx, `SELECT `+deadLetterCols+` FROM dead_letters WHERE key = ?`, codec.Key(key)))
	if errors.Is(err, sql.ErrNoRows) {
		return sfsync.DeadLetter{}, fmt.Errorf("sqlite: no dead letter with key %q (requeued or purged?): %w", key, sfsync.ErrNotFound)
	}
	return d, s.fail("read dead letter "+key, err)
}

func scanDeadLetter(row interface{ Scan(...any) error }) (sfsync.DeadLetter, error) {
	var d sfsync.DeadLetter
	var key, object, dst string
	var kind int
	var first, last int64
	var change []byte
	if err := row.Scan(&key, &object, &dst, &d.Err, &kind, &d.Attempts, &first, &last, &change); err != nil {
		return d, err
	}
	c, err := codec.DecodeChange(change)
	if err != nil {
		return d, fmt.Errorf("decode change of dead letter %q: %w", codec.FromText(key), err)
	}
	d.Change = c
	d.Destination, d.Kind, d.Err = sfsync.System(codec.FromText(dst)), sfsync.Kind(kind), codec.FromText(d.Err)
	d.FirstFailed, d.LastFailed = fromNanos(first), fromNanos(last)
	if d.Change.Key == "" { // the change holds the key whole; the column may hold it cut
		d.Change.Key = codec.FromText(key)
	}
	return d, nil
}

// DeleteDeadLetter removes the dead letter of change key; deleting one that
// does not exist is not an error.
func (s *Store) DeleteDeadLetter(ctx context.Context, key string) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	_, err := s.w.ExecContext(ctx, `DELETE FROM dead_letters WHERE key = ?`, codec.Key(key))
	return s.fail("delete dead letter "+key, err)
}
