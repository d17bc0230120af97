package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"slices"
	stdsync "sync"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/store/storetest"
)

func open(t *testing.T, opts ...Option) *Store {
	t.Helper()
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "state.db"), opts...)
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

func TestConformance(t *testing.T) {
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

func TestStateSurvivesReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	storetest.RunReopen(t, func(t *testing.T) (storetest.Durable, func(t *testing.T) storetest.Durable) {
		s, err := Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		return s, func(t *testing.T) storetest.Durable {
			s, err := Open(ctx, path)
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

func TestCompaction(t *testing.T) {
	ctx := context.Background()
	c := &clock{now: time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)}
	s := open(t, WithClock(c.Now), WithRetention(24*time.Hour), WithCompactionInterval(0))
	var keys, old []string
	for i := range 2*compactBatch + 10 {
		keys = append(keys, "short-"+string(rune('a'+i%26))+time.Duration(i).String())
	}
	if err := s.CommitState(ctx, sfsync.Commit{Claims: keys, ClaimTTL: time.Minute}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Claim(ctx, "long", 48*time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := s.RememberWrites(ctx, []string{"e1", "e2"}, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := s.RememberWrites(ctx, []string{"e3"}, 48*time.Hour); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		old = append(old, "o"+time.Duration(i).String())
	}
	var outs []sfsync.Outcome
	for i, k := range old {
		outs = append(outs, sfsync.Outcome{Key: k, Object: "Contact", Status: sfsync.StatusApplied, At: c.Now().Add(-time.Duration(i) * 20 * time.Hour)})
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
	if err != nil || got != (Compaction{Claims: int64(len(keys)), Echoes: 2}) {
		t.Fatalf("compaction after the short TTL = %+v, %v; want %d claims and 2 echoes", got, err, len(keys))
	}
	var rows int
	if err := s.r.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM dedup) + (SELECT COUNT(*) FROM echoes)`).Scan(&rows); err != nil || rows != 2 {
		t.Errorf("%d dedup and echo rows left, %v; want the 2 long-lived ones", rows, err)
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
	deadline := time.Now().Add(10 * time.Second)
	for {
		var n int
		if err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM dedup`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("background compaction did not delete an expired key within 10s")
		}
		time.Sleep(time.Millisecond)
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

func TestOpenRejectsMemory(t *testing.T) {
	if _, err := Open(context.Background(), ":memory:"); !errors.Is(err, sfsync.ErrInvalid) {
		t.Errorf("Open(:memory:) = %v, want ErrInvalid", err)
	}
}

func TestFencedCommitAcrossStores(t *testing.T) {
	// Two stores on one file stand for two processes on one host.
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	c := &clock{now: time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)}
	a, err := Open(ctx, path, WithClock(c.Now))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Open(ctx, path, WithClock(c.Now))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
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
	if err := b.CommitState(ctx, sfsync.Commit{Checkpoints: []sfsync.Position{{Stream: "s", Token: []byte{5}}}, Lease: &lb}); err != nil {
		t.Fatal(err)
	}
	if err := a.CommitState(ctx, sfsync.Commit{Checkpoints: []sfsync.Position{{Stream: "s", Token: []byte{2}}}, Lease: &la}); !errors.Is(err, sfsync.ErrFenced) {
		t.Fatalf("stale holder's commit: %v, want ErrFenced", err)
	}
	if p, err := a.LoadCheckpoint(ctx, "s"); err != nil || !slices.Equal(p.Token, []byte{5}) {
		t.Errorf("checkpoint = %v, %v; the stale holder moved it back", p.Token, err)
	}
}

// TestPageCachesAreBounded checks the page cache of every connection: the
// writer's from WithCacheSize in pages of pageMemory, the readers' and the
// checkpointer's small, whatever SQLite's defaults are.
func TestPageCachesAreBounded(t *testing.T) {
	ctx := context.Background()
	cacheSize := func(db interface {
		QueryRowContext(context.Context, string, ...any) *sql.Row
	}) int64 {
		t.Helper()
		var n int64
		if err := db.QueryRowContext(ctx, `PRAGMA cache_size`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for _, tc := range []struct {
		name   string
		opts   []Option
		writer int64
	}{
		{"default", nil, DefaultCacheSize / pageMemory},
		{"1 MiB", []Option{WithCacheSize(1 << 20)}, 128},
		{"below one page", []Option{WithCacheSize(100)}, 16},
		{"zero keeps the default", []Option{WithCacheSize(0)}, DefaultCacheSize / pageMemory},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t, tc.opts...)
			if got := cacheSize(s.w); got != tc.writer {
				t.Errorf("writer cache_size = %d pages, want %d", got, tc.writer)
			}
			// Every reader connection is opened with the same settings; hold
			// several at once so that more than one is asked.
			var conns []*sql.Conn
			for range s.cfg.readers {
				c, err := s.r.Conn(ctx)
				if err != nil {
					t.Fatal(err)
				}
				conns = append(conns, c)
				if got := cacheSize(c); got != readerCachePages {
					t.Errorf("reader cache_size = %d pages, want %d", got, readerCachePages)
				}
			}
			for _, c := range conns {
				c.Close()
			}
			if got := cacheSize(s.ck); got != checkpointerCachePages {
				t.Errorf("checkpointer cache_size = %d pages, want %d", got, checkpointerCachePages)
			}
		})
	}
}
