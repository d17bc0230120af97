package sqlite

import (
	"context"
	"time"
)

// Compaction counts what one [Store.Compact] deleted.
type Compaction struct {
	Claims   int64 // expired dedup keys
	Echoes   int64 // expired echo fingerprints
	Outcomes int64 // outcomes older than the retention
}

// compactBatch bounds the rows one delete transaction touches, so the
// single writer is never held long and CommitState keeps flowing.
const compactBatch = 2000

// Compact writes buffered write fingerprints, then deletes expired dedup
// keys and echo fingerprints and the outcomes older than the retention, in
// small transactions. The store runs it in the background (see
// [WithCompactionInterval]); call it to compact now.
func (s *Store) Compact(ctx context.Context) (Compaction, error) {
	var c Compaction
	if err := s.check(ctx); err != nil {
		return c, err
	}
	if err := s.flushEchoes(ctx); err != nil {
		return c, err
	}
	// Expired claims are deleted from dedup, where they all go.
	if err := s.indexClaims(ctx); err != nil {
		return c, err
	}
	now := s.cfg.clock()
	jobs := []struct {
		what  string
		query string
		arg   int64
		n     *int64
	}{
		{"expired dedup keys", `DELETE FROM dedup WHERE key IN (SELECT key FROM dedup WHERE expires <= ? LIMIT ?)`, now.UnixNano(), &c.Claims},
		{"expired echo fingerprints", `DELETE FROM echoes WHERE id IN (SELECT id FROM echoes WHERE expires <= ? LIMIT ?)`, now.UnixNano(), &c.Echoes},
	}
	for _, j := range jobs {
		for {
			if err := s.check(ctx); err != nil {
				return c, err
			}
			res, err := s.w.ExecContext(ctx, j.query, j.arg, compactBatch)
			if err != nil {
				return c, s.fail("delete "+j.what, err)
			}
			n, err := res.RowsAffected()
			if err != nil {
				return c, s.fail("delete "+j.what, err)
			}
			*j.n += n
			if n < compactBatch {
				break
			}
		}
	}
	for s.cfg.retention > 0 {
		if err := s.check(ctx); err != nil {
			return c, err
		}
		n, err := s.deleteOldOutcomes(ctx, now.Add(-s.cfg.retention).UnixNano(), compactBatch)
		if err != nil {
			return c, err
		}
		c.Outcomes += n
		if n < compactBatch {
			break
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
			s.log.Warn("sqlite: background compaction failed; it runs again at the next interval", "err", err)
		case c != (Compaction{}):
			s.log.Debug("sqlite: compacted", "claims", c.Claims, "echoes", c.Echoes, "outcomes", c.Outcomes)
		}
	}
}
