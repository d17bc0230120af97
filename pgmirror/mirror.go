package pgmirror

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	stdsync "sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/internal/pgdb"
)

// Mirror is a set of Salesforce objects mirrored into PostgreSQL tables.
// It is the engine's sink for Salesforce changes ([Mirror.Write], and
// [Mirror.WriteIf], which the engine uses, to write only rows unchanged
// since [Mirror.Read] read them for the conflict decision) and hands out
// the event sources
// that capture local edits ([Mirror.Source]). It is safe for concurrent
// use.
type Mirror struct {
	pool    *pgxpool.Pool
	db      pgdb.DB // the pool, with the mirror's classification of errors
	cfg     config
	log     *slog.Logger
	tables  []*table
	byName  map[string]*table // by table name, as the outbox records it
	byEnt   map[string]*table // by external entity, as changes name it
	dsn     string
	closed  atomic.Bool
	stop    chan struct{}
	stopped stdsync.Once
	done    chan struct{}
}

// Open connects to the database named by dsn (a postgres:// URL or
// key=value pairs, see pgxpool.ParseConfig), creates the schema, tables,
// columns and triggers that are missing, and starts pruning in the
// background. Close the mirror when done.
func Open(ctx context.Context, dsn string, opts ...Option) (*Mirror, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.logger == nil {
		cfg.logger = slog.Default()
	}
	tables, err := resolve(&cfg)
	if err != nil {
		return nil, err
	}
	pcfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("pgmirror: parse DSN: %w; pass a postgres:// URL or key=value connection string: %w", err, sfsync.ErrInvalid)
	}
	pcfg.MaxConns = int32(min(cfg.conns, math.MaxInt32))
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("pgmirror: create connection pool: %w", err)
	}
	m := &Mirror{
		pool: pool, cfg: cfg, log: cfg.logger, tables: tables, dsn: dsn,
		byName: map[string]*table{}, byEnt: map[string]*table{},
		stop: make(chan struct{}), done: make(chan struct{}),
	}
	m.db = pgdb.DB{Pool: pool, Fail: m.fail}
	for _, t := range tables {
		m.byName[t.name], m.byEnt[t.entity] = t, t
	}
	if err := m.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	go m.pruneLoop()
	return m, nil
}

// Close stops background pruning and closes the connections. Sources
// handed out should be closed first.
func (m *Mirror) Close() error {
	if !m.closed.CompareAndSwap(false, true) {
		return nil
	}
	m.stopped.Do(func() { close(m.stop) })
	<-m.done
	m.pool.Close()
	return nil
}

// System returns the database's name as the engine's external system; the
// engine uses it as the destination of the mirror's writes.
func (m *Mirror) System() sfsync.System { return sfsync.External(m.cfg.system) }

func sfsyncSystem(name string) string { return string(sfsync.External(name)) }

// Table returns the schema-qualified, quoted name of the table that
// mirrors entity (an external entity name), for queries of your own.
func (m *Mirror) Table(entity string) (string, bool) {
	t, ok := m.byEnt[entity]
	if !ok {
		return "", false
	}
	return ident(m.cfg.schema, t.name), true
}

// Schema returns the schema the mirror's tables are in.
func (m *Mirror) Schema() string { return m.cfg.schema }

// Pool returns the mirror's connection pool, for queries of your own.
func (m *Mirror) Pool() *pgxpool.Pool { return m.pool }

func (m *Mirror) check(ctx context.Context) error {
	if m.closed.Load() {
		return fmt.Errorf("pgmirror: the mirror is closed; open a new one: %w", sfsync.ErrClosed)
	}
	return ctx.Err()
}

// Prune deletes outbox rows that are finished (done, ignored or retried),
// older than the retention and read by every consumer, and idempotency
// keys older than the retention.
func (m *Mirror) Prune(ctx context.Context) error {
	if err := m.check(ctx); err != nil {
		return err
	}
	cut := time.Now().Add(-m.cfg.retention)
	s := ident(m.cfg.schema)
	return m.db.Conn(ctx, "prune the outbox", func(c *pgx.Conn) error {
		// A row some consumer has not read yet stays, whatever its age.
		_, err := c.Exec(ctx, `DELETE FROM `+s+`.sfsync_outbox
			WHERE state IN ('done', 'ignored', 'retried') AND at < $1
			AND xid < COALESCE((SELECT min(lo) FROM `+s+`.sfsync_consumers), '0'::xid8)`, cut)
		if err != nil {
			return err
		}
		_, err = c.Exec(ctx, `DELETE FROM `+s+`.sfsync_keys WHERE at < $1`, cut)
		return err
	})
}

func (m *Mirror) pruneLoop() {
	defer close(m.done)
	if m.cfg.prune <= 0 {
		<-m.stop
		return
	}
	t := time.NewTicker(m.cfg.prune)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), m.cfg.prune)
			if err := m.Prune(ctx); err != nil && !errors.Is(err, sfsync.ErrClosed) {
				m.log.Warn("pgmirror: pruning the outbox failed; retrying at the next interval", "err", err)
			}
			cancel()
		}
	}
}

// fail wraps a database error with what failed and classifies it: lost
// connections, lock conflicts, cancellation and an overloaded server are
// worth retrying; bad values, constraint violations, missing privileges and
// schema trouble are not, and carry the SQLSTATE as their code.
func (m *Mirror) fail(what string, err error) error {
	if err == nil || pgdb.Settled(err, sfsync.ErrInvalid, sfsync.ErrNotFound) {
		return err
	}
	if m.closed.Load() {
		return pgdb.Closed("pgmirror", what, "the mirror is closed", err)
	}
	switch class, pe := pgdb.Classify(err); class {
	case pgdb.Canceled:
		return sfsync.Retryable(fmt.Errorf("pgmirror: %s: %w", what, err))
	case pgdb.BadValue, pgdb.Constraint:
		return &sfsync.Error{Kind: sfsync.KindPermanent, Code: pe.Code,
			Err: fmt.Errorf("pgmirror: %s: %w (%s); the value does not fit the column or a constraint: fix the value, the column type or the constraint", what, err, pe.Detail)}
	case pgdb.Schema, pgdb.Routine:
		return &sfsync.Error{Kind: sfsync.KindPermanent, Code: pe.Code,
			Err: fmt.Errorf("pgmirror: %s: %w; check the tables, triggers and the role's privileges", what, err)}
	}
	return pgdb.Wrap("pgmirror", what, err)
}
