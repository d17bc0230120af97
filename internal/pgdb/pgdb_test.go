package pgdb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sfsync/sfsync"
)

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want Class
	}{
		{context.Canceled, Canceled},
		{fmt.Errorf("query: %w", context.DeadlineExceeded), Canceled},
		{&pgconn.PgError{Code: "40001"}, Transient},
		{&pgconn.PgError{Code: "40P01"}, Transient},
		{&pgconn.PgError{Code: "53300"}, Transient},
		{&pgconn.PgError{Code: "57P01"}, Transient},
		{&pgconn.PgError{Code: "55P03"}, Transient},
		{&pgconn.PgError{Code: "55006"}, Transient},
		{&pgconn.PgError{Code: "55000"}, Other},
		{&pgconn.PgError{Code: "22P02"}, BadValue},
		{&pgconn.PgError{Code: "23505"}, Constraint},
		{&pgconn.PgError{Code: "28P01"}, Credentials},
		{&pgconn.PgError{Code: "42P01"}, Schema},
		{&pgconn.PgError{Code: "3D000"}, Schema},
		{&pgconn.PgError{Code: "0A000"}, Schema},
		{&pgconn.PgError{Code: "P0001"}, Routine},
		{&pgconn.PgError{Code: "54000"}, Limit},
		{&net.OpError{Op: "dial", Err: errors.New("connection refused")}, Connection},
		{io.ErrUnexpectedEOF, Connection},
		{lostConn{errors.New("conn closed")}, Connection},
		{errors.New("something else"), Other},
	} {
		if got, _ := Classify(tc.err); got != tc.want {
			t.Errorf("Classify(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

func TestWrapAndSettled(t *testing.T) {
	if err := Wrap("pkg", "read", &pgconn.PgError{Code: "40001"}); !sfsync.IsRetryable(err) {
		t.Errorf("a serialization failure = %v, want retryable", err)
	}
	if err := Wrap("pkg", "read", &pgconn.PgError{Code: "28P01"}); !sfsync.IsPermanent(err) {
		t.Errorf("bad credentials = %v, want permanent", err)
	}
	var classified *sfsync.Error
	if err := Wrap("pkg", "read", errors.New("odd")); errors.As(err, &classified) || err.Error() != "pkg: read: odd" {
		t.Errorf("an unclassified error = %q, want it wrapped as it is, with no verdict", err)
	}
	if !Settled(sfsync.Permanent(errors.New("x"))) || !Settled(fmt.Errorf("a: %w", sfsync.ErrFenced), sfsync.ErrFenced) || Settled(errors.New("x"), sfsync.ErrFenced) {
		t.Error("Settled must keep classified errors and the caller's own sentinels, and nothing else")
	}
	if err := Closed("pkg", "read", "closed", io.EOF); !errors.Is(err, sfsync.ErrClosed) || !errors.Is(err, io.EOF) {
		t.Errorf("Closed = %v, want it to match ErrClosed and wrap the cause", err)
	}
}

// TestConnLost has the connection close under the work: the work's error
// is of class Connection although it does not say so itself, and the pool
// goes on with a new connection.
func TestConnLost(t *testing.T) {
	dsn := os.Getenv("SFSYNC_TEST_POSTGRES")
	if dsn == "" {
		t.Skip("SFSYNC_TEST_POSTGRES is not set; run `eval \"$(bash .ci/start-postgres.sh)\"` to get a database")
	}
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var class Class
	db := DB{Pool: pool, Fail: func(_ string, err error) error { class, _ = Classify(err); return err }}
	err = db.Conn(ctx, "close", func(c *pgx.Conn) error {
		if err := c.PgConn().Conn().Close(); err != nil {
			return err
		}
		_, err := c.Exec(ctx, `SELECT 1`)
		return fmt.Errorf("the work failed: %v", err) // %v: only the closed connection tells
	})
	if err == nil || class != Connection {
		t.Fatalf("work on a connection closed under it = %v of class %v, want class Connection", err, class)
	}
	// A failed transaction is rolled back, and the next one commits.
	boom := errors.New("boom")
	if err := db.Tx(ctx, "fail", func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `CREATE TEMP TABLE t (x int)`); err != nil {
			return err
		}
		return boom
	}); !errors.Is(err, boom) || class != Other {
		t.Fatalf("Tx = %v of class %v, want the work's own error", err, class)
	}
	var n int
	if err := db.Tx(ctx, "fail", func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE tablename = 't' AND schemaname LIKE 'pg_temp%'`).Scan(&n)
	}); err != nil || n != 0 {
		t.Fatalf("after a rolled back transaction: %v, %d temporary tables, want none", err, n)
	}
}
