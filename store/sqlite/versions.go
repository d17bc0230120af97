package sqlite

import (
	"context"
	"database/sql"
	"strings"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/store/internal/codec"
)

// AppliedVersions returns the entries stored for records, in one query per
// 500 records on the reader pool.
func (s *Store) AppliedVersions(ctx context.Context, records []string) ([]sfsync.AppliedVersion, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	var out []sfsync.AppliedVersion
	stored := distinctStored(records)
	for start := 0; start < len(stored); start += 500 {
		chunk := stored[start:min(len(stored), start+500)]
		args := make([]any, len(chunk))
		for i, r := range chunk {
			args[i] = r
		}
		rows, err := s.r.QueryContext(ctx, `SELECT record, source, field, v_sec, v_nsec, v_commit, v_seq, v_counter, names FROM versions
			WHERE record IN (`+strings.TrimSuffix(strings.Repeat("?,", len(chunk)), ",")+`)`, args...)
		if err != nil {
			return nil, s.fail("look up applied versions", err)
		}
		for rows.Next() {
			var v sfsync.AppliedVersion
			var src string
			var sec, nsec int64
			var names []byte
			if err := rows.Scan(&v.Record, &src, &v.Field, &sec, &nsec, &v.Version.Commit, &v.Version.Seq, &v.Version.Counter, &names); err != nil {
				rows.Close()
				return nil, s.fail("read applied version", err)
			}
			v.Record, v.Source, v.Field = codec.FromText(v.Record), sfsync.System(codec.FromText(src)), codec.FromText(v.Field)
			if n := codec.FromNames(names); len(n) == 3 {
				v.Record, v.Source, v.Field = n[0], sfsync.System(n[1]), n[2]
			}
			v.Version.Time = fromUnix(sec, nsec)
			out = append(out, v)
		}
		if err := rows.Close(); err != nil {
			return nil, s.fail("look up applied versions", err)
		}
		if err := rows.Err(); err != nil {
			return nil, s.fail("look up applied versions", err)
		}
	}
	return out, nil
}

// distinctStored returns the stored forms of records, each once.
func distinctStored(records []string) []string {
	seen := make(map[string]bool, len(records))
	out := make([]string, 0, len(records))
	for _, r := range records {
		k := codec.Key(r)
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}

// PutAppliedVersions stores vs in one transaction; the last entry of a
// (record, source, field) wins.
func (s *Store) PutAppliedVersions(ctx context.Context, vs []sfsync.AppliedVersion) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	if len(vs) == 0 {
		return nil
	}
	return s.tx(ctx, "put applied versions", func(tx *sql.Tx) error { return s.putVersions(ctx, tx, vs) })
}

// putVersionsSQL upserts rows in order, so a later row of one key replaces
// an earlier one of the same statement.
func putVersionsSQL(rows int) string {
	return `INSERT INTO versions (record, source, field, v_sec, v_nsec, v_commit, v_seq, v_counter, names) VALUES ` + values(rows, 9) +
		` ON CONFLICT (record, source, field) DO UPDATE SET v_sec = excluded.v_sec, v_nsec = excluded.v_nsec,
		v_commit = excluded.v_commit, v_seq = excluded.v_seq, v_counter = excluded.v_counter, names = excluded.names`
}

func (s *Store) putVersions(ctx context.Context, tx *sql.Tx, vs []sfsync.AppliedVersion) error {
	return insertRows(ctx, s, tx, len(vs), 9, putVersionsSQL, nil, func(i int, a []any) []any {
		v := &vs[i]
		sec, nsec := unix(v.Version.Time)
		return append(a, codec.Key(v.Record), codec.Key(string(v.Source)), codec.Key(v.Field), sec, nsec,
			v.Version.Commit, v.Version.Seq, v.Version.Counter, codec.NamesIfCut(v.Record, string(v.Source), v.Field))
	})
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
