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
	leaser      sfsync.Leaser
	// committer is set when one store holds every part and writes a batch
	// in one transaction.
	committer sfsync.StateCommitter
	durable   bool
}

type durability interface{ Durable() bool }

func resolveState(o stateOptions) state {
	var st state
	var fallback *memory.Store
	mem := func() *memory.Store {
		if fallback == nil {
			fallback = memory.New()
		}
		return fallback
	}
	own := 0
	pick := func(override any, fromStore any) any {
		if override != nil {
			return override
		}
		if fromStore != nil {
			own++
			return fromStore
		}
		return nil
	}
	store := o.store
	if v := pick(o.dedup, as[sfsync.DedupStore](store)); v != nil {
		st.dedup = v.(sfsync.DedupStore)
	} else {
		st.dedup = mem()
	}
	if v := pick(o.checkpoints, as[sfsync.CheckpointStore](store)); v != nil {
		st.checkpoints = v.(sfsync.CheckpointStore)
	} else {
		st.checkpoints = mem()
	}
	if v := pick(o.ledger, as[sfsync.Ledger](store)); v != nil {
		st.ledger = v.(sfsync.Ledger)
	} else {
		st.ledger = mem()
	}
	if v := pick(o.deadLetters, as[sfsync.DeadLetterStore](store)); v != nil {
		st.deadLetters = v.(sfsync.DeadLetterStore)
	} else {
		st.deadLetters = mem()
	}
	if v := pick(o.echoes, as[sfsync.EchoStore](store)); v != nil {
		st.echoes = v.(sfsync.EchoStore)
	} else {
		st.echoes = mem()
	}
	if l, ok := store.(sfsync.Leaser); ok {
		st.leaser = l
	}
	if c, ok := store.(sfsync.StateCommitter); ok && own == 5 {
		st.committer = c
	} else if fallback != nil && o.store == nil && o.dedup == nil && o.checkpoints == nil && o.ledger == nil && o.deadLetters == nil {
		st.committer = fallback
	}
	st.durable = fallback == nil
	if d, ok := store.(durability); ok && !d.Durable() {
		st.durable = false
	}
	return st
}

func as[T any](v any) any {
	if t, ok := v.(T); ok {
		return t
	}
	return nil
}

// commit writes c, through one transaction when the store can.
func (st *state) commit(ctx context.Context, c sfsync.Commit) error {
	if st.committer != nil {
		return st.committer.CommitState(ctx, c)
	}
	if len(c.Outcomes) > 0 {
		if err := st.ledger.RecordOutcomes(ctx, c.Outcomes); err != nil {
			return fmt.Errorf("recording %d outcomes: %w", len(c.Outcomes), err)
		}
	}
	for _, d := range c.DeadLetters {
		if err := st.deadLetters.PutDeadLetter(ctx, d); err != nil {
			return fmt.Errorf("storing dead letter %s: %w", d.Key(), err)
		}
	}
	for _, k := range c.Claims {
		if _, err := st.dedup.Claim(ctx, k, c.ClaimTTL); err != nil {
			return fmt.Errorf("claiming idempotency key %s: %w", k, err)
		}
	}
	for _, p := range c.Checkpoints {
		if err := st.checkpoints.SaveCheckpoint(ctx, p); err != nil {
			return fmt.Errorf("saving checkpoint of %s: %w", p.Stream, err)
		}
	}
	return nil
}

func isNotFound(err error) bool { return errors.Is(err, sfsync.ErrNotFound) }
