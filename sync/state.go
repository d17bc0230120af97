package sync

import (
	"context"
	"errors"
	"fmt"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/store/memory"
)

// state is where the engine keeps what must survive it.
type state struct {
	dedup       sfsync.DedupStore
	checkpoints sfsync.CheckpointStore
	ledger      sfsync.Ledger
	deadLetters sfsync.DeadLetterStore
	echoes      sfsync.EchoStore
	versions    sfsync.VersionStore
	// committer writes, in one transaction, the parts of a commit that are
	// its own (own says which); the others are written one by one before
	// it, so that its transaction, which carries the checkpoints, comes last.
	committer sfsync.StateCommitter
	own       ownedParts
	durable   bool
}

// ownedParts says which parts of a [sfsync.Commit] the committer holds.
type ownedParts struct {
	outcomes, deadLetters, claims, checkpoints, versions bool
}

type durability interface{ Durable() bool }

// resolveState assembles the engine's state from WithStore and the
// overrides of single parts. Parts no store provides live in one memory
// store, which then also commits them together.
func resolveState(o stateOptions, lease *leaseConfig) (state, error) {
	var st state
	var fallback *memory.Store
	mem := func() *memory.Store {
		if fallback == nil {
			fallback = memory.New()
		}
		return fallback
	}
	// part picks an override, else the store's own implementation, else
	// memory; it reports whether the store's own was taken.
	part := func(override, fromStore any, dst func(any)) bool {
		switch {
		case override != nil:
			dst(override)
		case fromStore != nil:
			dst(fromStore)
			return true
		default:
			dst(mem())
		}
		return false
	}
	store := o.store
	var own ownedParts
	own.claims = part(nilIfNil(o.dedup), as[sfsync.DedupStore](store), func(v any) { st.dedup = v.(sfsync.DedupStore) })
	own.checkpoints = part(nilIfNil(o.checkpoints), as[sfsync.CheckpointStore](store), func(v any) { st.checkpoints = v.(sfsync.CheckpointStore) })
	own.outcomes = part(nilIfNil(o.ledger), as[sfsync.Ledger](store), func(v any) { st.ledger = v.(sfsync.Ledger) })
	own.deadLetters = part(nilIfNil(o.deadLetters), as[sfsync.DeadLetterStore](store), func(v any) { st.deadLetters = v.(sfsync.DeadLetterStore) })
	// Fingerprints are not part of a commit: whose they are does not matter.
	part(nilIfNil(o.echoes), as[sfsync.EchoStore](store), func(v any) { st.echoes = v.(sfsync.EchoStore) })
	own.versions = part(nilIfNil(o.versions), as[sfsync.VersionStore](store), func(v any) { st.versions = v.(sfsync.VersionStore) })

	if c, ok := store.(sfsync.StateCommitter); ok {
		st.committer, st.own = c, own
	} else if fallback != nil && store == nil && o.dedup == nil && o.checkpoints == nil && o.ledger == nil && o.deadLetters == nil && o.versions == nil {
		st.committer = fallback
		st.own = ownedParts{true, true, true, true, true}
	}
	st.durable = fallback == nil
	if d, ok := store.(durability); ok && !d.Durable() {
		st.durable = false
	}
	if lease != nil {
		// Fencing is the store refusing a commit of a lease that was taken
		// over: the checkpoints must be committed by the store that grants
		// the lease, in the transaction that checks it.
		if st.committer == nil || !st.own.checkpoints {
			return st, fmt.Errorf("%w: WithLease needs checkpoints committed by a store that checks the lease (WithStore of a store with leases and group commit); without it a fenced engine would keep moving the checkpoint", sfsync.ErrInvalid)
		}
		if any(st.committer) != any(lease.leaser) {
			return st, fmt.Errorf("%w: WithLease's leaser must be the store given to WithStore, whose commits check the lease; a separate leaser cannot fence them", sfsync.ErrInvalid)
		}
	}
	return st, nil
}

// nilIfNil turns a typed nil interface into an untyped one.
func nilIfNil[T any](v T) any {
	if any(v) == nil {
		return nil
	}
	return v
}

func as[T any](v any) any {
	if t, ok := v.(T); ok {
		return t
	}
	return nil
}

// commit writes c: the parts the committer does not own one by one, then
// the rest with the checkpoints in one transaction.
func (st *state) commit(ctx context.Context, c sfsync.Commit) error {
	rest := c
	own := st.own
	if st.committer == nil {
		own = ownedParts{}
	}
	if !own.outcomes {
		rest.Outcomes = nil
		if len(c.Outcomes) > 0 {
			if err := st.ledger.RecordOutcomes(ctx, c.Outcomes); err != nil {
				return fmt.Errorf("recording %d outcomes: %w", len(c.Outcomes), err)
			}
		}
	}
	if !own.deadLetters {
		rest.DeadLetters = nil
		for _, d := range c.DeadLetters {
			if err := st.deadLetters.PutDeadLetter(ctx, d); err != nil {
				return fmt.Errorf("storing dead letter %s: %w", d.Key(), err)
			}
		}
	}
	if !own.claims {
		rest.Claims = nil
		for _, k := range c.Claims {
			if _, err := st.dedup.Claim(ctx, k, c.ClaimTTL); err != nil {
				return fmt.Errorf("claiming idempotency key %s: %w", k, err)
			}
		}
	}
	if !own.versions {
		rest.Versions = nil
		if len(c.Versions) > 0 {
			if err := st.versions.PutAppliedVersions(ctx, c.Versions); err != nil {
				return fmt.Errorf("storing %d applied versions: %w", len(c.Versions), err)
			}
		}
	}
	if !own.checkpoints {
		rest.Checkpoints = nil
	}
	if st.committer != nil {
		if err := st.committer.CommitState(ctx, rest); err != nil {
			return err
		}
	}
	if !own.checkpoints {
		for _, p := range c.Checkpoints {
			if err := st.checkpoints.SaveCheckpoint(ctx, p); err != nil {
				return fmt.Errorf("saving checkpoint of %s: %w", p.Stream, err)
			}
		}
	}
	return nil
}

func isNotFound(err error) bool { return errors.Is(err, sfsync.ErrNotFound) }
