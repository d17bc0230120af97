package postgres

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/store/internal/codec"
)

// AppliedVersions returns the entries stored for records, in one query.
func (s *Store) AppliedVersions(ctx context.Context, records []string) ([]sfsync.AppliedVersion, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	if len(records) == 0 {
		return nil, nil
	}
	var out []sfsync.AppliedVersion
	err := s.db.Conn(ctx, "look up applied versions", func(c *pgx.Conn) error {
		rows, err := c.Query(ctx, `SELECT record, source, field, v_sec, v_nsec, v_commit, v_seq, v_counter, v_hash, names
			FROM versions WHERE record = ANY($1)`, distinct(codec.Keys(records)))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var v sfsync.AppliedVersion
			var src string
			var sec, nsec, hash int64
			var names []byte
			if err := rows.Scan(&v.Record, &src, &v.Field, &sec, &nsec, &v.Version.Commit, &v.Version.Seq, &v.Version.Counter, &hash, &names); err != nil {
				return err
			}
			v.Record, v.Source, v.Field = codec.FromText(v.Record), sfsync.System(codec.FromText(src)), codec.FromText(v.Field)
			if n := codec.FromNames(names); len(n) == 3 {
				v.Record, v.Source, v.Field = n[0], sfsync.System(n[1]), n[2]
			}
			v.Version.Time, v.ValueHash = fromUnix(sec, nsec), uint64(hash)
			out = append(out, v)
		}
		return rows.Err()
	})
	return out, err
}

// PutAppliedVersions stores vs in one statement; the last entry of a
// (record, source, field) wins.
func (s *Store) PutAppliedVersions(ctx context.Context, vs []sfsync.AppliedVersion) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	if len(vs) == 0 {
		return nil
	}
	return s.db.Conn(ctx, "put applied versions", func(c *pgx.Conn) error {
		_, err := c.Exec(ctx, putVersionsSQL, versionArgs(vs)...)
		return err
	})
}

const putVersionsSQL = `INSERT INTO versions (record, source, field, v_sec, v_nsec, v_commit, v_seq, v_counter, v_hash, names)
	SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[], $10::bytea[])
	ON CONFLICT (record, source, field) DO UPDATE SET v_sec = excluded.v_sec, v_nsec = excluded.v_nsec,
		v_commit = excluded.v_commit, v_seq = excluded.v_seq, v_counter = excluded.v_counter, v_hash = excluded.v_hash, names = excluded.names`

// versionArgs returns the arrays of putVersionsSQL: the last entry of each
// key (one upsert may not touch a row twice), sorted by key so that
// concurrent commits lock rows in one order.
func versionArgs(vs []sfsync.AppliedVersion) []any {
	type row struct {
		record, source, field string
		v                     *sfsync.AppliedVersion
	}
	last := make(map[[3]string]int, len(vs))
	rows := make([]row, 0, len(vs))
	for i := range vs {
		v := &vs[i]
		r := row{codec.Key(v.Record), codec.Key(string(v.Source)), codec.Key(v.Field), v}
		k := [3]string{r.record, r.source, r.field}
		if j, ok := last[k]; ok {
			rows[j] = r
			continue
		}
		last[k] = len(rows)
		rows = append(rows, r)
	}
	slices.SortFunc(rows, func(a, b row) int {
		if c := strings.Compare(a.record, b.record); c != 0 {
			return c
		}
		if c := strings.Compare(a.source, b.source); c != 0 {
			return c
		}
		return strings.Compare(a.field, b.field)
	})
	n := len(rows)
	record, source, field := make([]string, n), make([]string, n), make([]string, n)
	sec, nsec, commit, seq, counter, hash := make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
	names := make([][]byte, n)
	for i, r := range rows {
		record[i], source[i], field[i] = r.record, r.source, r.field
		sec[i], nsec[i] = unix(r.v.Version.Time)
		commit[i], seq[i], counter[i] = r.v.Version.Commit, r.v.Version.Seq, r.v.Version.Counter
		hash[i] = int64(r.v.ValueHash) // the bits of the unsigned hash
		names[i] = codec.NamesIfCut(r.v.Record, string(r.v.Source), r.v.Field)
	}
	return []any{record, source, field, sec, nsec, commit, seq, counter, hash, names}
}

// unix splits t into Unix seconds and nanoseconds, which hold every
// time.Time exactly (Unix nanoseconds alone end in 2262); the zero time is
// zeroTime seconds.
func unix(t time.Time) (int64, int64) {
	if t.IsZero() {
		return zeroTime, 0
	}
	return t.Unix(), int64(t.Nanosecond())
}

func fromUnix(sec, nsec int64) time.Time {
	if sec == zeroTime {
		return time.Time{}
	}
	return time.Unix(sec, nsec).UTC()
}
