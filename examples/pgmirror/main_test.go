package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestRun runs the example against the test database in a schema of its
// own, dropped afterwards.
func TestRun(t *testing.T) {
	dsn := os.Getenv("SFSYNC_TEST_POSTGRES")
	if dsn == "" {
		t.Skip("SFSYNC_TEST_POSTGRES is not set; run `eval \"$(bash .ci/start-postgres.sh)\"` to get a database")
	}
	schema := fmt.Sprintf("example_pgmirror_%d", os.Getpid())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, `DROP SCHEMA IF EXISTS `+pgx.Identifier{schema}.Sanitize()+` CASCADE`); err != nil {
			t.Error(err)
		}
	})
	var out bytes.Buffer
	if err := run(t.Context(), &out, dsn, schema); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, want := range []string{
		"wrote [Phone] to salesforce",
		"echo of our own write (origin client sfsync)",
		"conflict_lost field ownership (): the target keeps every field; Email: owned by salesforce",
		"delete written to salesforce",
		"003000000000003AAA", // the Salesforce id written back into the inserted row
		"dead letters 0",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	// The columns are typed as the org describes the fields.
	c, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	for col, want := range map[string]string{"contact.do_not_call": "boolean", "account.annual_revenue": "numeric", "contact.email": "text"} {
		tbl, name, _ := strings.Cut(col, ".")
		var got string
		if err := c.QueryRow(t.Context(), `SELECT data_type FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 AND column_name = $3`,
			schema, tbl, name).Scan(&got); err != nil || got != want {
			t.Errorf("column %s is %q (%v), want %s as the describe's field type says", col, got, err, want)
		}
	}
	t.Log(out.String())
}
