package memory

import (
	"context"
	"fmt"
	"slices"
	stdsync "sync"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/dedup"
)

// Store holds engine state in memory. It is safe for concurrent use. The
// zero value is not usable; call [New].
type Store struct {
	clock       func() time.Time
	maxKeys     int
	maxOutcomes int

	mu stdsync.Mutex
	// claims is the package dedup's store, so that there is one in-memory
	// dedup implementation. It is read and written only under mu all the
	// same: CommitState must make claims visible together with the
	// checkpoints they come with, never before.
	claims      *dedup.Memory
	echoes      echoSet
	versions    map[string]map[versionKey]versionValue
	checkpoints map[string]sfsync.Position
	// outcomes is the ledger in fixed-size chunks, oldest first, so that
	// appending never copies what is already stored and forgetting the
	// oldest drops a whole chunk.
	outcomes [][]sfsync.Outcome
	nOutcome int
	// positions holds the ledger's copies of position tokens, one after
	// the other (see keepToken).
	positions   []byte
	deadLetters map[string]sfsync.DeadLetter
	leases      map[string]sfsync.Lease
	tokens      map[string]int64
}

// Option configures a [Store].
type Option func(*Store)

// WithClock sets the clock used for TTLs and lease expiry; the default is
// time.Now. Tests pass a controllable clock.
func WithClock(now func() time.Time) Option { return func(s *Store) { s.clock = now } }

// WithMaxKeys bounds the number of dedup keys and of remembered writes kept
// (each); when full, expired keys go first, then the one closest to expiry
// (for dedup keys: within its shard, see [dedup.WithMaxKeys]). The default
// is 1,000,000.
func WithMaxKeys(n int) Option { return func(s *Store) { s.maxKeys = max(1, n) } }

// WithMaxOutcomes bounds the ledger; when full, the oldest outcomes are
// forgotten, a few thousand at a time. The default is 1,000,000.
func WithMaxOutcomes(n int) Option { return func(s *Store) { s.maxOutcomes = max(1, n) } }

// New returns an empty store.
func New(opts ...Option) *Store {
	s := &Store{
		clock:       time.Now,
		maxKeys:     1_000_000,
		maxOutcomes: 1_000_000,
		checkpoints: map[string]sfsync.Position{},
		deadLetters: map[string]sfsync.DeadLetter{},
		leases:      map[string]sfsync.Lease{},
		tokens:      map[string]int64{},
	}
	for _, o := range opts {
		o(s)
	}
	s.claims = dedup.NewMemory(dedup.WithClock(s.clock), dedup.WithMaxKeys(s.maxKeys))
	s.echoes = newEchoSet()
	s.versions = map[string]map[versionKey]versionValue{}
	return s
}

// Durable reports false: the state does not survive the process.
func (s *Store) Durable() bool { return false }

// Seen reports whether key was claimed and has not expired.
func (s *Store) Seen(ctx context.Context, key string) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.claims.Seen(ctx, key)
}

// SeenMany reports which of keys are claimed and live.
func (s *Store) SeenMany(ctx context.Context, keys []string) (map[string]bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := make(map[string]bool)
	for _, k := range keys {
		live, err := s.claims.Seen(ctx, k)
		if err != nil {
			return nil, err
		}
		if live {
			seen[k] = true
		}
	}
	return seen, nil
}

// Claim records key for ttl and reports whether the caller was first.
func (s *Store) Claim(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.claims.Claim(ctx, key, ttl)
}

// LoadCheckpoint returns the committed position of stream.
func (s *Store) LoadCheckpoint(ctx context.Context, stream string) (sfsync.Position, error) {
	if err := ctx.Err(); err != nil {
		return sfsync.Position{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.checkpoints[stream]
	if !ok {
		return sfsync.Position{}, fmt.Errorf("memory: no checkpoint for stream %q: %w", stream, sfsync.ErrNotFound)
	}
	p.Token = slices.Clone(p.Token)
	return p, nil
}

// SaveCheckpoint stores pos as the committed position of its stream.
func (s *Store) SaveCheckpoint(ctx context.Context, pos sfsync.Position) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.saveCheckpointLocked(pos)
	return nil
}

func (s *Store) saveCheckpointLocked(pos sfsync.Position) {
	pos.Token = slices.Clone(pos.Token)
	s.checkpoints[pos.Stream] = pos
}

// RecordOutcomes appends outcomes to the ledger.
func (s *Store) RecordOutcomes(ctx context.Context, outcomes []sfsync.Outcome) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.recordLocked(outcomes)
	return nil
}

const chunkSize = 4096

// tokenChunk is the size of the buffers ledger tokens are copied into:
// about 500 replay ids.
const tokenChunk = 4096

// keepToken returns the ledger's own copy of a position token. Copies share
// buffers of tokenChunk bytes, each capped at its own length so that an
// append to one never writes into the next: a copy of its own per outcome
// was an allocation per event. A buffer is freed with the last outcome
// that holds a token in it.
func (s *Store) keepToken(t []byte) []byte {
	if len(t) == 0 {
		return slices.Clone(t) // nil stays nil, empty stays empty
	}
	if len(s.positions)+len(t) > cap(s.positions) {
		s.positions = make([]byte, 0, max(tokenChunk, len(t)))
	}
	start := len(s.positions)
	s.positions = append(s.positions, t...)
	return s.positions[start:len(s.positions):len(s.positions)]
}

func (s *Store) recordLocked(outcomes []sfsync.Outcome) {
	for _, o := range outcomes {
		o.Position.Token = s.keepToken(o.Position.Token)
		last := len(s.outcomes) - 1
		if last < 0 || len(s.outcomes[last]) == chunkSize {
			s.outcomes = append(s.outcomes, make([]sfsync.Outcome, 0, chunkSize))
			last++
		}
		s.outcomes[last] = append(s.outcomes[last], o)
		s.nOutcome++
		if s.nOutcome-len(s.outcomes[0]) >= s.maxOutcomes {
			s.nOutcome -= len(s.outcomes[0])
			s.outcomes[0] = nil
			s.outcomes = s.outcomes[1:]
		}
	}
}

// Outcomes returns the outcomes matching q, oldest first.
func (s *Store) Outcomes(ctx context.Context, q sfsync.OutcomeQuery) ([]sfsync.Outcome, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []sfsync.Outcome
	for _, chunk := range s.outcomes {
		for _, o := range chunk {
			if !q.Matches(o) {
				continue
			}
			o.Position.Token = slices.Clone(o.Position.Token)
			out = append(out, o)
			if q.Limit > 0 && len(out) == q.Limit {
				return out, nil
			}
		}
	}
	return out, nil
}

// PutDeadLetter stores d, replacing an earlier dead letter of the same
// change key and adding up their attempts.
func (s *Store) PutDeadLetter(ctx context.Context, d sfsync.DeadLetter) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d.Key() == "" {
		return fmt.Errorf("memory: dead letter of %s has no change key; set Change.Key: %w", d.Change.String(), sfsync.ErrInvalid)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.putDeadLetterLocked(d)
	return nil
}

func (s *Store) putDeadLetterLocked(d sfsync.DeadLetter) {
	d.Change = d.Change.Clone()
	if old, ok := s.deadLetters[d.Key()]; ok {
		d.Attempts += old.Attempts
		if !old.FirstFailed.IsZero() && (d.FirstFailed.IsZero() || old.FirstFailed.Before(d.FirstFailed)) {
			d.FirstFailed = old.FirstFailed
		}
	}
	s.deadLetters[d.Key()] = d
}

// DeadLetters returns the dead letters matching q, oldest failure first.
func (s *Store) DeadLetters(ctx context.Context, q sfsync.DeadLetterQuery) ([]sfsync.DeadLetter, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	var out []sfsync.DeadLetter
	for _, d := range s.deadLetters {
		if q.Matches(d) {
			d.Change = d.Change.Clone()
			out = append(out, d)
		}
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b sfsync.DeadLetter) int {
		if c := a.LastFailed.Compare(b.LastFailed); c != 0 {
			return c
		}
		return compareStrings(a.Key(), b.Key())
	})
	if q.Limit > 0 && len(out) > q.Limit {
		out = out[:q.Limit]
	}
	return out, nil
}

// DeadLetter returns the dead letter of change key.
func (s *Store) DeadLetter(ctx context.Context, key string) (sfsync.DeadLetter, error) {
	if err := ctx.Err(); err != nil {
		return sfsync.DeadLetter{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.deadLetters[key]
	if !ok {
		return sfsync.DeadLetter{}, fmt.Errorf("memory: no dead letter with key %q: %w", key, sfsync.ErrNotFound)
	}
	d.Change = d.Change.Clone()
	return d, nil
}

// DeleteDeadLetter removes the dead letter of change key; deleting one that
// does not exist is not an error.
func (s *Store) DeleteDeadLetter(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.deadLetters, key)
	return nil
}

// CommitState writes c atomically: with respect to every other method, all
// of it is visible or none. A fenced lease writes nothing.
func (s *Store) CommitState(ctx context.Context, c sfsync.Commit) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.Lease != nil {
		if err := s.checkFenceLocked(*c.Lease); err != nil {
			return err
		}
	}
	s.recordLocked(c.Outcomes)
	for _, d := range c.DeadLetters {
		s.putDeadLetterLocked(d)
	}
	// A commit is all or nothing once it starts: the claims must not stop
	// half way because ctx ended, so they are made without its cancellation
	// (dedup.Memory fails a claim only on a done context).
	claimCtx := context.WithoutCancel(ctx)
	for _, k := range c.Claims {
		if _, err := s.claims.Claim(claimCtx, k, c.ClaimTTL); err != nil {
			return fmt.Errorf("memory: claiming idempotency key %s: %w", k, err)
		}
	}
	s.putVersionsLocked(c.Versions)
	for _, p := range c.Checkpoints {
		s.saveCheckpointLocked(p)
	}
	return nil
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
