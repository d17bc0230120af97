package sqlite

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"strings"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/store/internal/codec"
)

// The version map holds one row per record and source, whose fields column
// packs the version of every field: an applied change writes one row, not
// one per field it set (nine rows for an eight-field update was most of a
// group commit's work). A put reads the rows of its records inside the
// writing transaction, overlays the new entries and writes the rows back.
//
// fields is a sequence of entries, each the field name's length (uvarint)
// and bytes, then the version's Unix seconds, nanoseconds, commit number,
// sequence number and counter (varints; the zero time is zeroTime seconds),
// then the hash of the field's value (uvarint; zero when unknown). Rows of
// schema versions before 7 have no hash (see versions_v1.go).

// fieldVersion is one entry of a packed row.
type fieldVersion struct {
	field string
	v     sfsync.Version
	hash  uint64
}

func appendFields(b []byte, fs []fieldVersion) []byte {
	for _, f := range fs {
		b = appendVersion(b, f)
		b = binary.AppendUvarint(b, f.hash)
	}
	return b
}

// appendVersion appends f's name and version, the part of an entry both
// forms share.
func appendVersion(b []byte, f fieldVersion) []byte {
	sec, nsec := unix(f.v.Time)
	b = binary.AppendUvarint(b, uint64(len(f.field)))
	b = append(b, f.field...)
	b = binary.AppendVarint(b, sec)
	b = binary.AppendVarint(b, nsec)
	b = binary.AppendVarint(b, f.v.Commit)
	b = binary.AppendVarint(b, f.v.Seq)
	return binary.AppendVarint(b, f.v.Counter)
}

var errBadFields = errors.New("sqlite: a packed version row is corrupt; restore the database or delete the row's record from record_versions")

func decodeFields(b []byte, fs []fieldVersion) ([]fieldVersion, error) {
	return decodeEntries(b, fs, true)
}

// decodeEntries decodes packed entries, with their hashes when hashed.
func decodeEntries(b []byte, fs []fieldVersion, hashed bool) ([]fieldVersion, error) {
	for len(b) > 0 {
		n, k := binary.Uvarint(b)
		if k <= 0 || uint64(len(b)-k) < n {
			return fs, errBadFields
		}
		f := fieldVersion{field: string(b[k : k+int(n)])}
		b = b[k+int(n):]
		var nums [5]int64
		for i := range nums {
			v, k := binary.Varint(b)
			if k <= 0 {
				return fs, errBadFields
			}
			nums[i], b = v, b[k:]
		}
		f.v = sfsync.Version{Time: fromUnix(nums[0], nums[1]), Commit: nums[2], Seq: nums[3], Counter: nums[4]}
		if hashed {
			h, k := binary.Uvarint(b)
			if k <= 0 {
				return fs, errBadFields
			}
			f.hash, b = h, b[k:]
		}
		fs = append(fs, f)
	}
	return fs, nil
}

// mergeFields appends to b the packed entries of stored with news laid
// over them: a stored field's entry is copied as it is unless news has the
// field, whose entry then takes its place; news' other fields follow in
// their order. Stored entries are never decoded, only their lengths read.
func mergeFields(b, stored []byte, news []fieldVersion) ([]byte, error) {
	var usedRoom [64]bool
	var used []bool
	if len(news) <= len(usedRoom) {
		used = usedRoom[:len(news)]
	} else {
		used = make([]bool, len(news))
	}
	for len(stored) > 0 {
		n, k := binary.Uvarint(stored)
		if k <= 0 || uint64(len(stored)-k) < n {
			return b, errBadFields
		}
		name := stored[k : k+int(n)]
		end := k + int(n)
		for range 5 {
			_, k := binary.Varint(stored[end:])
			if k <= 0 {
				return b, errBadFields
			}
			end += k
		}
		_, k = binary.Uvarint(stored[end:])
		if k <= 0 {
			return b, errBadFields
		}
		end += k
		i := slices.IndexFunc(news, func(f fieldVersion) bool { return f.field == string(name) })
		if i < 0 {
			b = append(b, stored[:end]...)
		} else {
			b, used[i] = appendFields(b, news[i:i+1]), true
		}
		stored = stored[end:]
	}
	for i := range news {
		if !used[i] {
			b = appendFields(b, news[i:i+1])
		}
	}
	return b, nil
}

// versionRow is one record and source of the map, in full and stored form.
type versionRow struct {
	record, source   string // as given
	kRecord, kSource string // as stored in the key columns
	fields           []fieldVersion
	// stored is the row's packed fields as stored, under fields (the new
	// entries) when putting.
	stored []byte
}

// set overlays v and its value hash on the row: the last entry of a field
// wins.
func (r *versionRow) set(field string, v sfsync.Version, hash uint64) {
	for i := range r.fields {
		if r.fields[i].field == field {
			r.fields[i].v, r.fields[i].hash = v, hash
			return
		}
	}
	r.fields = append(r.fields, fieldVersion{field, v, hash})
}

// scanVersionRow reads record, source, fields and names.
func scanVersionRow(rows *sql.Rows) (versionRow, error) {
	var r versionRow
	var fields, names []byte
	if err := rows.Scan(&r.kRecord, &r.kSource, &fields, &names); err != nil {
		return r, err
	}
	r.record, r.source = codec.FromText(r.kRecord), codec.FromText(r.kSource)
	if n := codec.FromNames(names); len(n) == 2 {
		r.record, r.source = n[0], n[1]
	}
	var err error
	r.fields, err = decodeFields(fields, nil)
	return r, err
}

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
		rows, err := s.r.QueryContext(ctx, versionRowsSQL(len(chunk)), args...)
		if err != nil {
			return nil, s.fail("look up applied versions", err)
		}
		for rows.Next() {
			r, err := scanVersionRow(rows)
			if err != nil {
				rows.Close()
				return nil, s.fail("read applied version", err)
			}
			for _, f := range r.fields {
				out = append(out, sfsync.AppliedVersion{Record: r.record, Source: sfsync.System(r.source), Field: f.field, Version: f.v, ValueHash: f.hash})
			}
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

func versionRowsSQL(records int) string {
	return `SELECT record, source, fields, names FROM record_versions WHERE record IN (` +
		strings.TrimSuffix(strings.Repeat("?,", records), ",") + `)`
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
	s.versionRows.mu.Lock()
	defer s.versionRows.mu.Unlock()
	var written []*versionRow
	err := s.tx(ctx, "put applied versions", func(tx *sql.Tx) (err error) {
		written, err = s.putVersions(ctx, tx, vs)
		return err
	})
	s.versionRows.settle(written, err == nil)
	return err
}

func putVersionsSQL(rows int) string {
	return `INSERT OR REPLACE INTO record_versions (record, source, fields, names) VALUES ` + values(rows, 4)
}

// putVersions overlays vs on the stored rows of their records inside tx,
// and returns the rows it wrote, for the version rows kept in memory once
// tx commits; s.versionRows.mu is held.
func (s *Store) putVersions(ctx context.Context, tx *sql.Tx, vs []sfsync.AppliedVersion) ([]*versionRow, error) {
	if len(vs) == 0 {
		return nil, nil
	}
	if err := s.versionRows.begin(ctx, tx); err != nil {
		return nil, fmt.Errorf("read the database's data version: %w", err)
	}
	type key struct{ record, source string }
	at := make(map[key]*versionRow, len(vs)/4+1)
	var order []*versionRow
	var records []string // whose rows are not kept in memory
	for i := range vs {
		v := &vs[i]
		k := key{codec.Key(v.Record), codec.Key(string(v.Source))}
		if at[k] == nil {
			r := &versionRow{record: v.Record, source: string(v.Source), kRecord: k.record, kSource: k.source}
			at[k], order = r, append(order, r)
			if kept, ok := s.versionRows.rows[versionKey(k)]; ok {
				r.stored = kept
			} else {
				records = append(records, k.record)
			}
		}
	}
	// The stored rows first, so that the new entries overlay them; they
	// stay packed (see mergeFields).
	err := eachChunk(ctx, s, tx, distinctKeys(records), versionRowsSQL, func(rows *sql.Rows) error {
		var k key
		var fields, names []byte
		if err := rows.Scan(&k.record, &k.source, &fields, &names); err != nil {
			return err
		}
		if r := at[k]; r != nil {
			r.stored = fields
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read the version rows to update: %w", err)
	}
	for i := range vs {
		v := &vs[i]
		at[key{codec.Key(v.Record), codec.Key(string(v.Source))}].set(v.Field, v.Version, v.ValueHash)
	}
	var buf []byte
	for _, r := range order {
		start := len(buf)
		if buf, err = mergeFields(buf, r.stored, r.fields); err != nil {
			return nil, fmt.Errorf("update the version row of %q from %s: %w", r.record, r.source, err)
		}
		r.stored = buf[start:len(buf):len(buf)]
	}
	err = insertRows(ctx, s, tx, len(order), 4, putVersionsSQL, nil, func(i int, a []any) []any {
		r := order[i]
		return append(a, r.kRecord, r.kSource, r.stored, codec.NamesIfCut(r.record, r.source))
	})
	if err != nil {
		return nil, err
	}
	return order, nil
}

// distinctKeys returns keys without repeats, in order.
func distinctKeys(keys []string) []string {
	seen := make(map[string]bool, len(keys))
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}

// eachChunk runs query(n) inside tx for args in chunks of at most 512,
// each chunk a power of two in size but the last, so that few distinct
// statements are prepared, and calls row for every row.
func eachChunk(ctx context.Context, s *Store, tx *sql.Tx, args []string, query func(n int) string, row func(*sql.Rows) error) error {
	for start := 0; start < len(args); {
		size := min(512, 1<<(bits.Len(uint(len(args)-start))-1))
		st, err := s.stmt(ctx, tx, query(size))
		if err != nil {
			return err
		}
		a := make([]any, size)
		for i := range a {
			a[i] = args[start+i]
		}
		rows, err := st.QueryContext(ctx, a...)
		if err != nil {
			return err
		}
		for rows.Next() {
			if err := row(rows); err != nil {
				rows.Close()
				return err
			}
		}
		if err := rows.Close(); err != nil {
			return err
		}
		if err := rows.Err(); err != nil {
			return err
		}
		start += size
	}
	return nil
}

// migrationSteps run in Go after the SQL of the migration of their
// version, in its transaction.
var migrationSteps = map[int]func(context.Context, *sql.Tx) error{3: packVersions, 4: fillPlaceKeys, 5: indexStoredLedger, 7: hashVersions}

// packVersions moves the rows of the per-field versions table into
// record_versions (in the form of schema version 3, see versions_v1.go), in key order and in slices of at most 10,000 rows, and
// drops the old table.
func packVersions(ctx context.Context, tx *sql.Tx) error {
	var cur *versionRow
	var pending []*versionRow
	flush := func() error {
		for _, r := range pending {
			if _, err := tx.ExecContext(ctx, `INSERT INTO record_versions (record, source, fields, names) VALUES (?, ?, ?, ?)`,
				r.kRecord, r.kSource, appendFieldsV1(nil, r.fields), codec.NamesIfCut(r.record, r.source)); err != nil {
				return err
			}
		}
		pending = pending[:0]
		return nil
	}
	after := []any{"", "", ""}
	first := true
	for {
		q := `SELECT record, source, field, v_sec, v_nsec, v_commit, v_seq, v_counter, names FROM versions`
		if !first {
			q += ` WHERE (record, source, field) > (?, ?, ?)`
		}
		q += ` ORDER BY record, source, field LIMIT 10000`
		var args []any
		if !first {
			args = after
		}
		rows, err := tx.QueryContext(ctx, q, args...)
		if err != nil {
			return fmt.Errorf("read the per-field versions: %w", err)
		}
		n := 0
		for rows.Next() {
			var kRecord, kSource, kField string
			var sec, nsec int64
			var v sfsync.Version
			var names []byte
			if err := rows.Scan(&kRecord, &kSource, &kField, &sec, &nsec, &v.Commit, &v.Seq, &v.Counter, &names); err != nil {
				rows.Close()
				return fmt.Errorf("read a per-field version: %w", err)
			}
			n++
			after = []any{kRecord, kSource, kField}
			record, source, field := codec.FromText(kRecord), codec.FromText(kSource), codec.FromText(kField)
			if full := codec.FromNames(names); len(full) == 3 {
				record, source, field = full[0], full[1], full[2]
			}
			v.Time = fromUnix(sec, nsec)
			if cur == nil || cur.kRecord != kRecord || cur.kSource != kSource {
				cur = &versionRow{record: record, source: source, kRecord: kRecord, kSource: kSource}
				pending = append(pending, cur)
			}
			cur.set(field, v, 0)
		}
		if err := rows.Close(); err != nil {
			return err
		}
		if err := rows.Err(); err != nil {
			return err
		}
		// The last row read may continue in the next slice: keep it.
		last := len(pending) - 1
		if n == 10000 && last >= 0 {
			keep := pending[last]
			pending = pending[:last]
			if err := flush(); err != nil {
				return err
			}
			pending = append(pending, keep)
		} else if err := flush(); err != nil {
			return err
		}
		if n < 10000 {
			break
		}
		first = false
	}
	_, err := tx.ExecContext(ctx, `DROP TABLE versions`)
	return err
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
