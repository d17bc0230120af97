package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestMigrateKeepsRememberedWrites upgrades a schema of version 1, whose
// echo fingerprints were a set, and checks that each becomes one
// remembered write at its place.
func TestMigrateKeepsRememberedWrites(t *testing.T) {
	ctx := context.Background()
	name := schema(t)
	c, err := pgx.Connect(ctx, dsn(t))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	v1, err := migrations.ReadFile("migrations/0001_init.sql")
	if err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(time.Hour).UnixNano()
	tx, err := c.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`CREATE SCHEMA ` + pgx.Identifier{name}.Sanitize(),
		`SET LOCAL search_path = ` + pgx.Identifier{name}.Sanitize(),
		`CREATE TABLE schema_version (version integer PRIMARY KEY, applied bigint NOT NULL)`,
		string(v1),
		`INSERT INTO schema_version VALUES (1, 0)`,
	} {
		if _, err := tx.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	for _, fp := range []string{"sf/Contact/003A/Phone.h1", "nodot", "a.b.c"} {
		if _, err := tx.Exec(ctx, `INSERT INTO echoes VALUES ($1, $2)`, fp, exp); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}

	s := openIn(t, name)
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
