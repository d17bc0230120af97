package main

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/store/postgres"
	"github.com/sfsync/sfsync/store/sqlite"
)

// timedSQLite is a SQLite store whose state commits are timed; every other
// method is the store's own.
type timedSQLite struct {
	*sqlite.Store
	t *commitTimer
}

func (s timedSQLite) CommitState(ctx context.Context, c sfsync.Commit) error {
	start := time.Now()
	err := s.Store.CommitState(ctx, c)
	s.t.add(time.Since(start))
	return err
}

func openSQLite(ctx context.Context, log *slog.Logger, cache int64, dir, name string) (*sqlite.Store, string, error) {
	path := filepath.Join(dir, name+".db")
	// Compaction is left at its default, as a user would run it.
	s, err := sqlite.Open(ctx, path, sqlite.WithLogger(log), sqlite.WithCacheSize(cache))
	if err != nil {
		return nil, "", fmt.Errorf("open sqlite: %w", err)
	}
	return s, path, nil
}

// fileBytes is the size of a SQLite database with its write-ahead log.
func fileBytes(path string) int64 {
	var n int64
	for _, p := range []string{path, path + "-wal"} {
		if fi, err := os.Stat(p); err == nil {
			n += fi.Size()
		}
	}
	return n
}

// liveBytes is the part of the database file pages in use take: the size
// it would have after VACUUM, give or take.
func liveBytes(ctx context.Context, path string) (int64, error) {
	db, err := sql.Open("sqlite", path+"?_pragma=query_only(1)")
	if err != nil {
		return 0, fmt.Errorf("open %s: %w", path, err)
	}
	defer db.Close()
	var pages, free, size int64
	if err := db.QueryRowContext(ctx, `SELECT page_count, freelist_count, page_size FROM pragma_page_count, pragma_freelist_count, pragma_page_size`).Scan(&pages, &free, &size); err != nil {
		return 0, fmt.Errorf("page counts of %s: %w", path, err)
	}
	return (pages - free) * size, nil
}

// openPostgres opens a store in a fresh schema of dsn's database, so runs
// never see each other's state.
func openPostgres(ctx context.Context, log *slog.Logger, dsn string) (*postgres.Store, error) {
	schema := fmt.Sprintf("bench_%d", time.Now().UnixNano())
	s, err := postgres.Open(ctx, dsn, postgres.WithSchema(schema), postgres.WithLogger(log))
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	return s, nil
}
