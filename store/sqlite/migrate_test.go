package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/store/internal/codec"
)

// TestMigrateKeepsRememberedWrites upgrades a database of schema version 1,
// whose echo fingerprints were a set, and checks that each becomes one
// remembered write at its place.
func TestMigrateKeepsRememberedWrites(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "v1.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	v1, err := migrations.ReadFile("migrations/0001_init.sql")
	if err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(time.Hour).UnixNano()
	for _, q := range []string{
		`CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied INTEGER NOT NULL)`,
		string(v1),
		`INSERT INTO schema_version VALUES (1, 0)`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	for _, fp := range []string{"sf/Contact/003A/Phone.h1", "nodot", "a.b.c"} {
		if _, err := db.ExecContext(ctx, `INSERT INTO echoes VALUES (?, ?)`, fp, exp); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	s, err := Open(ctx, path, WithCompactionInterval(0))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// In order: a match consumes the write at its place, whatever the value,
	// so "a.b.c " after "a.b.c" finds its place empty.
	for _, tc := range []struct {
		fp   string
		want bool
	}{{"sf/Contact/003A/Phone.h2", false}, {"nodot", true}, {"a.b.c", true}, {"a.b.c ", false}} {
		if got, err := s.MatchWrite(ctx, tc.fp); err != nil || got != tc.want {
			t.Errorf("after migrating, MatchWrite(%q) = %v, %v; want %v", tc.fp, got, err, tc.want)
		}
	}
}

// TestMigratePacksVersions upgrades a database of schema version 2, whose
// version map had a row per field, and checks that every entry comes back
// exactly: names too long for the key columns, the zero time, and a record
// whose fields span the slices the migration reads in.
func TestMigratePacksVersions(t *testing.T) {
	ctx := context.Background()
	path, db := schemaV2(t)
	long := "Contact/" + strings.Repeat("x", 900)
	t0 := time.Date(2026, 11, 2, 9, 0, 0, 123456789, time.UTC)
	var want []sfsync.AppliedVersion
	add := func(record string, src sfsync.System, field string, v sfsync.Version) {
		want = append(want, sfsync.AppliedVersion{Record: record, Source: src, Field: field, Version: v})
	}
	for i := range 12_000 { // more than one slice of 10,000, all of one record
		add("Contact/003A", sfsync.Salesforce, fmt.Sprintf("F%05d", i), sfsync.Version{Time: t0.Add(time.Duration(i)), Commit: int64(i), Seq: -1})
	}
	add("Contact/003A", sfsync.External("erp"), "", sfsync.Version{Counter: 7})
	add(long, sfsync.Salesforce, "Phone", sfsync.Version{Time: t0})
	add("Contact/003B", sfsync.Salesforce, strings.Repeat("f", 900), sfsync.Version{})
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range want {
		sec, nsec := unix(v.Version.Time)
		if _, err := tx.ExecContext(ctx, `INSERT INTO versions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			codec.Key(v.Record), codec.Key(string(v.Source)), codec.Key(v.Field), sec, nsec,
			v.Version.Commit, v.Version.Seq, v.Version.Counter, codec.NamesIfCut(v.Record, string(v.Source), v.Field)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	db.Close()

	s, err := Open(ctx, path, WithCompactionInterval(0))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.AppliedVersions(ctx, []string{"Contact/003A", long, "Contact/003B"})
	if err != nil {
		t.Fatal(err)
	}
	key := func(v sfsync.AppliedVersion) string { return v.Record + "\x00" + string(v.Source) + "\x00" + v.Field }
	byKey := map[string]sfsync.Version{}
	for _, v := range got {
		byKey[key(v)] = v.Version
	}
	if len(got) != len(want) || len(byKey) != len(want) {
		t.Fatalf("after migrating, %d entries (%d distinct), want %d", len(got), len(byKey), len(want))
	}
	for _, w := range want {
		g, ok := byKey[key(w)]
		if !ok || !g.Time.Equal(w.Version.Time) || g.Time.IsZero() != w.Version.Time.IsZero() ||
			g.Commit != w.Version.Commit || g.Seq != w.Version.Seq || g.Counter != w.Version.Counter {
			t.Fatalf("after migrating, %.40q/%s/%.40q = %+v (found %v), want %+v", w.Record, w.Source, w.Field, g, ok, w.Version)
		}
	}
	var old int
	if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE name = 'versions'`).Scan(&old); err != nil || old != 0 {
		t.Errorf("the per-field versions table is still there (%d, %v)", old, err)
	}
}

// schemaV2 makes a database of schema version 2 (migrations 1 and 2
// applied) in a file of its own, and returns its path and an open handle.
func schemaV2(t *testing.T) (string, *sql.DB) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "v2.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	qs := []string{`CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied INTEGER NOT NULL)`}
	for _, f := range []string{"migrations/0001_init.sql", "migrations/0002_versions_echo_writes.sql"} {
		b, err := migrations.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		qs = append(qs, string(b))
	}
	qs = append(qs, `INSERT INTO schema_version VALUES (1, 0), (2, 0)`)
	for _, q := range qs {
		if _, err := db.ExecContext(context.Background(), q); err != nil {
			t.Fatal(err)
		}
	}
	return path, db
}

// TestMigrateHashesVersionRows upgrades a database of schema version 6,
// whose packed version rows had no value hashes, across more than one
// slice of the migration's reads, and checks that every entry comes back
// with its version and an unknown hash, and that entries put since keep
// theirs.
func TestMigrateHashesVersionRows(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "v6.db")
	s, err := Open(ctx, path, WithCompactionInterval(0))
	if err != nil {
		t.Fatal(err)
	}
	// The rows of schema version 6, written by hand in that form.
	t0 := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	const records = 10_001
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range records {
		fs := []fieldVersion{{field: "", v: sfsync.Version{Time: t0.Add(time.Duration(i) * time.Second), Commit: int64(i)}},
			{field: "Phone", v: sfsync.Version{Time: t0, Seq: int64(i)}}}
		if _, err := tx.ExecContext(ctx, `INSERT INTO record_versions (record, source, fields) VALUES (?, ?, ?)`,
			fmt.Sprintf("Contact/%06d", i), string(sfsync.Salesforce), appendFieldsV1(nil, fs)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM schema_version WHERE version >= 7`); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s, err = Open(ctx, path, WithCompactionInterval(0))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var keys []string
	for i := range records {
		keys = append(keys, fmt.Sprintf("Contact/%06d", i))
	}
	got, err := s.AppliedVersions(ctx, keys)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2*records {
		t.Fatalf("after migrating, %d entries, want %d", len(got), 2*records)
	}
	for _, v := range got {
		var i int
		if _, err := fmt.Sscanf(v.Record, "Contact/%06d", &i); err != nil {
			t.Fatal(err)
		}
		want := sfsync.Version{Time: t0, Seq: int64(i)}
		if v.Field == "" {
			want = sfsync.Version{Time: t0.Add(time.Duration(i) * time.Second), Commit: int64(i)}
		}
		if v.Version.Compare(want) != 0 || v.ValueHash != 0 {
			t.Fatalf("after migrating, %s/%q = %+v hash %d, want %+v and no hash", v.Record, v.Field, v.Version, v.ValueHash, want)
		}
	}
	put := sfsync.AppliedVersion{Record: "Contact/000007", Source: sfsync.Salesforce, Field: "Email", Version: sfsync.Version{Time: t0}, ValueHash: 1 << 63}
	if err := s.PutAppliedVersions(ctx, []sfsync.AppliedVersion{put}); err != nil {
		t.Fatal(err)
	}
	got, err = s.AppliedVersions(ctx, []string{put.Record})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("after a put, %d entries of %s, want 3", len(got), put.Record)
	}
	for _, v := range got {
		if v.Field == "Email" && v.ValueHash != put.ValueHash {
			t.Errorf("Email's hash = %d, want %d", v.ValueHash, put.ValueHash)
		}
	}
}
