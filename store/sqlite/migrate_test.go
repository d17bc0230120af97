package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"
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
