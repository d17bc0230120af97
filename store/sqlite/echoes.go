package sqlite

import (
	"context"
	"database/sql"
	"time"
)

// maxBufferedEchoes bounds the fingerprints held in memory before they are
// written on their own.
const maxBufferedEchoes = 8192

// RememberWrites records fingerprints of writes the engine made, for ttl.
//
// They are held in memory and written with the next [Store.CommitState]
// (the commit that records the outcomes of those writes), at the next
// compaction tick, when many are waiting, or at Close. Until then
// [Store.MatchWrite] of this store sees them; a crash loses them together
// with the outcomes of their writes, which are then made again. This keeps
// a transaction per batch of writes off SQLite's single writer.
func (s *Store) RememberWrites(ctx context.Context, fingerprints []string, ttl time.Duration) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	if len(fingerprints) == 0 {
		return nil
	}
	exp := s.cfg.clock().Add(ttl).UnixNano()
	s.echoMu.Lock()
	if s.echoBuf == nil {
		s.echoBuf = make(map[string]int64, len(fingerprints))
	}
	for _, fp := range fingerprints {
		s.echoBuf[fp] = exp
	}
	full := len(s.echoBuf) >= maxBufferedEchoes
	s.echoMu.Unlock()
	if full {
		return s.flushEchoes(ctx)
	}
	return nil
}

// takeBufferedEcho reports whether fingerprint waits in memory unexpired,
// and forgets it.
func (s *Store) takeBufferedEcho(fingerprint string, now int64) bool {
	s.echoMu.Lock()
	defer s.echoMu.Unlock()
	exp, ok := s.echoBuf[fingerprint]
	if ok {
		delete(s.echoBuf, fingerprint)
	}
	return ok && exp > now
}

// drainEchoes takes the buffered fingerprints; restoreEchoes puts them
// back after a failed write.
func (s *Store) drainEchoes() map[string]int64 {
	s.echoMu.Lock()
	defer s.echoMu.Unlock()
	buf := s.echoBuf
	s.echoBuf = nil
	return buf
}

func (s *Store) restoreEchoes(buf map[string]int64) {
	s.echoMu.Lock()
	defer s.echoMu.Unlock()
	if s.echoBuf == nil {
		s.echoBuf = make(map[string]int64, len(buf))
	}
	for fp, exp := range buf {
		if _, newer := s.echoBuf[fp]; !newer {
			s.echoBuf[fp] = exp
		}
	}
}

// insertEchoes writes buf inside tx.
func (s *Store) insertEchoes(ctx context.Context, tx *sql.Tx, buf map[string]int64) error {
	if len(buf) == 0 {
		return nil
	}
	fps := make([]string, 0, len(buf))
	for fp := range buf {
		fps = append(fps, fp)
	}
	return insertRows(ctx, s, tx, len(fps), 2, rememberSQL, nil, func(i int, args []any) []any {
		return append(args, fps[i], buf[fps[i]])
	})
}

// flushEchoes writes the buffered fingerprints in their own transaction.
func (s *Store) flushEchoes(ctx context.Context) error {
	buf := s.drainEchoes()
	if len(buf) == 0 {
		return nil
	}
	err := s.tx(ctx, "remember writes", func(tx *sql.Tx) error { return s.insertEchoes(ctx, tx, buf) })
	if err != nil {
		s.restoreEchoes(buf)
	}
	return err
}

func rememberSQL(rows int) string {
	return `INSERT INTO echoes (fingerprint, expires) VALUES ` + values(rows, 2) +
		` ON CONFLICT (fingerprint) DO UPDATE SET expires = excluded.expires`
}
