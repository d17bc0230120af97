package sqlite

import (
	"context"
	"database/sql"
	"fmt"
)

// The packed version rows of schema versions 3 to 6 had no value hash:
// each entry was the field name and the version alone. Migration 3 writes
// rows in that form (migration 7 then rewrites them), and migration 7
// reads them.

func appendFieldsV1(b []byte, fs []fieldVersion) []byte {
	for _, f := range fs {
		b = appendVersion(b, f)
	}
	return b
}

// hashVersions rewrites every packed row in the form with value hashes,
// each entry's hash unknown, in key order and slices of at most 10,000
// rows.
func hashVersions(ctx context.Context, tx *sql.Tx) error {
	after := []any{"", ""}
	first := true
	for {
		q := `SELECT record, source, fields FROM record_versions`
		var args []any
		if !first {
			q += ` WHERE (record, source) > (?, ?)`
			args = after
		}
		q += ` ORDER BY record, source LIMIT 10000`
		rows, err := tx.QueryContext(ctx, q, args...)
		if err != nil {
			return fmt.Errorf("read the version rows: %w", err)
		}
		type row struct {
			record, source string
			fields         []byte
		}
		var read []row
		for rows.Next() {
			var r row
			var old []byte
			if err := rows.Scan(&r.record, &r.source, &old); err != nil {
				rows.Close()
				return fmt.Errorf("read a version row: %w", err)
			}
			fs, err := decodeEntries(old, nil, false)
			if err != nil {
				rows.Close()
				return fmt.Errorf("read the version row of %q from %s: %w", r.record, r.source, err)
			}
			r.fields = appendFields(nil, fs)
			read = append(read, r)
		}
		if err := rows.Close(); err != nil {
			return err
		}
		if err := rows.Err(); err != nil {
			return err
		}
		for _, r := range read {
			if _, err := tx.ExecContext(ctx, `UPDATE record_versions SET fields = ? WHERE record = ? AND source = ?`, r.fields, r.record, r.source); err != nil {
				return fmt.Errorf("rewrite the version row of %q from %s: %w", r.record, r.source, err)
			}
		}
		if len(read) < 10000 {
			return nil
		}
		last := read[len(read)-1]
		after, first = []any{last.record, last.source}, false
	}
}
