package pgmirror

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/sync"
)

// testDSN returns the test database, skipping the test when there is none.
func testDSN(t testing.TB) string {
	t.Helper()
	d := os.Getenv("SFSYNC_TEST_POSTGRES")
	if d == "" {
		t.Skip("SFSYNC_TEST_POSTGRES is not set; run `eval \"$(bash .ci/start-postgres.sh)\"` to get a database")
	}
	return d
}

var schemas atomic.Int64

// testSchema returns a schema name of its own for t, dropped when t ends.
func testSchema(t testing.TB) string {
	t.Helper()
	d := testDSN(t)
	name := fmt.Sprintf("pgm_%d_%d", os.Getpid(), schemas.Add(1))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, d)
		if err != nil {
			t.Errorf("drop schema %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, `DROP SCHEMA IF EXISTS `+ident(name)+` CASCADE`); err != nil {
			t.Errorf("drop schema %s: %v", name, err)
		}
	})
	return name
}

func personMapping() *sync.Mapping {
	return &sync.Mapping{Object: "Contact", External: "person", LinkField: "External_Id__c", Fields: []sync.Field{
		{Salesforce: "LastName", External: "name"},
		{Salesforce: "Email", External: "email"},
		{Salesforce: "Phone", External: "phone"},
		{Salesforce: "Birthdate", External: "birthdate"},
		{Salesforce: "NumberOfEmployees", External: "employees"},
		{Salesforce: "DoNotCall", External: "do_not_call"},
		{Salesforce: "LastCURequestDate", External: "requested_at"},
		{Salesforce: "Tags__c", External: "tags"},
	}}
}

func personTable() Table {
	return Table{Mapping: personMapping(), Types: map[string]Type{
		"birthdate": Date, "employees": Numeric, "do_not_call": Boolean, "requested_at": Timestamp, "tags": JSON,
	}}
}

// openIn opens a mirror of the person table in schema, closed when t ends.
func openIn(t testing.TB, schema string, opts ...Option) *Mirror {
	t.Helper()
	opts = append([]Option{WithSchema(schema), WithTable(personTable()), WithPollInterval(50 * time.Millisecond)}, opts...)
	m, err := Open(context.Background(), testDSN(t), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func openMirror(t testing.TB, opts ...Option) *Mirror {
	t.Helper()
	return openIn(t, testSchema(t), opts...)
}

// connect opens a connection of a local user, closed when t ends.
func connect(t testing.TB) *pgx.Conn {
	t.Helper()
	c, err := pgx.Connect(context.Background(), testDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

func mustExec(t testing.TB, c *pgx.Conn, q string, args ...any) {
	t.Helper()
	if _, err := c.Exec(context.Background(), q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// row returns the row of the person table with link (or sfid) id, as
// to_jsonb sees it, and how many rows hold it.
func row(t testing.TB, m *Mirror, id string) (map[string]any, int) {
	t.Helper()
	q, _ := m.Table("person")
	rows, err := m.Pool().Query(context.Background(), `SELECT to_jsonb(r) FROM `+q+` r WHERE to_jsonb(r)->>'external_id__c' = $1 OR sfid = $1`, id)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out map[string]any
	n := 0
	for rows.Next() {
		var raw []byte
		if err := rows.Scan(&raw); err != nil {
			t.Fatal(err)
		}
		n++
		out = map[string]any{}
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatal(err)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out, n
}

func mustExecTx(t testing.TB, tx pgx.Tx, q string, args ...any) {
	t.Helper()
	if _, err := tx.Exec(context.Background(), q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func connectErr() (*pgx.Conn, error) {
	return pgx.Connect(context.Background(), os.Getenv("SFSYNC_TEST_POSTGRES"))
}

func seqName(i int) string { return fmt.Sprintf("n%04d", i) }

func seqNumber(s string) int {
	var n int
	fmt.Sscanf(s, "n%04d", &n)
	return n
}

// memCheckpoints holds one position, as the engine's store would.
type memCheckpoints struct{ pos *sfsync.Position }

func (c *memCheckpoints) LoadCheckpoint(_ context.Context, stream string) (sfsync.Position, error) {
	if c.pos == nil {
		return sfsync.Position{}, sfsync.ErrNotFound
	}
	return *c.pos, nil
}

func (c *memCheckpoints) SaveCheckpoint(_ context.Context, pos sfsync.Position) error {
	c.pos = &pos
	return nil
}

// failSink refuses every write as Salesforce refuses a bad email.
type failSink struct{}

func (failSink) Write(_ context.Context, cs []sfsync.Change) error {
	errs := make([]error, len(cs))
	for i := range errs {
		errs[i] = &sfsync.Error{Kind: sfsync.KindPermanent, Code: "INVALID_EMAIL_ADDRESS", Err: fmt.Errorf("Email: invalid email address")}
	}
	return &sfsync.BatchError{Errs: errs}
}
