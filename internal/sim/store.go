package sim

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	stdsync "sync"
	"time"

	"github.com/sfsync/sfsync"
)

// baseStore is what every state backend the simulator runs implements.
type baseStore interface {
	sfsync.DedupStore
	sfsync.SeenBatcher
	sfsync.CheckpointStore
	sfsync.Ledger
	sfsync.DeadLetterStore
	sfsync.EchoStore
	sfsync.Leaser
	sfsync.StateCommitter
}

// watchedStore is the scenario's state store as every engine instance of
// the scenario shares it. It passes everything to the real store and
// watches what is committed: the outcome keys, and every checkpoint, which
// must never move backwards nor pass a delivered change without an
// outcome (invariant checkpoint-monotone).
type watchedStore struct {
	base baseStore
	r    *run

	mu          stdsync.Mutex
	outcomeKeys map[string]bool
	nOutcomes   int
	checkpoints map[string][]byte
	// versions stands in for the durable version map while the real
	// store has none (see sfsync.VersionStore); it lives as long as the
	// scenario's state, like the store's own tables.
	versions map[string]sfsync.AppliedVersion
}

func newWatchedStore(base baseStore, r *run) *watchedStore {
	return &watchedStore{base: base, r: r, outcomeKeys: map[string]bool{}, checkpoints: map[string][]byte{},
		versions: map[string]sfsync.AppliedVersion{}}
}

// committed records what a successful commit made durable and checks its
// checkpoints.
func (s *watchedStore) committed(outcomes []sfsync.Outcome, cps []sfsync.Position, vs []sfsync.AppliedVersion) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range outcomes {
		s.outcomeKeys[o.Key] = true
	}
	s.nOutcomes += len(outcomes)
	if _, native := s.base.(sfsync.VersionStore); !native {
		for _, v := range vs {
			s.versions[v.Record+"\x00"+string(v.Source)+"\x00"+v.Field] = v
		}
	}
	for _, cp := range cps {
		if !s.r.sourceStream(cp.Stream) {
			// The engine's own bookkeeping (backfill progress), not a
			// source position.
			continue
		}
		if prev, ok := s.checkpoints[cp.Stream]; ok && bytes.Compare(cp.Token, prev) < 0 {
			s.r.violate(InvCheckpoint, "", fmt.Sprintf("checkpoint of %s moved backwards from %x to %x", cp.Stream, prev, cp.Token))
		}
		s.checkpoints[cp.Stream] = bytes.Clone(cp.Token)
		for _, d := range s.r.deliveriesUpTo(cp) {
			if !s.outcomeKeys[d.Key] {
				s.r.violate(InvCheckpoint, d.Key, fmt.Sprintf("checkpoint %x of %s stored before change %s (delivered at %x) had an outcome",
					cp.Token, cp.Stream, d.Key, d.Pos.Token))
			}
		}
	}
}

// outcomes counts the outcomes committed so far.
func (s *watchedStore) outcomes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nOutcomes
}

func (s *watchedStore) hasOutcome(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.outcomeKeys[key]
}

func (s *watchedStore) CommitState(ctx context.Context, c sfsync.Commit) error {
	if err := s.base.CommitState(ctx, c); err != nil {
		return err
	}
	s.committed(c.Outcomes, c.Checkpoints, c.Versions)
	return nil
}

func (s *watchedStore) RecordOutcomes(ctx context.Context, os []sfsync.Outcome) error {
	if err := s.base.RecordOutcomes(ctx, os); err != nil {
		return err
	}
	s.committed(os, nil, nil)
	return nil
}

func (s *watchedStore) SaveCheckpoint(ctx context.Context, pos sfsync.Position) error {
	if err := s.base.SaveCheckpoint(ctx, pos); err != nil {
		return err
	}
	s.committed(nil, []sfsync.Position{pos}, nil)
	return nil
}

func (s *watchedStore) AppliedVersions(ctx context.Context, records []string) ([]sfsync.AppliedVersion, error) {
	if vs, ok := s.base.(sfsync.VersionStore); ok {
		return vs.AppliedVersions(ctx, records)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	want := map[string]bool{}
	for _, r := range records {
		want[r] = true
	}
	var out []sfsync.AppliedVersion
	for _, v := range s.versions {
		if want[v.Record] {
			out = append(out, v)
		}
	}
	return out, nil
}

func (s *watchedStore) PutAppliedVersions(ctx context.Context, vs []sfsync.AppliedVersion) error {
	if b, ok := s.base.(sfsync.VersionStore); ok {
		return b.PutAppliedVersions(ctx, vs)
	}
	s.committed(nil, nil, vs)
	return nil
}

// instanceStore is one engine instance's view of the shared store, behind
// its gate: after a crash nothing it does reaches the store.
type instanceStore struct {
	s *watchedStore
	g *gate
	// lag, when set, delays the lookups a change's decision makes.
	lag *lag
}

// lag is a slow database's latency: each lookup waits a random while up
// to max, so that the engine's concurrent paths (its lanes, the park, the
// committer) meet in orders a fast store seldom shows.
type lag struct {
	max time.Duration
	mu  stdsync.Mutex
	rng *rand.Rand
}

func newLag(max time.Duration, seed int64, instance int) *lag {
	if max <= 0 {
		return nil
	}
	return &lag{max: max, rng: rand.New(rand.NewPCG(uint64(seed), uint64(instance)))}
}

// wait is the lookup's latency; the process's death or stop ends it.
func (l *lag) wait(ctx context.Context) {
	if l == nil {
		return
	}
	l.mu.Lock()
	d := time.Duration(l.rng.Int64N(int64(l.max)))
	l.mu.Unlock()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

func (i instanceStore) Durable() bool { return true }

func (i instanceStore) Seen(ctx context.Context, key string) (bool, error) {
	i.lag.wait(ctx)
	if err := i.g.pass(ctx); err != nil {
		return false, err
	}
	return i.s.base.Seen(ctx, key)
}

func (i instanceStore) SeenMany(ctx context.Context, keys []string) (map[string]bool, error) {
	i.lag.wait(ctx)
	if err := i.g.pass(ctx); err != nil {
		return nil, err
	}
	return i.s.base.SeenMany(ctx, keys)
}

func (i instanceStore) Claim(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	if err := i.g.pass(ctx); err != nil {
		return false, err
	}
	return i.s.base.Claim(ctx, key, ttl)
}

func (i instanceStore) LoadCheckpoint(ctx context.Context, stream string) (sfsync.Position, error) {
	if err := i.g.pass(ctx); err != nil {
		return sfsync.Position{}, err
	}
	return i.s.base.LoadCheckpoint(ctx, stream)
}

func (i instanceStore) SaveCheckpoint(ctx context.Context, pos sfsync.Position) error {
	if err := i.g.pass(ctx); err != nil {
		return err
	}
	return i.s.SaveCheckpoint(ctx, pos)
}

func (i instanceStore) RecordOutcomes(ctx context.Context, os []sfsync.Outcome) error {
	if err := i.g.pass(ctx); err != nil {
		return err
	}
	return i.s.RecordOutcomes(ctx, os)
}

func (i instanceStore) Outcomes(ctx context.Context, q sfsync.OutcomeQuery) ([]sfsync.Outcome, error) {
	if err := i.g.pass(ctx); err != nil {
		return nil, err
	}
	return i.s.base.Outcomes(ctx, q)
}

func (i instanceStore) PutDeadLetter(ctx context.Context, d sfsync.DeadLetter) error {
	if err := i.g.pass(ctx); err != nil {
		return err
	}
	return i.s.base.PutDeadLetter(ctx, d)
}

func (i instanceStore) DeadLetters(ctx context.Context, q sfsync.DeadLetterQuery) ([]sfsync.DeadLetter, error) {
	if err := i.g.pass(ctx); err != nil {
		return nil, err
	}
	return i.s.base.DeadLetters(ctx, q)
}

func (i instanceStore) DeadLetter(ctx context.Context, key string) (sfsync.DeadLetter, error) {
	if err := i.g.pass(ctx); err != nil {
		return sfsync.DeadLetter{}, err
	}
	return i.s.base.DeadLetter(ctx, key)
}

func (i instanceStore) DeleteDeadLetter(ctx context.Context, key string) error {
	if err := i.g.pass(ctx); err != nil {
		return err
	}
	return i.s.base.DeleteDeadLetter(ctx, key)
}

func (i instanceStore) RememberWrites(ctx context.Context, fps []string, ttl time.Duration) error {
	if err := i.g.pass(ctx); err != nil {
		return err
	}
	return i.s.base.RememberWrites(ctx, fps, ttl)
}

func (i instanceStore) MatchWrite(ctx context.Context, fp string) (bool, error) {
	i.lag.wait(ctx)
	if err := i.g.pass(ctx); err != nil {
		return false, err
	}
	return i.s.base.MatchWrite(ctx, fp)
}

func (i instanceStore) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (sfsync.Lease, error) {
	if err := i.g.pass(ctx); err != nil {
		return sfsync.Lease{}, err
	}
	return i.s.base.AcquireLease(ctx, name, holder, ttl)
}

func (i instanceStore) RenewLease(ctx context.Context, l sfsync.Lease, ttl time.Duration) (sfsync.Lease, error) {
	if err := i.g.pass(ctx); err != nil {
		return sfsync.Lease{}, err
	}
	return i.s.base.RenewLease(ctx, l, ttl)
}

func (i instanceStore) ReleaseLease(ctx context.Context, l sfsync.Lease) error {
	if err := i.g.pass(ctx); err != nil {
		return err
	}
	return i.s.base.ReleaseLease(ctx, l)
}

func (i instanceStore) CommitState(ctx context.Context, c sfsync.Commit) error {
	if err := i.g.pass(ctx); err != nil {
		return err
	}
	if err := i.s.CommitState(ctx, c); err != nil {
		return err
	}
	if i.g.superseded.Load() {
		i.s.r.violate(InvCheckpoint, "", fmt.Sprintf("an engine whose lease was taken over committed %d outcomes and %d checkpoints: it was not fenced",
			len(c.Outcomes), len(c.Checkpoints)))
	}
	return nil
}

func (i instanceStore) AppliedVersions(ctx context.Context, records []string) ([]sfsync.AppliedVersion, error) {
	i.lag.wait(ctx)
	if err := i.g.pass(ctx); err != nil {
		return nil, err
	}
	return i.s.AppliedVersions(ctx, records)
}

func (i instanceStore) PutAppliedVersions(ctx context.Context, vs []sfsync.AppliedVersion) error {
	if err := i.g.pass(ctx); err != nil {
		return err
	}
	return i.s.PutAppliedVersions(ctx, vs)
}
