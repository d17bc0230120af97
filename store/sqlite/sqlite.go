package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"net/url"
	"runtime"
	"slices"
	"strconv"
	"strings"
	stdsync "sync"
	"sync/atomic"
	"time"

	"github.com/sfsync/sfsync"
	sqlite "modernc.org/sqlite"
	sqlitelib "modernc.org/sqlite/lib"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is engine state in one SQLite file. It implements every store
// interface of package sfsync and is safe for concurrent use.
//
// Writes go through a single connection, so they queue in Go instead of
// spinning on SQLite's busy handler; reads use a pool of connections that
// WAL lets run beside the writer.
type Store struct {
	w, r   *sql.DB
	ck     *sql.DB // checkpoints, see checkpoint.go
	cfg    config
	log    *slog.Logger
	closed atomic.Bool

	stop     chan struct{}
	stopOnce stdsync.Once
	done     chan struct{}
	ckWake   chan struct{}
	ckDone   chan struct{}

	// The ledger's lookup tables are filled in the background (see
	// ledger.go): one batch at a time, woken once enough outcomes wait.
	ledgerMu      stdsync.Mutex
	ledgerPending atomic.Int64
	ledgerWake    chan struct{}
	ledgerDone    chan struct{}

	// Claims go to a log that the same loop moves into dedup (see
	// dedup.go); claims indexes the log for lookups.
	claims        claimTail
	reads         preparedReader // the lookups' statements on r
	claimsMu      stdsync.Mutex
	claimsPending atomic.Int64
	screened      atomic.Int64 // keys the claim filter answered without a search
	filterWake    chan struct{}
	filterDone    chan struct{}

	// The version rows last committed (see versionrows.go).
	versionRows versionRows

	// Remembered writes not yet committed, and what keeps them visible
	// (see echoes.go).
	echoMu  stdsync.Mutex
	echoes  echoBuffer
	gate    stdsync.RWMutex
	flushMu stdsync.Mutex
	// inTx, when set by a test, runs inside every transaction that writes
	// remembered writes, before it commits.
	inTx func()

	mu         stdsync.Mutex
	stmts      map[string]*sql.Stmt // prepared on w, by SQL text
	unprepared map[string]bool      // seen inside a transaction, not yet in stmts
}

type config struct {
	clock      func() time.Time
	log        *slog.Logger
	retention  time.Duration
	compaction time.Duration
	busy       time.Duration
	readers    int
	fullSync   bool
	limit      int
	cache      int64
	// ledgerBatch and ledgerEvery say when the ledger's newest outcomes
	// are indexed (see ledger.go); tests make them small.
	ledgerBatch int
	ledgerEvery time.Duration
	// noFilterBuilds leaves building the claim filter to the test.
	noFilterBuilds bool
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
// is one minute. Zero or less turns background compaction off ([Store.Compact]
// still works).
func WithCompactionInterval(d time.Duration) Option { return func(c *config) { c.compaction = d } }

// WithBusyTimeout sets how long a statement waits for a lock held by
// another process using the same file; the default is 10s.
func WithBusyTimeout(d time.Duration) Option { return func(c *config) { c.busy = d } }

// WithFullSync makes every commit wait for fsync (PRAGMA synchronous=FULL).
// The default, NORMAL, keeps every commit across a process crash and may
// lose the last commits on power loss or an operating-system crash.
func WithFullSync(full bool) Option { return func(c *config) { c.fullSync = full } }

// WithDefaultLimit sets how many outcomes and dead letters a query returns
// when it sets no Limit; the default is 10,000.
func WithDefaultLimit(n int) Option { return func(c *config) { c.limit = max(1, n) } }

// DefaultCacheSize is the memory the writer's page cache may take unless
// [WithCacheSize] says otherwise.
const DefaultCacheSize = 8 << 20

// pageMemory is what one cached page takes: a 4 KiB page with SQLite's
// header of about 250 bytes, which the C allocator of modernc.org/sqlite
// serves from its 8 KiB size class. A cache_size given in KiB counts only
// the page and its header, and so takes twice the memory it says.
const pageMemory = 8 << 10

// readerCachePages and checkpointerCachePages size the page caches of the
// other connections: a reader's lookups descend the same few interior
// pages and read one leaf each, and the checkpointer copies log frames
// without its cache.
const readerCachePages, checkpointerCachePages = 256, 16

// WithCacheSize sets how much memory the writer connection's page cache
// may take (default [DefaultCacheSize]); each reader connection's takes
// 2 MiB besides, and the checkpointer's 128 KiB. A larger cache keeps more of
// the state's indexes in memory: that spares a read per change that misses
// the cache, never the write of the pages a commit changes, so it matters
// little once the indexes are many times its size.
func WithCacheSize(bytes int64) Option {
	return func(c *config) {
		if bytes > 0 {
			c.cache = bytes
		}
	}
}

// Open opens (creating if needed) the SQLite database at path, applies the
// embedded schema migrations, and starts background compaction. path is a
// file name; it may not be ":memory:", since the store opens several
// connections. Close the store when done.
func Open(ctx context.Context, path string, opts ...Option) (*Store, error) {
	cfg := config{
		clock:      time.Now,
		retention:  30 * 24 * time.Hour,
		compaction: time.Minute,
		busy:       10 * time.Second,
		readers:    max(2, runtime.GOMAXPROCS(0)),
		limit:      10_000,
		cache:      DefaultCacheSize,

		ledgerBatch: defaultLedgerBatch,
		ledgerEvery: defaultLedgerEvery,
	}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.log == nil {
		cfg.log = slog.Default()
	}
	if path == "" || path == ":memory:" || strings.Contains(path, "mode=memory") {
		return nil, fmt.Errorf("sqlite: open %q: an in-memory database cannot be shared between connections; pass a file path (use store/memory for state that need not survive): %w", path, sfsync.ErrInvalid)
	}
	sync := "NORMAL"
	if cfg.fullSync {
		sync = "FULL"
	}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout("+strconv.FormatInt(cfg.busy.Milliseconds(), 10)+")")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous("+sync+")")
	// Writers take the write lock when they begin, so a transaction never
	// fails half-way trying to upgrade a read lock.
	q.Set("_txlock", "immediate")
	// The writer's page cache is set in pages, from the memory it may take
	// (see pageMemory). A checkpoint inside a commit holds that commit for
	// as long as copying the log takes, so a background connection does
	// the copying (see checkpoint.go); the writer's own automatic
	// checkpoint every 64 MiB stays as the backstop that lets the log
	// restart under a writer that never pauses, and finds little left to
	// copy. Temporary B-trees (statement journals of multi-row upserts)
	// stay in memory rather than spilling to files.
	wq := url.Values{}
	for k, v := range q {
		wq[k] = slices.Clone(v)
	}
	wq.Add("_pragma", "cache_size("+strconv.FormatInt(max(16, cfg.cache/pageMemory), 10)+")")
	wq.Add("_pragma", "wal_autocheckpoint(16384)")
	wq.Add("_pragma", "temp_store(MEMORY)")
	wq.Add("_pragma", "journal_size_limit("+strconv.Itoa(walSizeLimit)+")")
	w, err := sql.Open("sqlite", path+"?"+wq.Encode())
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	s := &Store{w: w, cfg: cfg, log: cfg.log, stmts: map[string]*sql.Stmt{}, stop: make(chan struct{}), done: make(chan struct{}),
		ckWake: make(chan struct{}, 1), ckDone: make(chan struct{}), ledgerWake: make(chan struct{}, 1), ledgerDone: make(chan struct{}),
		filterWake: make(chan struct{}, 1), filterDone: make(chan struct{}),
		claims: claimTail{seqs: map[int64]int64{}}}
	s.claims.due = s.filterWake
	if err := s.migrate(ctx); err != nil {
		w.Close()
		return nil, err
	}
	q.Del("_txlock")
	q.Add("_pragma", "query_only(1)")
	q.Add("_pragma", "cache_size("+strconv.Itoa(readerCachePages)+")")
	r, err := sql.Open("sqlite", path+"?"+q.Encode())
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: open %s for reading: %w", path, err)
	}
	r.SetMaxOpenConns(cfg.readers)
	r.SetMaxIdleConns(cfg.readers)
	s.r = r
	s.reads = preparedReader{db: r, stmts: map[string]*sql.Stmt{}, texts: map[inQuery]string{}}
	if err := r.PingContext(ctx); err != nil {
		s.w.Close()
		s.r.Close()
		return nil, s.fail("open for reading", err)
	}
	// The checkpointer's connection disables automatic checkpoints too: it
	// writes nothing, but a checkpoint of its own must not run on Close.
	cq := url.Values{}
	for k, v := range q {
		if k != "_pragma" {
			cq[k] = slices.Clone(v)
		}
	}
	cq.Add("_pragma", "busy_timeout("+strconv.FormatInt(cfg.busy.Milliseconds(), 10)+")")
	cq.Add("_pragma", "journal_mode(WAL)")
	cq.Add("_pragma", "synchronous("+sync+")")
	cq.Add("_pragma", "wal_autocheckpoint(0)")
	cq.Add("_pragma", "cache_size("+strconv.Itoa(checkpointerCachePages)+")")
	if err := s.openCheckpointer(ctx, path, cq.Encode()); err != nil {
		s.w.Close()
		s.r.Close()
		return nil, err
	}
	go s.compactLoop()
	go s.checkpointLoop()
	go s.ledgerLoop()
	if cfg.noFilterBuilds {
		close(s.filterDone)
	} else {
		go s.claimFilterLoop()
		s.claims.wake()
	}
	return s, nil
}

// Durable reports true: committed state survives a crash of the process.
func (s *Store) Durable() bool { return true }

// Close stops background compaction and closes the database. Methods called
// after Close return an error matching [sfsync.ErrClosed].
func (s *Store) Close() error {
	if s.closed.Load() {
		return nil
	}
	flushErr := s.flushEchoes(context.Background())
	if !s.closed.CompareAndSwap(false, true) {
		return nil
	}
	s.stopOnce.Do(func() { close(s.stop) })
	<-s.done
	<-s.ckDone
	<-s.ledgerDone
	<-s.filterDone
	s.mu.Lock()
	for _, st := range s.stmts {
		st.Close()
	}
	s.stmts = nil
	s.mu.Unlock()
	return errors.Join(flushErr, s.reads.close(), s.ck.Close(), s.r.Close(), s.w.Close())
}

// SchemaVersion returns the version of the newest migration applied.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	if err := s.check(ctx); err != nil {
		return 0, err
	}
	var v int
	if err := s.r.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_version`).Scan(&v); err != nil {
		return 0, s.fail("read schema version", err)
	}
	return v, nil
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
			return nil, fmt.Errorf("sqlite: migration file %q is not named NNNN_name.sql", e.Name())
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

// migrate applies the embedded migrations newer than the database's schema
// version, each in its own transaction with its version row, so a crash
// leaves the schema at some whole version.
func (s *Store) migrate(ctx context.Context) error {
	ms, err := loadMigrations()
	if err != nil {
		return err
	}
	if _, err := s.w.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied INTEGER NOT NULL)`); err != nil {
		return s.fail("create schema_version", err)
	}
	for _, m := range ms {
		err := s.tx(ctx, "migrate", func(tx *sql.Tx) error {
			var cur int
			if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_version`).Scan(&cur); err != nil {
				return err
			}
			if latest := ms[len(ms)-1].version; cur > latest {
				return fmt.Errorf("database schema version %d is newer than this build's %d; upgrade sfsync", cur, latest)
			}
			if cur >= m.version {
				return nil
			}
			if _, err := tx.ExecContext(ctx, m.sql); err != nil {
				return fmt.Errorf("migration %s: %w", m.name, err)
			}
			if step := migrationSteps[m.version]; step != nil {
				if err := step(ctx, tx); err != nil {
					return fmt.Errorf("migration %s: %w", m.name, err)
				}
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO schema_version (version, applied) VALUES (?, ?)`, m.version, s.cfg.clock().UnixNano())
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// check fails fast on a closed store or a finished context.
func (s *Store) check(ctx context.Context) error {
	if s.closed.Load() {
		return fmt.Errorf("sqlite: store is closed; open a new one: %w", sfsync.ErrClosed)
	}
	return ctx.Err()
}

// fail wraps a database error with what failed and classifies it: lock
// contention and I/O trouble are worth retrying; context errors keep their
// own meaning.
func (s *Store) fail(what string, err error) error {
	if err == nil {
		return nil
	}
	if s.closed.Load() {
		return fmt.Errorf("sqlite: %s: store is closed: %w", what, errors.Join(sfsync.ErrClosed, err))
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlitelib.SQLITE_BUSY, sqlitelib.SQLITE_LOCKED, sqlitelib.SQLITE_IOERR, sqlitelib.SQLITE_FULL, sqlitelib.SQLITE_PROTOCOL:
			return sfsync.Retryable(fmt.Errorf("sqlite: %s: %w; retry later", what, err))
		case sqlitelib.SQLITE_CORRUPT, sqlitelib.SQLITE_NOTADB, sqlitelib.SQLITE_READONLY, sqlitelib.SQLITE_CANTOPEN:
			return sfsync.Permanent(fmt.Errorf("sqlite: %s: %w; check the database file and its permissions", what, err))
		}
	}
	return fmt.Errorf("sqlite: %s: %w", what, err)
}

// tx runs f in one write transaction.
func (s *Store) tx(ctx context.Context, what string, f func(*sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return s.fail(what, err)
	}
	if err := f(tx); err != nil {
		tx.Rollback()
		if errors.Is(err, sfsync.ErrFenced) || errors.Is(err, sfsync.ErrLeaseHeld) || errors.Is(err, sfsync.ErrInvalid) {
			return err
		}
		return s.fail(what, err)
	}
	if err := tx.Commit(); err != nil {
		return s.fail(what+": commit", err)
	}
	s.wrote()
	s.prepareUnprepared(ctx)
	return nil
}

// stmt returns a statement prepared once on the writer, bound to tx.
//
// The writer has a single connection, which an open tx holds, so a query
// first seen inside a transaction is prepared on tx for this use and
// remembered; [Store.tx] prepares it on the writer once the connection is
// free again.
func (s *Store) stmt(ctx context.Context, tx *sql.Tx, query string) (*sql.Stmt, error) {
	s.mu.Lock()
	st, ok := s.stmts[query]
	if !ok && tx != nil && s.stmts != nil {
		if s.unprepared == nil {
			s.unprepared = map[string]bool{}
		}
		s.unprepared[query] = true
	}
	s.mu.Unlock()
	switch {
	case ok && tx != nil:
		return tx.StmtContext(ctx, st), nil
	case ok:
		return st, nil
	case tx != nil:
		return tx.PrepareContext(ctx, query)
	}
	st, err := s.w.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	return s.cache(query, st), nil
}

// cache keeps st for query unless another goroutine prepared it first.
func (s *Store) cache(query string, st *sql.Stmt) *sql.Stmt {
	s.mu.Lock()
	defer s.mu.Unlock()
	if prev, ok := s.stmts[query]; ok {
		st.Close()
		return prev
	}
	if s.stmts == nil { // closed meanwhile
		st.Close()
		return st
	}
	s.stmts[query] = st
	return st
}

// prepareUnprepared prepares on the writer the queries first seen inside a
// transaction. A failure only means they are prepared per use a while longer.
func (s *Store) prepareUnprepared(ctx context.Context) {
	s.mu.Lock()
	queries := make([]string, 0, len(s.unprepared))
	for q := range s.unprepared {
		queries = append(queries, q)
	}
	clear(s.unprepared)
	s.mu.Unlock()
	for _, q := range queries {
		st, err := s.w.PrepareContext(ctx, q)
		if err != nil {
			return
		}
		s.cache(q, st)
	}
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

// values returns "(?,?,?),(?,?,?)" for rows rows of cols columns.
func values(rows, cols int) string {
	row := "(" + strings.TrimSuffix(strings.Repeat("?,", cols), ",") + ")"
	return strings.TrimSuffix(strings.Repeat(row+",", rows), ",")
}
