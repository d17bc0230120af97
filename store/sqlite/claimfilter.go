package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"math/bits"
	"time"
)

// A lookup of a key nobody claimed, which is what almost every lookup of
// a live stream is, used to search dedup's B-tree for it: a leaf page
// read from the file for each key, since every commit of the writer
// resets a reader's page cache, and a search that costs more as the table
// grows (BENCHMARKS.md measures it). Every Store keeps a Bloom filter of
// the hashes of the claimed keys, and asks dedup only about the keys the
// filter may hold: a key it does not hold was never claimed.
//
// That answer is only as good as the filter is complete. claimTail.covered
// says how far it is: every claim with a log seq up to covered is in the
// filter. The lookups' reads of the log (refresh) add the claims they read
// and move covered to the newest; this store's own moves into dedup add
// the claims they move before moving them. A claim that left the log
// before this store read it (moved by another store on the file while
// this one was idle) leaves a gap: a refresh that finds dedup_index.upto
// past covered drops the filter, lookups search dedup for every key again,
// and the background loop builds a new filter from one snapshot of dedup
// and the log, plus the log's claims read since (claimTail.seqs). The loop
// also builds a new, larger one when the filter is full, which drops the
// hashes of the claims that expired since the last build.

const (
	// filterBitsPerKey and filterHashes keep the false-positive rate under
	// 1% at the filter's limit (0.8% at ten bits and seven hashes); a false
	// positive costs the search the filter exists to skip, never a wrong
	// answer.
	filterBitsPerKey = 10
	filterHashes     = 7
	// filterMinKeys is the smallest limit a filter is made with (80 KiB).
	filterMinKeys = 1 << 16
)

// claimFilter is a Bloom filter of key hashes (ledgerHash).
type claimFilter struct {
	bits  []uint64
	mask  uint64 // the number of bits, a power of two, less one
	keys  int    // hashes added, counting repeats
	limit int    // keys at which a new filter is due
}

// newClaimFilter returns a filter for twice live keys (at least
// filterMinKeys): it is due for a rebuild once as many claims again were
// added.
func newClaimFilter(live int) *claimFilter {
	limit := max(filterMinKeys, 2*live)
	n := 1 << bits.Len(uint(limit*filterBitsPerKey-1))
	return &claimFilter{bits: make([]uint64, n/64), mask: uint64(n - 1), limit: limit}
}

// probes returns the start and the stride of a hash's probe sequence
// (double hashing). ledgerHash is FNV-1a, whose low bits are weak for keys
// that differ only in their last bytes: the hash is mixed first
// (splitmix64's finalizer).
func probes(h int64) (start, stride uint64) {
	x := uint64(h)
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x, bits.RotateLeft64(x, 32) | 1
}

func (f *claimFilter) add(h int64) {
	p, d := probes(h)
	for range filterHashes {
		b := p & f.mask
		f.bits[b>>6] |= 1 << (b & 63)
		p += d
	}
	f.keys++
}

// mayHold reports whether a key with hash h may have been added: false
// means it was not.
func (f *claimFilter) mayHold(h int64) bool {
	p, d := probes(h)
	for range filterHashes {
		b := p & f.mask
		if f.bits[b>>6]&(1<<(b&63)) == 0 {
			return false
		}
		p += d
	}
	return true
}

// full reports whether a new filter is due.
func (f *claimFilter) full() bool { return f.keys >= f.limit }

// claimFilterDue reports whether the background loop should build a
// filter: there is none, or it is full.
func (s *Store) claimFilterDue() bool {
	t := &s.claims
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.filter == nil || t.filter.full()
}

// buildClaimFilter builds a filter from one snapshot of dedup and the log,
// and the log's claims read since, and installs it. The caller holds
// claimsMu: this store moves no claim meanwhile. It gives up, leaving the
// filter as it was, when another store on the file moved claims this one
// read after the snapshot (they left claimTail.seqs): the next round tries
// again.
func (s *Store) buildClaimFilter(ctx context.Context) error {
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	defer tx.Rollback()
	now := s.cfg.clock().UnixNano()
	var newest, claims int64
	// The first statement starts the snapshot the others read.
	err = tx.QueryRowContext(ctx, `SELECT COALESCE((SELECT MAX(seq) FROM dedup_log), upto), (SELECT COUNT(*) FROM dedup) + (SELECT COUNT(*) FROM dedup_log) FROM dedup_index`).Scan(&newest, &claims)
	if err != nil {
		return err
	}
	f := newClaimFilter(int(claims))
	rows, err := tx.QueryContext(ctx, `SELECT key FROM dedup WHERE expires > ? UNION ALL SELECT key FROM dedup_log WHERE expires > ?`, now, now)
	if err != nil {
		return err
	}
	defer rows.Close()
	var key sql.RawBytes
	for rows.Next() {
		if err := rows.Scan(&key); err != nil {
			return err
		}
		f.add(ledgerHash(key))
	}
	if err := errors.Join(rows.Close(), rows.Err()); err != nil {
		return err
	}
	t := &s.claims
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.upto > newest {
		return nil
	}
	for h, seq := range t.seqs {
		if seq > newest { // read after the snapshot
			f.add(h)
		}
	}
	t.filter, t.covered = f, max(newest, t.read)
	return nil
}

// claimFilterLoop builds a filter whenever one is due: at open, after a
// gap, and when the filter is full.
func (s *Store) claimFilterLoop() {
	defer close(s.filterDone)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-s.stop
		cancel()
	}()
	// A build that failed, or gave up because another store on the file
	// moved claims meanwhile, is tried again after a while.
	var again <-chan time.Time
	for {
		select {
		case <-s.stop:
			return
		case <-s.filterWake:
		case <-again:
		}
		if err := s.keepClaimFilter(ctx); err != nil && ctx.Err() == nil && !s.closed.Load() {
			s.log.Warn("sqlite: building the filter of claimed keys failed; lookups search dedup for every key until a build succeeds", "err", err)
		}
		again = nil
		if s.claimFilterDue() {
			again = time.After(s.cfg.ledgerEvery)
		}
	}
}

// keepClaimFilter builds a filter when one is due.
func (s *Store) keepClaimFilter(ctx context.Context) error {
	if !s.claimFilterDue() {
		return nil
	}
	s.claimsMu.Lock()
	defer s.claimsMu.Unlock()
	if err := s.buildClaimFilter(ctx); err != nil {
		return s.fail("build the filter of claimed keys", err)
	}
	return nil
}
