package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/store/internal/codec"
)

// maxBufferedEchoes bounds the writes held in memory before they are
// written on their own.
const maxBufferedEchoes = 8192

// Remembered writes live in memory until a transaction makes them durable:
// the next CommitState (the commit of the outcomes of those writes), a
// compaction tick, Close, or a full buffer. That keeps a transaction per
// batch of writes off SQLite's single writer.
//
// The transaction that writes them keeps them in memory, marked in flight,
// until it has committed, and drops them from memory only while holding
// the gate, in the same critical section as its COMMIT. MatchWrite reads
// the table and memory under the gate's read side, so it finds every live
// write in exactly one of the two at every moment, also while a group
// commit runs. A write consumed while in flight is deleted by its own
// transaction before it commits.
//
// flushMu lets one transaction at a time write remembered writes, so the
// table only ever holds writes older than those in memory, and MatchWrite
// looks in the table first.

// echoWrite is one remembered write, in the encoded form it is stored in.
type echoWrite struct {
	place, value string
	expires      int64
	id           int64 // its row, once its transaction inserted it
	inFlight     bool  // a transaction is writing it
	consumed     bool  // matched, while pending or in flight
}

// echoBuffer holds the remembered writes not yet committed.
type echoBuffer struct {
	at    map[string][]*echoWrite // per place, oldest first
	queue []*echoWrite            // pending, not in flight, oldest first
}

// RememberWrites records each fingerprint as one write, for ttl: the same
// fingerprint twice expects two echoes. They are visible to
// [Store.MatchWrite] of this store at once, and to other stores on the
// same file once written (see the package documentation); a crash loses
// them together with the outcomes of their writes, which are then made
// again.
func (s *Store) RememberWrites(ctx context.Context, fingerprints []string, ttl time.Duration) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	if len(fingerprints) == 0 {
		return nil
	}
	exp := s.cfg.clock().Add(ttl).UnixNano()
	s.echoMu.Lock()
	if s.echoes.at == nil {
		s.echoes.at = map[string][]*echoWrite{}
	}
	for _, fp := range fingerprints {
		place, value := splitFingerprint(fp)
		w := &echoWrite{place: place, value: value, expires: exp}
		s.echoes.at[place] = append(s.echoes.at[place], w)
		s.echoes.queue = append(s.echoes.queue, w)
	}
	full := len(s.echoes.queue) >= maxBufferedEchoes
	s.echoMu.Unlock()
	if full {
		return s.flushEchoes(ctx)
	}
	return nil
}

// splitFingerprint returns the stored forms of fingerprint's place and
// value; the value keeps its dot, so that "p" and "p." differ.
func splitFingerprint(fp string) (place, value string) {
	p := sfsync.FingerprintPlace(fp)
	return codec.Key(p), codec.Long(fp[len(p):])
}

// MatchWrite consumes the oldest live write remembered at fingerprint's
// place and reports whether its value is fingerprint's.
func (s *Store) MatchWrite(ctx context.Context, fingerprint string) (bool, error) {
	if err := s.check(ctx); err != nil {
		return false, err
	}
	place, value := splitFingerprint(fingerprint)
	for {
		now := s.cfg.clock().UnixNano()
		s.gate.RLock()
		// Most changes are not echoes: a read on the reader pool answers
		// them without taking the single writer from group commits.
		var id int64
		var stored string
		err := s.r.QueryRowContext(ctx, `SELECT id, value FROM echoes WHERE place_key = ? AND place = ? AND expires > ? ORDER BY id LIMIT 1`,
			placeKey(place), place, now).Scan(&id, &stored)
		if errors.Is(err, sql.ErrNoRows) {
			got, ok := s.takeBufferedEcho(place, now)
			s.gate.RUnlock()
			return ok && got == value, nil
		}
		s.gate.RUnlock()
		if err != nil {
			return false, s.fail("look up write fingerprint", err)
		}
		// The row is committed, so consuming it needs no gate; place and
		// value make sure a reused id names an identical write.
		st, err := s.stmt(ctx, nil, `DELETE FROM echoes WHERE id = ? AND place = ? AND value = ?`)
		if err != nil {
			return false, s.fail("prepare echo match", err)
		}
		res, err := st.ExecContext(ctx, id, place, stored)
		if err != nil {
			return false, s.fail("match write fingerprint", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return false, s.fail("match write fingerprint", err)
		}
		if n == 1 {
			return stored == value, nil
		}
		// A concurrent match consumed it first: look again.
	}
}

// takeBufferedEcho consumes the oldest live write at place held in memory,
// dropping expired ones on the way.
func (s *Store) takeBufferedEcho(place string, now int64) (string, bool) {
	s.echoMu.Lock()
	defer s.echoMu.Unlock()
	ws := s.echoes.at[place]
	defer func() {
		if len(ws) == 0 {
			delete(s.echoes.at, place)
		} else {
			s.echoes.at[place] = ws
		}
	}()
	for len(ws) > 0 {
		w := ws[0]
		ws = ws[1:]
		w.consumed = true
		if w.expires > now {
			return w.value, true
		}
	}
	return "", false
}

// takeEchoes marks the pending writes in flight and returns them, oldest
// first, without the expired ones. The caller holds flushMu.
func (s *Store) takeEchoes(now int64) []*echoWrite {
	s.echoMu.Lock()
	defer s.echoMu.Unlock()
	batch := make([]*echoWrite, 0, len(s.echoes.queue))
	for _, w := range s.echoes.queue {
		switch {
		case w.consumed:
		case w.expires <= now:
			w.consumed = true
			s.echoes.dropConsumed(w.place)
		default:
			w.inFlight = true
			batch = append(batch, w)
		}
	}
	s.echoes.queue = nil
	return batch
}

// insertEchoes writes batch inside tx. Ids continue the table's, so they
// order every write after those already stored.
func (s *Store) insertEchoes(ctx context.Context, tx *sql.Tx, batch []*echoWrite) error {
	if len(batch) == 0 {
		return nil
	}
	var base int64
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(id), 0) FROM echoes`).Scan(&base); err != nil {
		return err
	}
	for i, w := range batch {
		w.id = base + 1 + int64(i)
	}
	return insertRows(ctx, s, tx, len(batch), 5, rememberSQL, nil, func(i int, args []any) []any {
		w := batch[i]
		return append(args, w.id, w.place, w.value, w.expires, placeKey(w.place))
	})
}

// sealEchoes deletes the rows of writes consumed while tx wrote them. The
// caller holds the gate, so no match consumes one meanwhile.
func (s *Store) sealEchoes(ctx context.Context, tx *sql.Tx, batch []*echoWrite) error {
	s.echoMu.Lock()
	var ids []int64
	for _, w := range batch {
		if w.consumed {
			ids = append(ids, w.id)
		}
	}
	s.echoMu.Unlock()
	for _, id := range ids {
		st, err := s.stmt(ctx, tx, `DELETE FROM echoes WHERE id = ?`)
		if err != nil {
			return err
		}
		if _, err := st.ExecContext(ctx, id); err != nil {
			return err
		}
	}
	return nil
}

// settleEchoes ends batch's flight: committed writes leave memory (the
// table has them now); after a failure, the writes not consumed are
// pending again, ahead of newer ones.
func (s *Store) settleEchoes(batch []*echoWrite, committed bool) {
	if len(batch) == 0 {
		return
	}
	s.echoMu.Lock()
	defer s.echoMu.Unlock()
	var again []*echoWrite
	places := map[string]bool{}
	for _, w := range batch {
		w.inFlight = false
		switch {
		case w.consumed:
		case committed:
			w.consumed = true // gone from memory, not matched: the table has it
			places[w.place] = true
		default:
			again = append(again, w)
		}
	}
	for p := range places {
		s.echoes.dropConsumed(p)
	}
	s.echoes.queue = append(again, s.echoes.queue...)
}

// dropConsumed forgets the consumed writes at place.
func (b *echoBuffer) dropConsumed(place string) {
	ws := slices.DeleteFunc(b.at[place], func(w *echoWrite) bool { return w.consumed })
	if len(ws) == 0 {
		delete(b.at, place)
	} else {
		b.at[place] = ws
	}
}

// commitTx runs f and writes the pending remembered writes in one
// transaction, keeping them visible to MatchWrite throughout (see above).
func (s *Store) commitTx(ctx context.Context, what string, f func(*sql.Tx) error) error {
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	batch := s.takeEchoes(s.cfg.clock().UnixNano())
	sealed := false
	err := s.tx(ctx, what, func(tx *sql.Tx) error {
		if f != nil {
			if err := f(tx); err != nil {
				return err
			}
		}
		if err := s.insertEchoes(ctx, tx, batch); err != nil {
			return err
		}
		if s.inTx != nil {
			s.inTx()
		}
		if len(batch) == 0 {
			return nil
		}
		s.gate.Lock()
		sealed = true
		return s.sealEchoes(ctx, tx, batch)
	})
	s.settleEchoes(batch, err == nil)
	if sealed {
		s.gate.Unlock()
	}
	return err
}

// flushEchoes writes the pending remembered writes in their own
// transaction.
func (s *Store) flushEchoes(ctx context.Context) error {
	s.echoMu.Lock()
	pending := len(s.echoes.queue)
	s.echoMu.Unlock()
	if pending == 0 {
		return nil
	}
	return s.commitTx(ctx, "remember writes", nil)
}

func rememberSQL(rows int) string {
	return `INSERT INTO echoes (id, place, value, expires, place_key) VALUES ` + values(rows, 5)
}

// placeKey is the indexed key of a stored place: its 64-bit FNV-1a hash.
// Stored keys depend on it, so it never changes.
func placeKey(place string) int64 {
	h := fnv.New64a()
	h.Write([]byte(place))
	return int64(h.Sum64())
}

// fillPlaceKeys sets the place key of the writes stored before the column
// existed (migration 4).
func fillPlaceKeys(ctx context.Context, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, `SELECT id, place FROM echoes`)
	if err != nil {
		return fmt.Errorf("read the remembered writes: %w", err)
	}
	type idPlace struct {
		id    int64
		place string
	}
	var all []idPlace
	for rows.Next() {
		var r idPlace
		if err := rows.Scan(&r.id, &r.place); err != nil {
			rows.Close()
			return fmt.Errorf("read a remembered write: %w", err)
		}
		all = append(all, r)
	}
	if err := rows.Close(); err != nil {
		return err
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, r := range all {
		if _, err := tx.ExecContext(ctx, `UPDATE echoes SET place_key = ? WHERE id = ?`, placeKey(r.place), r.id); err != nil {
			return fmt.Errorf("key a remembered write: %w", err)
		}
	}
	return nil
}
