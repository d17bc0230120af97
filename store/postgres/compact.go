package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// Compaction counts what one [Store.Compact] deleted.
type Compaction struct {
	Claims   int64 // expired dedup keys
	Echoes   int64 // expired echo fingerprints
	Outcomes int64 // outcomes older than the retention
}

// compactBatch bounds the rows one delete transaction touches, so that no
// lock is held long and CommitState keeps flowing.
const compactBatch = 2000

// The deletes lock the rows they pick (FOR UPDATE), which re-checks expiry
// against a concurrent claim that renewed a row, and skip rows that are
// locked (SKIP LOCKED), so instances compacting together share the work
// instead of queueing.
const (
	compactDedupSQL = `DELETE FROM dedup WHERE key IN (
		SELECT key FROM dedup WHERE expires <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED)`
	compactEchoesSQL = `DELETE FROM echoes WHERE id IN (
		SELECT id FROM echoes WHERE expires <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED)`
	compactOutcomesSQL = `DELETE FROM outcomes WHERE seq IN (
		SELECT seq FROM outcomes WHERE at < $1 ORDER BY at LIMIT $2 FOR UPDATE SKIP LOCKED)`
)

// Compact deletes expired dedup keys and echo fingerprints and the outcomes
// older than the retention, in small transactions. The store runs it in the
// background (see [WithCompactionInterval]); call it to compact now.
func (s *Store) Compact(ctx context.Context) (Compaction, error) {
	var c Compaction
	if err := s.check(ctx); err != nil {
		return c, err
	}
	now := s.cfg.clock()
	type job struct {
		what  string
		query string
		arg   int64
		n     *int64
	}
	jobs := []job{
		{"expired dedup keys", compactDedupSQL, now.UnixNano(), &c.Claims},
		{"expired echo fingerprints", compactEchoesSQL, now.UnixNano(), &c.Echoes},
	}
	if s.cfg.retention > 0 {
		jobs = append(jobs, job{"old outcomes", compactOutcomesSQL, now.Add(-s.cfg.retention).UnixNano(), &c.Outcomes})
	}
	for _, j := range jobs {
		for {
			if err := s.check(ctx); err != nil {
				return c, err
			}
			var n int64
			err := s.db.Conn(ctx, "delete "+j.what, func(conn *pgx.Conn) error {
				tag, err := conn.Exec(ctx, j.query, j.arg, compactBatch)
				n = tag.RowsAffected()
				return err
			})
			if err != nil {
				return c, err
			}
			*j.n += n
			if n < compactBatch {
				break
			}
		}
	}
	return c, nil
}

func (s *Store) compactLoop() {
	defer close(s.done)
	if s.cfg.compaction <= 0 {
		return
	}
	t := time.NewTicker(s.cfg.compaction)
	defer t.Stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-s.stop
		cancel()
	}()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		c, err := s.Compact(ctx)
		switch {
		case err != nil && ctx.Err() == nil && !s.closed.Load():
			s.log.Warn("postgres: background compaction failed; it runs again at the next interval", "err", err)
		case c != (Compaction{}):
			s.log.Debug("postgres: compacted", "claims", c.Claims, "echoes", c.Echoes, "outcomes", c.Outcomes)
		}
	}
}
