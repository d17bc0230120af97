package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"math/bits"
	"slices"
	"strconv"
	"strings"
	stdsync "sync"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/store/internal/codec"
)

// Claims are appended to dedup_log by the commit and moved into dedup, the
// table keyed by claim, by a background loop in large sorted batches
// (migration 6 says why). A claim is in dedup once its seq is at most
// dedup_index.upto; the log keeps only the claims after it.
//
// A lookup must see the claims still in the log without scanning it, so
// every Store keeps claimTail: the claims of the log by the hash of their
// key, read from the log (whoever committed them: another store on the
// file too) before each lookup, and forgotten once upto passes them. A
// claim found there is confirmed by reading its log row, so a shared hash
// costs a read, never a wrong answer.

// queryer is what a lookup reads through: the reader pool's prepared
// statements, or the writer's transaction of a claim.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// preparedReader runs queries on the reader pool through statements it
// prepares once per text: compiling a statement costs more than running a
// lookup. Callers keep the texts few (IN lists padded to powers of two).
type preparedReader struct {
	db    *sql.DB
	mu    stdsync.Mutex
	stmts map[string]*sql.Stmt
	texts map[inQuery]string
}

func (p *preparedReader) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	p.mu.Lock()
	if p.stmts == nil {
		p.mu.Unlock()
		return nil, fmt.Errorf("sqlite: the store is closed: %w", sfsync.ErrClosed)
	}
	st, ok := p.stmts[query]
	if !ok {
		var err error
		if st, err = p.db.PrepareContext(ctx, query); err != nil {
			p.mu.Unlock()
			return nil, err
		}
		p.stmts[query] = st
	}
	p.mu.Unlock()
	return st.QueryContext(ctx, args...)
}

func (p *preparedReader) close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var errs []error
	for _, st := range p.stmts {
		errs = append(errs, st.Close())
	}
	p.stmts = nil
	return errors.Join(errs...)
}

// in returns the query head + "(?,...,?)" + tail, whose list has the
// smallest power of two of parameters at least n, and args, whose first n
// elements are the list's, padded to it by repeating the list's last
// element (in place when args has room). Texts are made once per query.
func (p *preparedReader) in(head, tail string, args []any, n int) (string, []any) {
	size := 1 << bits.Len(uint(n-1))
	if size > n {
		rest := len(args) - n
		args = slices.Grow(args, size-n)[:len(args)+size-n]
		copy(args[size:], args[n:n+rest])
		for i := n; i < size; i++ {
			args[i] = args[n-1]
		}
	}
	k := inQuery{head, tail, size}
	p.mu.Lock()
	defer p.mu.Unlock()
	text, ok := p.texts[k]
	if !ok {
		text = head + "(" + strings.TrimSuffix(strings.Repeat("?,", size), ",") + ")" + tail
		p.texts[k] = text
	}
	return text, args
}

type inQuery struct {
	head, tail string
	size       int
}

// claimTail is the in-memory index of the claims in dedup_log.
type claimTail struct {
	mu   stdsync.Mutex
	upto int64 // dedup_index.upto when last read: claims up to it are in dedup
	read int64 // the newest log seq read
	// seqs holds, for each hash of a stored key, the newest seq after upto
	// of a claim whose key has that hash.
	seqs map[int64]int64
	// seqsPeak is the most entries seqs held since it was made: a Go map
	// keeps the room of its largest size, and the log holds many claims
	// at times (a burst before the claims move into dedup) and few after.
	seqsPeak int
	// filter holds the hash of every claim with a seq up to covered
	// (claimfilter.go); nil until built, and after a gap.
	filter  *claimFilter
	covered int64
	// due wakes the background loop that builds filters.
	due chan<- struct{}
}

// wake asks the background loop for a new filter.
func (t *claimTail) wake() {
	select {
	case t.due <- struct{}{}:
	default:
	}
}

// lookupChunk is the most keys one lookup statement takes.
const lookupChunk = 512

// The first statement of a lookup reads, in one snapshot, the claims of
// its keys in dedup, dedup_index.upto and the claims appended to the log
// since the last lookup; the first column says which a row is. In that
// snapshot the log holds exactly the claims after upto.
const (
	claimsKeyed   = `SELECT 0, key, 0 FROM dedup WHERE key IN `
	claimsRefresh = ` AND expires > ? UNION ALL ` + claimsTail
	claimsTail    = `SELECT -1, upto, 0 FROM dedup_index UNION ALL SELECT seq, key, expires FROM dedup_log WHERE seq > ?`
)

// The further statements of a lookup of many keys read dedup alone.
const (
	claimsMoreKeyed = `SELECT key FROM dedup WHERE key IN `
	claimsMore      = ` AND expires > ?`
)

// liveClaims reports which of the stored keys have a live claim (expiring
// after now) in dedup or in the log. q is s.reads, or the writer's
// transaction.
//
// dedup is searched only for the keys the claim filter may hold (all of
// them while there is no filter). The claims of the log are found through
// s.claims, which the first statement brings up to date: it learns the
// claims appended since and forgets those moved into dedup, which dedup,
// read in the same or a later snapshot, holds. A key s.claims names is
// confirmed by reading its row.
func (s *Store) liveClaims(ctx context.Context, q queryer, keys []string, now int64) (map[string]bool, error) {
	live := make(map[string]bool)
	t := &s.claims
	t.mu.Lock()
	search, passed := t.screen(keys)
	first := search[:min(len(search), lookupChunk)]
	var query string
	var args []any
	if len(first) == 0 {
		query, args = claimsTail, []any{t.read}
	} else {
		// Room for the list padded to a power of two and three more.
		args = make([]any, 0, 2*len(first)+3)
		for _, k := range first {
			args = append(args, k)
		}
		query, args = s.reads.in(claimsKeyed, claimsRefresh, append(args, now, t.read), len(first))
	}
	covered := t.filter != nil
	err := t.refresh(ctx, q, query, args, live)
	var candidates map[int64][]string // log seq -> the keys it may be a claim of
	if err == nil {
		if covered && t.filter == nil { // a gap: the keys passed need dedup too
			search = keys
			first = nil
		}
		for _, k := range keys {
			if seq, ok := t.seqs[ledgerHash(k)]; ok && !live[k] {
				if candidates == nil {
					candidates = make(map[int64][]string)
				}
				candidates[seq] = append(candidates[seq], k)
			}
		}
	}
	t.mu.Unlock()
	if err != nil {
		return nil, err
	}
	s.screened.Add(int64(passed))
	for start := len(first); start < len(search); start += lookupChunk {
		chunk := search[start:min(len(search), start+lookupChunk)]
		args := make([]any, 0, 2*len(chunk)+1)
		for _, k := range chunk {
			args = append(args, k)
		}
		query, args := s.reads.in(claimsMoreKeyed, claimsMore, append(args, now), len(chunk))
		if err := readKeys(ctx, q, live, query, args...); err != nil {
			return nil, err
		}
	}
	if len(candidates) > 0 {
		if err := s.confirmLogged(ctx, q, candidates, now, live); err != nil {
			return nil, err
		}
	}
	return live, nil
}

// screen returns the keys dedup must be searched for: those the filter may
// hold, or all of them when there is no filter; and how many it let pass
// without a search. The caller holds t.mu.
func (t *claimTail) screen(keys []string) (search []string, passed int) {
	if t.filter == nil {
		return keys, 0
	}
	for _, k := range keys {
		if t.filter.mayHold(ledgerHash(k)) {
			search = append(search, k)
		}
	}
	return search, len(keys) - len(search)
}

// refresh runs the first statement of a lookup (see liveClaims), marks live
// the keys it finds in dedup, and brings t up to date: the claims it reads
// go into the filter, which is dropped if claims it never saw left the log.
func (t *claimTail) refresh(ctx context.Context, q queryer, query string, args []any, live map[string]bool) error {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	var seq, expires int64
	var key sql.RawBytes
	upto := int64(-1)
	for rows.Next() {
		if err := rows.Scan(&seq, &key, &expires); err != nil {
			return err
		}
		switch {
		case seq == 0:
			live[string(key)] = true
		case seq < 0:
			if upto, err = strconv.ParseInt(string(key), 10, 64); err != nil {
				return fmt.Errorf("read dedup_index.upto: %w", err)
			}
		default:
			h := ledgerHash(key)
			t.seqs[h] = seq
			t.seqsPeak = max(t.seqsPeak, len(t.seqs))
			t.read = max(t.read, seq)
			if t.filter != nil {
				t.filter.add(h)
			}
		}
	}
	if err := errors.Join(rows.Close(), rows.Err()); err != nil {
		return err
	}
	if upto < 0 {
		return errors.New("dedup_index has no row")
	}
	if t.filter != nil {
		if upto > t.covered {
			t.filter = nil
			t.wake()
		} else {
			t.covered = max(t.covered, t.read)
			if t.filter.full() {
				t.wake()
			}
		}
	}
	if upto > t.upto {
		for h, seq := range t.seqs {
			if seq <= upto {
				delete(t.seqs, h)
			}
		}
		t.upto = upto
		t.shrinkSeqs()
	}
	return nil
}

// shrinkSeqs moves seqs into a map of its present size once it holds a
// small part of its peak, so that the room of a burst is given back.
func (t *claimTail) shrinkSeqs() {
	if t.seqsPeak < minShrunkSeqs || len(t.seqs) > t.seqsPeak/4 {
		return
	}
	t.seqs = maps.Collect(maps.All(t.seqs))
	t.seqsPeak = len(t.seqs)
}

// minShrunkSeqs is the peak below which seqs keeps its room: small maps
// are not worth the copy.
const minShrunkSeqs = 4096

// moving adds to the filter the claims this store is about to move into
// dedup, the log's (lo, hi], so that a lookup that did not read them from
// the log finds no gap once they left it.
func (t *claimTail) moving(claims []movedClaim, lo, hi int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.filter == nil {
		return
	}
	if lo > t.covered {
		t.filter = nil
		t.wake()
		return
	}
	for _, c := range claims {
		t.filter.add(ledgerHash(c.key))
	}
	t.covered = max(t.covered, hi)
}

// confirmLogged marks live each key of candidates (log seq -> keys) whose
// claim is live: its log row, read together with dedup's claims of the
// keys, in one snapshot, since the row may have moved there since the
// caller's lookup read dedup. A row of another key (a shared hash) leaves
// the key to a scan of the log.
func (s *Store) confirmLogged(ctx context.Context, q queryer, candidates map[int64][]string, now int64, live map[string]bool) error {
	var seqs, keys []any
	for seq, ks := range candidates {
		seqs = append(seqs, seq)
		for _, k := range ks {
			keys = append(keys, k)
		}
	}
	seqList, seqs := s.reads.in(`SELECT seq, key, expires FROM dedup_log WHERE seq IN `, ``, seqs, len(seqs))
	keyList, keys := s.reads.in(` UNION ALL SELECT 0, key, expires FROM dedup WHERE key IN `, ` AND expires > ?`, append(keys, now), len(keys))
	rows, err := q.QueryContext(ctx, seqList+keyList, append(seqs, keys...)...)
	if err != nil {
		return err
	}
	defer rows.Close()
	var shared []string
	for rows.Next() {
		var seq, expires int64
		var key string
		if err := rows.Scan(&seq, &key, &expires); err != nil {
			return err
		}
		if seq == 0 {
			live[key] = true
			continue
		}
		for _, want := range candidates[seq] {
			switch {
			case key != want:
				shared = append(shared, want)
			case expires > now:
				live[want] = true
			}
		}
	}
	if err := errors.Join(rows.Close(), rows.Err()); err != nil {
		return err
	}
	for _, k := range shared {
		if live[k] {
			continue
		}
		err := readKeys(ctx, q, live, `SELECT key FROM dedup_log WHERE key = ?1 AND expires > ?2 UNION ALL SELECT key FROM dedup WHERE key = ?1 AND expires > ?2`, k, now)
		if err != nil {
			return err
		}
	}
	return nil
}

// readKeys marks live the keys query returns.
func readKeys(ctx context.Context, q queryer, live map[string]bool, query string, args ...any) error {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return err
		}
		live[k] = true
	}
	if err := rows.Close(); err != nil {
		return err
	}
	return rows.Err()
}

// Seen reports whether key was claimed and has not expired.
func (s *Store) Seen(ctx context.Context, key string) (bool, error) {
	if err := s.check(ctx); err != nil {
		return false, err
	}
	stored := codec.Key(key)
	live, err := s.liveClaims(ctx, &s.reads, []string{stored}, s.cfg.clock().UnixNano())
	if err != nil {
		return false, s.fail("look up dedup key "+key, err)
	}
	return live[stored], nil
}

// SeenMany reports which of keys are claimed and live, in one query per
// 512 keys besides the claims not yet moved out of the log.
func (s *Store) SeenMany(ctx context.Context, keys []string) (map[string]bool, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	// Keys are looked up in their stored form and answered in the caller's.
	stored := make([]string, len(keys))
	same := true
	for i, k := range keys {
		stored[i] = codec.Key(k)
		same = same && stored[i] == k
	}
	live, err := s.liveClaims(ctx, &s.reads, stored, s.cfg.clock().UnixNano())
	if err != nil {
		return nil, s.fail("look up dedup keys", err)
	}
	if same {
		return live, nil
	}
	seen := make(map[string]bool, len(live))
	for i, k := range keys {
		if live[stored[i]] {
			seen[k] = true
		}
	}
	return seen, nil
}

// claimSQL appends claims to the log.
func claimSQL(rows int) string {
	return `INSERT INTO dedup_log (key, expires) VALUES ` + values(rows, 2)
}

// Claim records key for ttl and reports whether the caller was first: the
// key has no live claim. The check and the claim are one transaction on
// the single writer.
func (s *Store) Claim(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	if err := s.check(ctx); err != nil {
		return false, err
	}
	now := s.cfg.clock()
	stored := codec.Key(key)
	first := false
	err := s.tx(ctx, "claim dedup key "+key, func(tx *sql.Tx) error {
		live, err := s.liveClaims(ctx, tx, []string{stored}, now.UnixNano())
		if err != nil || live[stored] {
			return err
		}
		first = true
		_, err = tx.ExecContext(ctx, claimSQL(1), stored, now.Add(ttl).UnixNano())
		return err
	})
	if err != nil {
		return false, err
	}
	if first {
		s.addedClaims(1)
	}
	return first, nil
}

// addedClaims tells the indexing loop that n claims were committed, and
// wakes it once enough are waiting.
func (s *Store) addedClaims(n int) {
	if n == 0 || s.claimsPending.Add(int64(n)) < int64(s.cfg.ledgerBatch) {
		return
	}
	select {
	case s.ledgerWake <- struct{}{}:
	default:
	}
}

// movedClaim is a claim of the log on its way into dedup.
type movedClaim struct {
	key     string
	expires int64
}

func moveClaimsSQL(rows int) string {
	return `INSERT INTO dedup (key, expires) VALUES ` + values(rows, 2) +
		` ON CONFLICT (key) DO UPDATE SET expires = MAX(dedup.expires, excluded.expires)`
}

// indexClaims moves the claims of the log into dedup, at most ledgerBatch
// at a time (held in memory, sorted by key), in short transactions between
// the engine's commits, and then moves upto past them and deletes them
// from the log in one transaction. A key claimed several times keeps its
// latest expiry.
func (s *Store) indexClaims(ctx context.Context) error {
	s.claimsMu.Lock()
	defer s.claimsMu.Unlock()
	for {
		s.claimsPending.Store(0)
		var upto, newest int64
		if err := s.r.QueryRowContext(ctx, `SELECT upto, COALESCE((SELECT MAX(seq) FROM dedup_log), 0) FROM dedup_index`).Scan(&upto, &newest); err != nil {
			return s.fail("read how far claims are indexed", err)
		}
		if newest <= upto {
			return nil
		}
		hi := min(newest, upto+int64(s.cfg.ledgerBatch))
		claims, err := readLoggedClaims(ctx, s.r, upto, hi)
		if err != nil {
			return s.fail("read claims to index", err)
		}
		s.claims.moving(claims, upto, hi)
		for len(claims) > 0 {
			n := min(len(claims), ledgerChunk)
			err := s.tx(ctx, "index claims", func(tx *sql.Tx) error {
				return insertRows(ctx, s, tx, n, 2, moveClaimsSQL, nil, func(i int, a []any) []any {
					return append(a, claims[i].key, claims[i].expires)
				})
			})
			if err != nil {
				return err
			}
			claims = claims[n:]
		}
		err = s.tx(ctx, "mark claims indexed", func(tx *sql.Tx) error {
			res, err := tx.ExecContext(ctx, `UPDATE dedup_index SET upto = ? WHERE upto = ?`, hi, upto)
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil || n == 0 {
				return err // another store on the file moved them
			}
			_, err = tx.ExecContext(ctx, `DELETE FROM dedup_log WHERE seq <= ?`, hi)
			return err
		})
		if err != nil || hi == newest {
			return err
		}
	}
}

// readLoggedClaims reads the claims of the log with seq in (lo, hi],
// sorted by key, one per key with its latest expiry.
func readLoggedClaims(ctx context.Context, q queryer, lo, hi int64) ([]movedClaim, error) {
	rows, err := q.QueryContext(ctx, `SELECT key, expires FROM dedup_log WHERE seq > ? AND seq <= ?`, lo, hi)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var claims []movedClaim
	for rows.Next() {
		var c movedClaim
		if err := rows.Scan(&c.key, &c.expires); err != nil {
			return nil, err
		}
		claims = append(claims, c)
	}
	if err := errors.Join(rows.Close(), rows.Err()); err != nil {
		return nil, err
	}
	slices.SortFunc(claims, func(a, b movedClaim) int { return cmp.Or(cmp.Compare(a.key, b.key), cmp.Compare(b.expires, a.expires)) })
	return slices.CompactFunc(claims, func(a, b movedClaim) bool { return a.key == b.key }), nil
}
