package postgres

import (
	"context"
	"embed"
	"fmt"
	"hash/fnv"
	"io/fs"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"strings"
	stdsync "sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/internal/pgdb"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is engine state in a PostgreSQL database. It implements every store
// interface of package sfsync and is safe for concurrent use, also by
// several processes and hosts sharing the database.
type Store struct {
	pool   *pgxpool.Pool
	db     pgdb.DB // the pool, with the store's classification of errors
	cfg    config
	log    *slog.Logger
	closed atomic.Bool

	stop     chan struct{}
	stopOnce stdsync.Once
	done     chan struct{}
}

type config struct {
	clock      func() time.Time
	log        *slog.Logger
	retention  time.Duration
	compaction time.Duration
	limit      int
	schema     string
	conns      int
}

// Option configures a [Store].
type Option func(*config)

// WithClock sets the clock for TTLs, lease expiry and retention; the
// default is time.Now. Tests pass a controllable clock.
func WithClock(now func() time.Time) Option { return func(c *config) { c.clock = now } }

// WithLogger sets the logger for background compaction; the default is
// slog.Default().
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.log = l } }

// WithRetention sets how long ledger outcomes are kept, measured from their
// At time; older ones are deleted by background compaction. The default is
// 30 days; zero or less keeps the ledger forever.
func WithRetention(d time.Duration) Option { return func(c *config) { c.retention = d } }

// WithCompactionInterval sets how often expired dedup keys, echo
// fingerprints and old outcomes are deleted in the background; the default
// is one minute. Zero or less turns background compaction off
// ([Store.Compact] still works).
func WithCompactionInterval(d time.Duration) Option { return func(c *config) { c.compaction = d } }

// WithDefaultLimit sets how many outcomes and dead letters a query returns
// when it sets no Limit; the default is 10,000.
func WithDefaultLimit(n int) Option { return func(c *config) { c.limit = max(1, n) } }

// WithSchema puts every table of the store in the PostgreSQL schema name,
// which Open creates if it is missing. The default is the connection's
// current schema (the first of its search_path, usually public). Stores
// with different schemas in one database are independent.
func WithSchema(name string) Option { return func(c *config) { c.schema = name } }

// WithMaxConns caps the connections the store opens to the server; the
// default is 10. Calls beyond it wait for a free connection.
func WithMaxConns(n int) Option { return func(c *config) { c.conns = max(1, n) } }

// Open connects to the PostgreSQL database named by dsn (a URL such as
// postgres://user@host:5432/db?sslmode=require, or key=value pairs; see
// pgxpool.ParseConfig, whose pool_max_conns [WithMaxConns] overrides),
// applies the embedded schema migrations, and starts background
// compaction. Close the store when done.
func Open(ctx context.Context, dsn string, opts ...Option) (*Store, error) {
	cfg := config{
		clock:      time.Now,
		retention:  30 * 24 * time.Hour,
		compaction: time.Minute,
		limit:      10_000,
		conns:      10,
	}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.log == nil {
		cfg.log = slog.Default()
	}
	pcfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: parse DSN: %w; pass a postgres:// URL or key=value connection string: %w", err, sfsync.ErrInvalid)
	}
	if cfg.schema != "" {
		if len(cfg.schema) > 63 || strings.ContainsRune(cfg.schema, 0) {
			return nil, fmt.Errorf("postgres: schema name %q is longer than PostgreSQL's 63 bytes or holds a NUL; pick a shorter name: %w", cfg.schema, sfsync.ErrInvalid)
		}
		// Every connection the pool opens starts with the schema as its
		// search_path, so the store's unqualified table names resolve there.
		if pcfg.ConnConfig.RuntimeParams == nil {
			pcfg.ConnConfig.RuntimeParams = map[string]string{}
		}
		pcfg.ConnConfig.RuntimeParams["search_path"] = pgx.Identifier{cfg.schema}.Sanitize()
	}
	pcfg.MaxConns = int32(min(cfg.conns, math.MaxInt32))
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: create connection pool: %w", err)
	}
	s := &Store{pool: pool, cfg: cfg, log: cfg.log, stop: make(chan struct{}), done: make(chan struct{})}
	s.db = pgdb.DB{Pool: pool, Fail: s.fail}
	if err := s.migrate(ctx); err != nil {
		s.pool.Close()
		return nil, err
	}
	go s.compactLoop()
	return s, nil
}

// Durable reports true: committed state survives a crash of the process.
func (s *Store) Durable() bool { return true }

// Close stops background compaction and closes the connections, waiting
// for calls still using one to finish. Methods called after Close return
// an error matching [sfsync.ErrClosed].
func (s *Store) Close() error {
	if !s.closed.CompareAndSwap(false, true) {
		return nil
	}
	s.stopOnce.Do(func() { close(s.stop) })
	<-s.done
	s.pool.Close()
	return nil
}

// SchemaVersion returns the version of the newest migration applied.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	if err := s.check(ctx); err != nil {
		return 0, err
	}
	var v int
	err := s.db.Conn(ctx, "read schema version", func(c *pgx.Conn) error {
		return c.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_version`).Scan(&v)
	})
	return v, err
}

type migration struct {
	version int
	name    string
	sql     string
}

func loadMigrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrations, "migrations")
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || !strings.HasSuffix(e.Name(), ".sql") {
			return nil, fmt.Errorf("postgres: migration file %q is not named NNNN_name.sql", e.Name())
		}
		b, err := migrations.ReadFile("migrations/" + e.Name())
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: e.Name(), sql: string(b)})
	}
	slices.SortFunc(out, func(a, b migration) int { return a.version - b.version })
	return out, nil
}

// migrateLock is the advisory lock key that serialises migrations of one
// schema across every process sharing the database.
func (s *Store) migrateLock() int64 {
	h := fnv.New64a()
	h.Write([]byte("sfsync/store/postgres migrate\x00" + s.cfg.schema))
	return int64(h.Sum64())
}

// migrate applies the embedded migrations newer than the database's schema
// version in one transaction that holds an advisory lock, so concurrent
// Opens migrate once and a failure leaves the schema as it was
// (PostgreSQL's DDL is transactional).
func (s *Store) migrate(ctx context.Context) error {
	ms, err := loadMigrations()
	if err != nil {
		return err
	}
	return s.db.Tx(ctx, "migrate schema", func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, s.migrateLock()); err != nil {
			return err
		}
		if s.cfg.schema != "" {
			if _, err := tx.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+pgx.Identifier{s.cfg.schema}.Sanitize()); err != nil {
				return fmt.Errorf("create schema %q (the role needs CREATE on the database, or create the schema beforehand): %w", s.cfg.schema, err)
			}
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version integer PRIMARY KEY, applied bigint NOT NULL)`); err != nil {
			return fmt.Errorf("create schema_version (the role needs CREATE on the schema; name one with WithSchema): %w", err)
		}
		var cur int
		if err := tx.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_version`).Scan(&cur); err != nil {
			return err
		}
		if latest := ms[len(ms)-1].version; cur > latest {
			return sfsync.Permanent(fmt.Errorf("postgres: database schema version %d is newer than this build's %d; upgrade sfsync", cur, latest))
		}
		for _, m := range ms {
			if m.version <= cur {
				continue
			}
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return fmt.Errorf("migration %s: %w", m.name, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_version (version, applied) VALUES ($1, $2)`, m.version, s.cfg.clock().UnixNano()); err != nil {
				return err
			}
		}
		return nil
	})
}

// check fails fast on a closed store or a finished context.
func (s *Store) check(ctx context.Context) error {
	if s.closed.Load() {
		return fmt.Errorf("postgres: store is closed; open a new one: %w", sfsync.ErrClosed)
	}
	return ctx.Err()
}

// fail wraps a database error with what failed and classifies it: lost
// connections, lock conflicts and an overloaded server are worth retrying;
// missing privileges, schema trouble and bad data are not. The store's own
// verdicts (fenced, lease held, invalid, not found) and context errors keep
// their meaning.
func (s *Store) fail(what string, err error) error {
	if err == nil || pgdb.Settled(err, sfsync.ErrFenced, sfsync.ErrLeaseHeld, sfsync.ErrInvalid, sfsync.ErrNotFound, sfsync.ErrClosed) {
		return err
	}
	if s.closed.Load() {
		return pgdb.Closed("postgres", what, "store is closed", err)
	}
	switch class, pe := pgdb.Classify(err); class {
	case pgdb.Canceled:
		return fmt.Errorf("postgres: %s: %w", what, err)
	case pgdb.Schema:
		return sfsync.Permanent(fmt.Errorf("postgres: %s: %w; check the database, the schema and the role's privileges", what, err))
	case pgdb.BadValue, pgdb.Limit:
		// The store encodes every text it writes (store/internal/codec),
		// so this is a value of a kind it does not expect: name it, as far
		// as the server does, and do not retry what will fail again.
		return sfsync.Permanent(fmt.Errorf("postgres: %s: %w (%s; %s); the value cannot be stored: report it, this store should have encoded it",
			what, err, pe.Detail, pe.Where))
	}
	return pgdb.Wrap("postgres", what, err)
}

// zeroTime stands for the zero time.Time, which has no Unix nanosecond
// value; it sorts before every real time.
const zeroTime = math.MinInt64

func nanos(t time.Time) int64 {
	if t.IsZero() {
		return zeroTime
	}
	return t.UnixNano()
}

func fromNanos(n int64) time.Time {
	if n == zeroTime {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// token keeps an empty token from being stored as NULL.
func token(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
