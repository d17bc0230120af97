// Package pgdb is the PostgreSQL connection handling that store/postgres
// and pgmirror share: running work on a pooled connection or in one
// transaction, noticing a connection that broke under the work, and
// sorting database errors into what is worth retrying and what is not.
// Each package words its own errors; the sorting is the same for both.
package pgdb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sfsync/sfsync"
)

// Class is what a database error means for the caller.
type Class int

const (
	// Other is an error none of the classes below covers, including a
	// server error of a class not listed.
	Other Class = iota
	// Canceled is the caller's context ending.
	Canceled
	// Transient is a serialization failure or deadlock (class 40), an
	// overloaded server (53), a connection exception reported by the
	// server (08), an operator intervention such as a shutdown (57), a lock
	// not available (55P03) or an object in use (55006): worth retrying.
	Transient
	// BadValue is a data exception (class 22): a value the column or the
	// function cannot take.
	BadValue
	// Constraint is an integrity constraint violation (class 23).
	Constraint
	// Credentials is an invalid authorization (class 28).
	Credentials
	// Schema is a syntax error or missing object or privilege (42), a
	// missing database (3D) or schema (3F), or an unsupported feature (0A).
	Schema
	// Routine is an error a function raised (P0, such as a trigger's
	// RAISE) or a dependent privilege descriptor still existing (2B).
	Routine
	// Limit is a program limit exceeded (class 54), such as a value too
	// large to index.
	Limit
	// Connection is a connection that failed on the client's side: refused,
	// reset, timed out or closed under the work. Worth retrying.
	Connection
)

// Classify returns the class of err and, for an error the server sent,
// the server's error with its SQLSTATE, detail and position.
func Classify(err error) (Class, *pgconn.PgError) {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return Canceled, nil
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch class := pe.Code[:2]; {
		case class == "40", class == "53", class == "08", class == "57", pe.Code == "55P03", pe.Code == "55006":
			return Transient, pe
		case class == "22":
			return BadValue, pe
		case class == "23":
			return Constraint, pe
		case class == "28":
			return Credentials, pe
		case class == "42", class == "3D", class == "3F", class == "0A":
			return Schema, pe
		case class == "2B", class == "P0":
			return Routine, pe
		case class == "54":
			return Limit, pe
		}
		return Other, pe
	}
	var lost lostConn
	var ne net.Error
	var ce *pgconn.ConnectError
	if errors.As(err, &lost) || errors.As(err, &ne) || errors.As(err, &ce) || pgconn.SafeToRetry(err) || pgconn.Timeout(err) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return Connection, nil
	}
	return Other, nil
}

// Settled reports whether err already carries a verdict that a caller's
// classification must keep: an [*sfsync.Error], or one of own (the
// package's sentinel errors, such as sfsync.ErrFenced).
func Settled(err error, own ...error) bool {
	var classified *sfsync.Error
	if errors.As(err, &classified) {
		return true
	}
	for _, e := range own {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// Closed is the error of a call what made on a handle that was closed
// under it: it matches [sfsync.ErrClosed] and still wraps err.
func Closed(prefix, what, closed string, err error) error {
	return fmt.Errorf("%s: %s: %s: %w", prefix, what, closed, errors.Join(sfsync.ErrClosed, err))
}

// Wrap words err, the failure of the call what, for the package prefix,
// in the classes both packages treat alike: transient server errors and
// failed connections are retryable, bad credentials permanent, and any
// other error is wrapped as it is, for the caller to judge. A caller
// handles the classes it words its own way before calling Wrap.
func Wrap(prefix, what string, err error) error {
	switch class, _ := Classify(err); class {
	case Transient:
		return sfsync.Retryable(fmt.Errorf("%s: %s: %w; retry later", prefix, what, err))
	case Credentials:
		return sfsync.Permanent(fmt.Errorf("%s: %s: %w; check the credentials in the DSN", prefix, what, err))
	case Connection:
		return sfsync.Retryable(fmt.Errorf("%s: %s: %w; the connection to the server failed, retry later", prefix, what, err))
	}
	return fmt.Errorf("%s: %s: %w", prefix, what, err)
}

// lostConn marks an error after which the connection was gone: the server
// went away or the network failed while the work ran, so the call is worth
// retrying even when the error itself does not say so.
type lostConn struct{ err error }

func (e lostConn) Error() string { return e.err.Error() }
func (e lostConn) Unwrap() error { return e.err }

// DB is a connection pool and the classification of its errors: what a
// package runs its work through.
type DB struct {
	Pool *pgxpool.Pool
	// Fail words and classifies the error of the call what; it returns
	// nil for nil.
	Fail func(what string, err error) error
}

// Conn runs f on a connection of the pool and returns Fail's verdict on
// its error. An error after which the connection is closed while ctx is
// alive is of class [Connection].
func (d DB) Conn(ctx context.Context, what string, f func(*pgx.Conn) error) error {
	pc, err := d.Pool.Acquire(ctx)
	if err != nil {
		return d.Fail(what, err)
	}
	// Release destroys a connection that broke, is busy or was left in a
	// transaction, and returns a healthy one to the pool.
	defer pc.Release()
	c := pc.Conn()
	err = f(c)
	if err != nil && c.IsClosed() && ctx.Err() == nil {
		err = lostConn{err}
	}
	return d.Fail(what, err)
}

// Tx runs f in one transaction on a connection of the pool, rolling back
// when f fails, and returns Fail's verdict on the error as [DB.Conn] does.
func (d DB) Tx(ctx context.Context, what string, f func(pgx.Tx) error) error {
	return d.Conn(ctx, what, func(c *pgx.Conn) error {
		tx, err := c.Begin(ctx)
		if err != nil {
			return err
		}
		if err := f(tx); err != nil {
			Rollback(ctx, tx)
			return err
		}
		if err := tx.Commit(ctx); err != nil {
			return fmt.Errorf("commit: %w", err)
		}
		return nil
	})
}

// RollbackTimeout bounds a rollback after the caller's context ended.
const RollbackTimeout = 5 * time.Second

// Rollback rolls tx back even when ctx ended, so that the connection
// returns to the pool usable; its error is of no use to the caller, whose
// own error is what failed.
func Rollback(ctx context.Context, tx pgx.Tx) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), RollbackTimeout)
	defer cancel()
	_ = tx.Rollback(rctx)
}
