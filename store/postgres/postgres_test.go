package postgres

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	stdsync "sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/store/storetest"
)

// dsn returns the test database, skipping the test when there is none.
func dsn(t *testing.T) string {
	t.Helper()
	d := os.Getenv("SFSYNC_TEST_POSTGRES")
	if d == "" {
		t.Skip("SFSYNC_TEST_POSTGRES is not set; run .ci/start-postgres.sh to get a database")
	}
	return d
}

var schemas atomic.Int64

// schema returns a schema name of its own for t, dropped when t ends.
func schema(t *testing.T) string {
	t.Helper()
	d := dsn(t)
	name := fmt.Sprintf("t_%d_%d", os.Getpid(), schemas.Add(1))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, d)
		if err != nil {
			t.Errorf("drop schema %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, `DROP SCHEMA IF EXISTS `+pgx.Identifier{name}.Sanitize()+` CASCADE`); err != nil {
			t.Errorf("drop schema %s: %v", name, err)
		}
	})
	return name
}

// openIn opens a store in schema name, closed when t ends.
func openIn(t *testing.T, name string, opts ...Option) *Store {
	t.Helper()
	s, err := Open(context.Background(), dsn(t), append([]Option{WithSchema(name)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

// open opens a store in a fresh schema.
func open(t *testing.T, opts ...Option) *Store {
	t.Helper()
	return openIn(t, schema(t), opts...)
}

func TestConformance(t *testing.T) {
	dsn(t)
	storetest.Run(t, func(t *testing.T) storetest.Store { return open(t) })
}

// clock is a controllable time source.
type clock struct {
	mu  stdsync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func count(t *testing.T, s *Store, query string) int {
	t.Helper()
	var n int
	err := s.db.Conn(context.Background(), "count", func(c *pgx.Conn) error { return c.QueryRow(context.Background(), query).Scan(&n) })
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestStateSurvivesReopen(t *testing.T) {
	ctx := context.Background()
	name := schema(t)
	storetest.RunReopen(t, func(t *testing.T) (storetest.Durable, func(t *testing.T) storetest.Durable) {
		s, err := Open(ctx, dsn(t), WithSchema(name))
		if err != nil {
			t.Fatal(err)
		}
		return s, func(t *testing.T) storetest.Durable {
			// Opening again (several at once) applies no migration twice.
			var wg stdsync.WaitGroup
			for range 3 {
				wg.Go(func() { openIn(t, name) })
			}
			wg.Wait()
			s, err := Open(ctx, dsn(t), WithSchema(name))
			if err != nil {
				t.Fatal(err)
			}
			ms, err := loadMigrations()
			if err != nil {
				t.Fatal(err)
			}
			if v, err := s.SchemaVersion(ctx); err != nil || v != ms[len(ms)-1].version {
				t.Errorf("schema version after reopening = %d, %v; want %d (migrations applied once)", v, err, ms[len(ms)-1].version)
			}
			return s
		}
	})
}

func TestConcurrentOpensMigrateOnce(t *testing.T) {
	name := schema(t)
	var wg stdsync.WaitGroup
	for range 8 {
		wg.Go(func() { openIn(t, name) })
	}
	wg.Wait()
	ms, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	if n := count(t, openIn(t, name), `SELECT COUNT(*) FROM schema_version`); n != len(ms) {
		t.Errorf("%d schema_version rows after concurrent opens, want %d", n, len(ms))
	}
}

func TestSchemasAreIsolated(t *testing.T) {
	ctx := context.Background()
	a, b := open(t), open(t)
	if _, err := a.Claim(ctx, "k", time.Hour); err != nil {
		t.Fatal(err)
	}
	if seen, err := b.Seen(ctx, "k"); err != nil || seen {
		t.Errorf("a claim in one schema seen in another: %v %v", seen, err)
	}
}

func TestCompaction(t *testing.T) {
	ctx := context.Background()
	c := &clock{now: time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)}
	s := open(t, WithClock(c.Now), WithRetention(24*time.Hour), WithCompactionInterval(0))
	var keys []string
	for i := range 2*compactBatch + 10 {
		keys = append(keys, fmt.Sprintf("short-%d", i))
	}
	if err := s.CommitState(ctx, sfsync.Commit{Claims: keys, ClaimTTL: time.Minute}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Claim(ctx, "long", 48*time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := s.RememberWrites(ctx, []string{"e1", "e2", "e1"}, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := s.RememberWrites(ctx, []string{"e3"}, 48*time.Hour); err != nil {
		t.Fatal(err)
	}
	var outs []sfsync.Outcome
	for i := range 5 {
		outs = append(outs, sfsync.Outcome{Key: fmt.Sprintf("o%d", i), Object: "Contact", Status: sfsync.StatusApplied, At: c.Now().Add(-time.Duration(i) * 20 * time.Hour)})
	}
	if err := s.RecordOutcomes(ctx, outs); err != nil {
		t.Fatal(err)
	}

	got, err := s.Compact(ctx)
	if err != nil || got != (Compaction{Outcomes: 3}) {
		t.Fatalf("compaction before anything expired = %+v, %v; want only the 3 outcomes older than 24h", got, err)
	}
	c.Add(2 * time.Minute)
	got, err = s.Compact(ctx)
	if err != nil || got != (Compaction{Claims: int64(len(keys)), Echoes: 3}) {
		t.Fatalf("compaction after the short TTL = %+v, %v; want %d claims and 3 remembered writes (e1 twice)", got, err, len(keys))
	}
	if rows := count(t, s, `SELECT (SELECT COUNT(*) FROM dedup) + (SELECT COUNT(*) FROM echoes)`); rows != 2 {
		t.Errorf("%d dedup and echo rows left; want the 2 long-lived ones", rows)
	}
	if seen, _ := s.Seen(ctx, "long"); !seen {
		t.Error("long-lived claim compacted")
	}
	if n, _ := s.Outcomes(ctx, sfsync.OutcomeQuery{}); len(n) != 2 {
		t.Errorf("%d outcomes left, want 2", len(n))
	}
}

func TestBackgroundCompactionStopsOnClose(t *testing.T) {
	ctx := context.Background()
	c := &clock{now: time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)}
	s := open(t, WithClock(c.Now), WithCompactionInterval(time.Millisecond))
	if _, err := s.Claim(ctx, "k", time.Second); err != nil {
		t.Fatal(err)
	}
	c.Add(time.Minute)
	// The ticker has no event to wait on; each poll is a round trip.
	deadline := time.Now().Add(10 * time.Second)
	for count(t, s, `SELECT COUNT(*) FROM dedup`) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("background compaction did not delete an expired key within 10s")
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.done:
	default:
		t.Error("compaction goroutine still running after Close")
	}
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	if _, err := Open(ctx, "postgres://%zz"); !errors.Is(err, sfsync.ErrInvalid) {
		t.Errorf("Open with a malformed DSN = %v, want ErrInvalid", err)
	}
	long := string(make([]byte, 64))
	if _, err := Open(ctx, "postgres://localhost/db", WithSchema(long)); !errors.Is(err, sfsync.ErrInvalid) {
		t.Errorf("Open with a 64-byte schema name = %v, want ErrInvalid", err)
	}
	// Nothing listens on port 1: the failure is worth retrying.
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := Open(cctx, "postgres://sfsync@127.0.0.1:1/db?sslmode=disable&connect_timeout=5"); !sfsync.IsRetryable(err) {
		t.Errorf("Open of an unreachable server = %v, want a retryable error", err)
	}
}

func TestBadDeadLetterIsInvalid(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	if err := s.PutDeadLetter(ctx, sfsync.DeadLetter{}); !errors.Is(err, sfsync.ErrInvalid) {
		t.Errorf("dead letter without a key: %v, want ErrInvalid", err)
	}
	if _, err := s.AcquireLease(ctx, "sub", "", time.Minute); !errors.Is(err, sfsync.ErrInvalid) {
		t.Errorf("lease without a holder: %v, want ErrInvalid", err)
	}
}

// TestUnencodableDeadLetterIsDescribed: a value JSON has no form for is
// stored described; the commit, checkpoint included, goes through.
func TestUnencodableDeadLetterIsDescribed(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	bad := sfsync.DeadLetter{Change: sfsync.Change{Key: "k", Fields: map[string]any{"f": make(chan int), "g": "kept"}}}
	if err := s.CommitState(ctx, sfsync.Commit{DeadLetters: []sfsync.DeadLetter{bad}, Checkpoints: []sfsync.Position{{Stream: "s", Token: []byte{1}}}}); err != nil {
		t.Fatalf("commit with an unencodable dead letter: %v", err)
	}
	if _, err := s.LoadCheckpoint(ctx, "s"); err != nil {
		t.Errorf("checkpoint of the commit: %v", err)
	}
	d, err := s.DeadLetter(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	if desc, ok := d.Change.Fields["f"].(map[string]any); !ok || desc["$sfsync"] != "unencodable" || d.Change.Fields["g"] != "kept" {
		t.Errorf("fields = %v, want f described and g kept", d.Change.Fields)
	}
}

func TestFencedCommitAcrossStores(t *testing.T) {
	// Two stores on one schema stand for two instances on two hosts.
	ctx := context.Background()
	name := schema(t)
	c := &clock{now: time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)}
	a := openIn(t, name, WithClock(c.Now))
	b := openIn(t, name, WithClock(c.Now))
	la, err := a.AcquireLease(ctx, "sub", "a", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.CommitState(ctx, sfsync.Commit{Checkpoints: []sfsync.Position{{Stream: "s", Token: []byte{1}}}, Lease: &la}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.AcquireLease(ctx, "sub", "b", time.Minute); !errors.Is(err, sfsync.ErrLeaseHeld) {
		t.Fatalf("b took a live lease: %v", err)
	}
	c.Add(2 * time.Minute)
	lb, err := b.AcquireLease(ctx, "sub", "b", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if lb.Token <= la.Token {
		t.Fatalf("takeover token %d is not above %d", lb.Token, la.Token)
	}
	stale := sfsync.Commit{
		Outcomes:    []sfsync.Outcome{{Key: "stale", Object: "Contact", Status: sfsync.StatusApplied, At: c.Now()}},
		Claims:      []string{"stale"},
		ClaimTTL:    time.Hour,
		Checkpoints: []sfsync.Position{{Stream: "s", Token: []byte{2}}},
		Lease:       &la,
	}
	if err := a.CommitState(ctx, stale); !errors.Is(err, sfsync.ErrFenced) {
		t.Fatalf("stale holder's commit: %v, want ErrFenced", err)
	}
	if p, err := b.LoadCheckpoint(ctx, "s"); err != nil || !slices.Equal(p.Token, []byte{1}) {
		t.Errorf("checkpoint = %v, %v; the fenced commit moved it", p.Token, err)
	}
	if seen, err := b.Seen(ctx, "stale"); err != nil || seen {
		t.Errorf("the fenced commit claimed its key: %v %v", seen, err)
	}
	if os, err := b.Outcomes(ctx, sfsync.OutcomeQuery{Key: "stale"}); err != nil || len(os) != 0 {
		t.Errorf("the fenced commit recorded outcomes: %v %v", os, err)
	}
	if err := b.CommitState(ctx, sfsync.Commit{Checkpoints: []sfsync.Position{{Stream: "s", Token: []byte{5}}}, Lease: &lb}); err != nil {
		t.Fatal(err)
	}
	if p, err := a.LoadCheckpoint(ctx, "s"); err != nil || !slices.Equal(p.Token, []byte{5}) {
		t.Errorf("checkpoint = %v, %v; want the new holder's", p.Token, err)
	}
	if _, err := a.RenewLease(ctx, la, time.Minute); !errors.Is(err, sfsync.ErrFenced) {
		t.Errorf("renewing the taken-over lease: %v, want ErrFenced", err)
	}
}

// TestCommitQueuedBehindTakeoverIsFenced checks that CommitState locks the
// lease row: a commit that reaches it while a takeover is in flight waits
// for the takeover and is then fenced. The takeover's transaction is held
// open by hand, and the test watches the server's lock table instead of
// sleeping.
func TestCommitQueuedBehindTakeoverIsFenced(t *testing.T) {
	ctx := context.Background()
	name := schema(t)
	c := &clock{now: time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)}
	a := openIn(t, name, WithClock(c.Now))
	la, err := a.AcquireLease(ctx, "sub", "a", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	// Another instance takes over in a transaction it has not committed.
	conn, err := pgx.Connect(ctx, dsn(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `UPDATE `+pgx.Identifier{name, "leases"}.Sanitize()+` SET holder = 'b', token = token + 1 WHERE name = 'sub'`); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		done <- a.CommitState(ctx, sfsync.Commit{Checkpoints: []sfsync.Position{{Stream: "s", Token: []byte{9}}}, Lease: &la})
	}()
	// The commit queues on the row lock; wait until the server shows it.
	for {
		var waiting bool
		if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pg_backend_pid() = ANY (pg_blocking_pids(pid)))`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("commit finished while the takeover held the lease row: %v", err)
		default:
		}
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, sfsync.ErrFenced) {
		t.Fatalf("commit queued behind a takeover: %v, want ErrFenced", err)
	}
	if _, err := a.LoadCheckpoint(ctx, "s"); !errors.Is(err, sfsync.ErrNotFound) {
		t.Errorf("the fenced commit wrote a checkpoint: %v", err)
	}
}
