package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Write-ahead log checkpoints run on their own connection in the
// background, never inside a commit. SQLite's automatic checkpoint runs in
// the commit that crosses the threshold, so that one commit (and every
// change waiting on it) took the time of copying the whole log back into
// the database: hundreds of milliseconds every second or two under load.
// A PASSIVE checkpoint on another connection takes no lock a writer needs,
// so commits go on while it copies.
//
// The log restarts from its beginning only after a checkpoint has copied
// every frame in it; under a steady stream of commits the loop therefore
// runs again at once while frames remain, each pass shorter than the one
// before, until one finishes between two commits.

// checkpointEvery is how long the checkpointer waits after a commit
// before copying: long enough to gather many commits into one pass, short
// enough that the log stays a few MiB under load.
const checkpointEvery = 200 * time.Millisecond

// checkpointTick is how often the log is checkpointed without a commit.
const checkpointTick = 5 * time.Second

// checkpointPasses bounds the passes after one wake-up, so a writer that
// never pauses cannot keep the loop spinning.
const checkpointPasses = 8

// restartFrames is the log length (frames of one page) past which the
// checkpointer makes the log restart: under a writer that never pauses no
// PASSIVE pass finishes between two commits, and the log would grow
// without bound. A RESTART checkpoint waits for the commit under way and
// holds the next one only while it copies what the PASSIVE passes just
// before it left, a few commits' worth.
const restartFrames = 16384

// walSizeLimit is what the log file is truncated to when it restarts, so a
// burst does not leave a large file behind.
const walSizeLimit = 64 << 20

func (s *Store) openCheckpointer(ctx context.Context, path string, q string) error {
	db, err := sql.Open("sqlite", path+"?"+q)
	if err != nil {
		return fmt.Errorf("sqlite: open %s for checkpoints: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return s.fail("open for checkpoints", err)
	}
	s.ck = db
	return nil
}

// wrote tells the checkpointer that a transaction committed.
func (s *Store) wrote() {
	select {
	case s.ckWake <- struct{}{}:
	default:
	}
}

func (s *Store) checkpointLoop() {
	defer close(s.ckDone)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-s.stop
		cancel()
	}()
	t := time.NewTimer(checkpointEvery)
	t.Stop()
	// Writes outside transactions (claims, lease renewals, compaction's
	// deletes) do not wake the loop; the tick catches them.
	tick := time.NewTicker(checkpointTick)
	defer tick.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-s.ckWake:
		case <-tick.C:
		}
		t.Reset(checkpointEvery)
		select {
		case <-s.stop:
			t.Stop()
			return
		case <-t.C:
		}
		if err := s.checkpointAll(ctx); err != nil && ctx.Err() == nil && !s.closed.Load() {
			s.log.Warn("sqlite: background checkpoint failed; it runs again after the next commit", "err", err)
		}
	}
}

// checkpointAll copies the log back in PASSIVE passes, then restarts it if
// it grew past restartFrames.
func (s *Store) checkpointAll(ctx context.Context) error {
	for range checkpointPasses {
		log, left, err := s.checkpoint(ctx, "PASSIVE")
		if err != nil {
			return err
		}
		if left == 0 {
			return nil
		}
		if log > restartFrames {
			_, _, err := s.checkpoint(ctx, "RESTART")
			return err
		}
	}
	return nil
}

// checkpoint copies what it can of the log into the database and returns
// how long the log is and how many frames it left behind (written
// meanwhile or still read).
func (s *Store) checkpoint(ctx context.Context, mode string) (log, left int, err error) {
	var busy, done int
	if err := s.ck.QueryRowContext(ctx, `PRAGMA wal_checkpoint(`+mode+`)`).Scan(&busy, &log, &done); err != nil {
		return 0, 0, s.fail("checkpoint", err)
	}
	if log < 0 || done < 0 { // not in WAL mode
		return 0, 0, nil
	}
	return log, log - done, nil
}
