package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/internal/sqlquery"
	"github.com/sfsync/sfsync/store/internal/codec"
)

// Seen reports whether key was claimed and has not expired.
func (s *Store) Seen(ctx context.Context, key string) (bool, error) {
	if err := s.check(ctx); err != nil {
		return false, err
	}
	var seen bool
	err := s.db.Conn(ctx, "look up dedup key "+key, func(c *pgx.Conn) error {
		return c.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM dedup WHERE key = $1 AND expires > $2)`, codec.Key(key), s.cfg.clock().UnixNano()).Scan(&seen)
	})
	return seen, err
}

// SeenMany reports which of keys are claimed and live, in one query.
func (s *Store) SeenMany(ctx context.Context, keys []string) (map[string]bool, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	seen := make(map[string]bool)
	// Keys are looked up in their stored form and answered in the caller's.
	stored := make(map[string][]string, len(keys))
	for _, k := range keys {
		stored[codec.Key(k)] = append(stored[codec.Key(k)], k)
	}
	err := s.db.Conn(ctx, "look up dedup keys", func(c *pgx.Conn) error {
		rows, err := c.Query(ctx, `SELECT key FROM dedup WHERE key = ANY($1) AND expires > $2`, codec.Keys(keys), s.cfg.clock().UnixNano())
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var k string
			if err := rows.Scan(&k); err != nil {
				return err
			}
			for _, orig := range stored[k] {
				seen[orig] = true
			}
		}
		return rows.Err()
	})
	return seen, err
}

// claimSQL inserts a key, or takes over an expired one; a live key is left
// alone, so the statement changes a row exactly when the claim is won.
// Concurrent claims of one key queue on its index entry, and the losers
// see the winner's live expiry.
const claimSQL = `INSERT INTO dedup (key, expires) VALUES ($1, $2)
	ON CONFLICT (key) DO UPDATE SET expires = excluded.expires WHERE dedup.expires <= $3`

// claimsSQL is claimSQL for an array of distinct keys.
const claimsSQL = `INSERT INTO dedup (key, expires) SELECT k, $2 FROM unnest($1::text[]) AS k
	ON CONFLICT (key) DO UPDATE SET expires = excluded.expires WHERE dedup.expires <= $3`

// Claim records key for ttl and reports whether the caller was first.
func (s *Store) Claim(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	if err := s.check(ctx); err != nil {
		return false, err
	}
	now := s.cfg.clock()
	var won bool
	err := s.db.Conn(ctx, "claim dedup key "+key, func(c *pgx.Conn) error {
		tag, err := c.Exec(ctx, claimSQL, codec.Key(key), now.Add(ttl).UnixNano(), now.UnixNano())
		won = tag.RowsAffected() == 1
		return err
	})
	return won, err
}

// LoadCheckpoint returns the committed position of stream, or an error
// matching [sfsync.ErrNotFound].
func (s *Store) LoadCheckpoint(ctx context.Context, stream string) (sfsync.Position, error) {
	if err := s.check(ctx); err != nil {
		return sfsync.Position{}, err
	}
	p := sfsync.Position{Stream: stream}
	err := s.db.Conn(ctx, "load checkpoint of "+stream, func(c *pgx.Conn) error {
		err := c.QueryRow(ctx, `SELECT token FROM checkpoints WHERE stream = $1`, codec.Key(stream)).Scan(&p.Token)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("postgres: no checkpoint for stream %q; start from the source's configured fallback: %w", stream, sfsync.ErrNotFound)
		}
		return err
	})
	if err != nil {
		return sfsync.Position{}, err
	}
	p.Token = token(p.Token)
	return p, nil
}

// checkpointsSQL upserts an array of distinct streams with their tokens.
const checkpointsSQL = `INSERT INTO checkpoints (stream, token, updated)
	SELECT stream, token, $3 FROM unnest($1::text[], $2::bytea[]) AS u (stream, token)
	ON CONFLICT (stream) DO UPDATE SET token = excluded.token, updated = excluded.updated`

// SaveCheckpoint stores pos as the committed position of its stream.
func (s *Store) SaveCheckpoint(ctx context.Context, pos sfsync.Position) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	return s.db.Conn(ctx, "save checkpoint of "+pos.Stream, func(c *pgx.Conn) error {
		_, err := c.Exec(ctx, `INSERT INTO checkpoints (stream, token, updated) VALUES ($1, $2, $3)
			ON CONFLICT (stream) DO UPDATE SET token = excluded.token, updated = excluded.updated`,
			codec.Key(pos.Stream), token(pos.Token), s.cfg.clock().UnixNano())
		return err
	})
}

// distinct returns the strings of ss once each, sorted: one upsert may not
// touch a row twice, and rows locked in one order cannot deadlock.
func distinct(ss []string) []string {
	out := slices.Clone(ss)
	slices.Sort(out)
	return slices.Compact(out)
}

// RecordOutcomes appends outcomes to the ledger in one statement.
func (s *Store) RecordOutcomes(ctx context.Context, outcomes []sfsync.Outcome) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	if len(outcomes) == 0 {
		return nil
	}
	return s.db.Conn(ctx, "record outcomes", func(c *pgx.Conn) error {
		_, err := c.Exec(ctx, outcomesSQL, outcomeArgs(outcomes)...)
		return err
	})
}

const outcomeCols = `key, tenant, object, record_id, source, destination, op, status, reason, attempts, v_time, v_commit, v_seq, v_counter, pos_stream, pos_token, at`

// outcomesSQL inserts outcomes from 17 arrays, one per column, in array
// order, so that seq follows the order they were given in.
const outcomesSQL = `INSERT INTO outcomes (` + outcomeCols + `)
	SELECT ` + outcomeCols + ` FROM unnest(
		$1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[],
		$10::integer[], $11::bigint[], $12::bigint[], $13::bigint[], $14::bigint[], $15::text[], $16::bytea[], $17::bigint[]
	) WITH ORDINALITY AS u (` + outcomeCols + `, ord) ORDER BY ord`

// outcomeArgs returns the arrays of outcomesSQL. Text goes in the stored
// form of package codec, so no value fails the commit with a data error;
// indexed columns are bounded like keys.
func outcomeArgs(os []sfsync.Outcome) []any {
	n := len(os)
	col := func() []string { return make([]string, 0, n) }
	key, tenant, object, rec, src, dst, op, status, reason, posStream := col(), col(), col(), col(), col(), col(), col(), col(), col(), col()
	attempts := make([]int32, 0, n)
	vTime, vCommit, vSeq, vCounter, at := make([]int64, 0, n), make([]int64, 0, n), make([]int64, 0, n), make([]int64, 0, n), make([]int64, 0, n)
	tokens := make([][]byte, 0, n)
	for i := range os {
		o := &os[i]
		key, tenant = append(key, codec.Key(o.Key)), append(tenant, codec.Long(o.Tenant))
		object, rec = append(object, codec.Key(o.Object)), append(rec, codec.Key(o.RecordID))
		src, dst = append(src, codec.Long(string(o.Source))), append(dst, codec.Long(string(o.Destination)))
		op, status = append(op, codec.Long(string(o.Op))), append(status, codec.Key(string(o.Status)))
		reason = append(reason, codec.Long(o.Reason))
		attempts = append(attempts, int32s(o.Attempts))
		vTime, vCommit = append(vTime, nanos(o.Version.Time)), append(vCommit, o.Version.Commit)
		vSeq, vCounter = append(vSeq, o.Version.Seq), append(vCounter, o.Version.Counter)
		posStream, tokens = append(posStream, codec.Long(o.Position.Stream)), append(tokens, token(o.Position.Token))
		at = append(at, nanos(o.At))
	}
	return []any{key, tenant, object, rec, src, dst, op, status, reason, attempts, vTime, vCommit, vSeq, vCounter, posStream, tokens, at}
}

// int32s clamps n into an integer column.
func int32s(n int) int32 { return int32(min(max(n, math.MinInt32), math.MaxInt32)) }

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
	query, args := sqlquery.Outcomes(outcomeCols, codec.OutcomeQuery(q), limit, func(n int) string { return "$" + strconv.Itoa(n) })
	var out []sfsync.Outcome
	err := s.db.Conn(ctx, "query outcomes", func(c *pgx.Conn) error {
		rows, err := c.Query(ctx, query, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var o sfsync.Outcome
			var src, dst, op, status string
			var vt, at int64
			if err := rows.Scan(&o.Key, &o.Tenant, &o.Object, &o.RecordID, &src, &dst, &op, &status, &o.Reason, &o.Attempts,
				&vt, &o.Version.Commit, &o.Version.Seq, &o.Version.Counter, &o.Position.Stream, &o.Position.Token, &at); err != nil {
				return fmt.Errorf("read outcome: %w", err)
			}
			o.Key, o.Tenant, o.Object, o.RecordID = codec.FromText(o.Key), codec.FromText(o.Tenant), codec.FromText(o.Object), codec.FromText(o.RecordID)
			o.Source, o.Destination = sfsync.System(codec.FromText(src)), sfsync.System(codec.FromText(dst))
			o.Op, o.Status = sfsync.Op(codec.FromText(op)), sfsync.Status(codec.FromText(status))
			o.Reason, o.Position.Stream = codec.FromText(o.Reason), codec.FromText(o.Position.Stream)
			o.Version.Time, o.At = fromNanos(vt), fromNanos(at)
			out = append(out, o)
		}
		return rows.Err()
	})
	return out, err
}

const deadLetterCols = `key, object, destination, err, kind, attempts, first_failed, last_failed, change`

// putDeadLetterSQL replaces a dead letter of the same key, adding up the
// attempts and keeping the earliest known first failure.
const putDeadLetterSQL = `INSERT INTO dead_letters (` + deadLetterCols + `) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
	ON CONFLICT (key) DO UPDATE SET
		object = excluded.object, destination = excluded.destination, err = excluded.err, kind = excluded.kind,
		attempts = dead_letters.attempts + excluded.attempts,
		first_failed = CASE
			WHEN dead_letters.first_failed = -9223372036854775808 THEN excluded.first_failed
			WHEN excluded.first_failed = -9223372036854775808 THEN dead_letters.first_failed
			ELSE LEAST(dead_letters.first_failed, excluded.first_failed) END,
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
	args, err := deadLetterArgs(&d)
	if err != nil {
		return err
	}
	return s.db.Conn(ctx, "put dead letter "+d.Key(), func(c *pgx.Conn) error {
		_, err := c.Exec(ctx, putDeadLetterSQL, args...)
		return err
	})
}

// deadLetterArgs checks d and returns the arguments of putDeadLetterSQL.
func deadLetterArgs(d *sfsync.DeadLetter) ([]any, error) {
	if d.Key() == "" {
		return nil, fmt.Errorf("postgres: dead letter of %s has no change key; set Change.Key: %w", d.Change.String(), sfsync.ErrInvalid)
	}
	return []any{codec.Key(d.Key()), codec.Key(d.Change.Object), codec.Long(string(d.Destination)), codec.Long(d.Err),
		int32s(int(d.Kind)), int32s(d.Attempts), nanos(d.FirstFailed), nanos(d.LastFailed), codec.EncodeChange(d.Change)}, nil
}

// DeadLetters returns the dead letters matching q, oldest last failure
// first.
func (s *Store) DeadLetters(ctx context.Context, q sfsync.DeadLetterQuery) ([]sfsync.DeadLetter, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	query, args := `SELECT `+deadLetterCols+` FROM dead_letters WHERE true`, []any{}
	if q.Object != "" {
		args = append(args, codec.Key(q.Object))
		query += ` AND object = $` + strconv.Itoa(len(args))
	}
	if !q.Since.IsZero() {
		args = append(args, q.Since.UnixNano())
		query += ` AND last_failed >= $` + strconv.Itoa(len(args))
	}
	limit := q.Limit
	if limit <= 0 {
		limit = s.cfg.limit
	}
	args = append(args, limit)
	query += ` ORDER BY last_failed, key LIMIT $` + strconv.Itoa(len(args))
	var out []sfsync.DeadLetter
	err := s.db.Conn(ctx, "query dead letters", func(c *pgx.Conn) error {
		rows, err := c.Query(ctx, query, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			d, err := scanDeadLetter(rows)
			if err != nil {
				return fmt.Errorf("read dead letter: %w", err)
			}
			out = append(out, d)
		}
		return rows.Err()
	})
	return out, err
}

// DeadLetter returns the dead letter of change key, or an error matching
// [sfsync.ErrNotFound].
func (s *Store) DeadLetter(ctx context.Context, key string) (sfsync.DeadLetter, error) {
	if err := s.check(ctx); err != nil {
		return sfsync.DeadLetter{}, err
	}
	var d sfsync.DeadLetter
	err := s.db.Conn(ctx, "read dead letter "+key, func(c *pgx.Conn) error {
		var err error
		d, err = scanDeadLetter(c.QueryRow(ctx, `SELECT `+deadLetterCols+` FROM dead_letters WHERE key = $1`, codec.Key(key)))
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("postgres: no dead letter with key %q (requeued or purged?): %w", key, sfsync.ErrNotFound)
		}
		return err
	})
	return d, err
}

func scanDeadLetter(row pgx.Row) (sfsync.DeadLetter, error) {
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
	return s.db.Conn(ctx, "delete dead letter "+key, func(c *pgx.Conn) error {
		_, err := c.Exec(ctx, `DELETE FROM dead_letters WHERE key = $1`, codec.Key(key))
		return err
	})
}
