package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/store/internal/codec"
)

// RememberWrites records each fingerprint as one write, for ttl: the same
// fingerprint twice expects two echoes. They are committed before it
// returns, so every instance sharing the database sees them at once.
func (s *Store) RememberWrites(ctx context.Context, fingerprints []string, ttl time.Duration) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	if len(fingerprints) == 0 {
		return nil
	}
	places, values := make([]string, len(fingerprints)), make([]string, len(fingerprints))
	for i, fp := range fingerprints {
		places[i], values[i] = splitFingerprint(fp)
	}
	exp := s.cfg.clock().Add(ttl).UnixNano()
	return s.db.Conn(ctx, "remember writes", func(c *pgx.Conn) error {
		// Ids follow the order given, which is the order writes are
		// consumed in at one place.
		_, err := c.Exec(ctx, `INSERT INTO echoes (place, value, expires)
			SELECT place, value, $3 FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS u (place, value, ord) ORDER BY ord`,
			places, values, exp)
		return err
	})
}

// splitFingerprint returns the stored forms of fingerprint's place and
// value; the value keeps its dot, so that "p" and "p." differ.
func splitFingerprint(fp string) (place, value string) {
	p := sfsync.FingerprintPlace(fp)
	return codec.Key(p), codec.Long(fp[len(p):])
}

// matchSQL consumes the oldest live write at a place. SKIP LOCKED lets a
// concurrent match of the same place take the next write instead of
// finding none once the first commits (FOR UPDATE with LIMIT would).
const matchSQL = `DELETE FROM echoes WHERE id = (
	SELECT id FROM echoes WHERE place = $1 AND expires > $2 ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
	RETURNING value`

// MatchWrite consumes the oldest live write remembered at fingerprint's
// place and reports whether its value is fingerprint's.
func (s *Store) MatchWrite(ctx context.Context, fingerprint string) (bool, error) {
	if err := s.check(ctx); err != nil {
		return false, err
	}
	place, value := splitFingerprint(fingerprint)
	var matched bool
	err := s.db.Conn(ctx, "match write fingerprint", func(c *pgx.Conn) error {
		var stored string
		err := c.QueryRow(ctx, matchSQL, place, s.cfg.clock().UnixNano()).Scan(&stored)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		matched = err == nil && stored == value
		return err
	})
	return matched, err
}
