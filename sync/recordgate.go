package sync

import (
	"context"
	"slices"
	stdsync "sync"
)

// Record gates. A worker owns the records whose ids hash to its lane, but
// one record has two ids where a mapping links it (its Salesforce id and
// its external id): a Salesforce change and an ERP change of it can be
// decided in two lanes at once. Each decision reads the other system, and
// each write lands on what the other's read did not see: a repair of
// Salesforce built from the ERP's record as it was before its user's edit
// lands after that edit's own write to Salesforce, and Salesforce keeps the
// older value while the ERP holds the newer one. So a lane decides and
// writes a record, with its repair and re-read, only while it holds the
// record's gate; in-memory crossing marks and parks stay for what one
// engine cannot order (a target's own users).
//
// Gates are taken in the records' order, all of a batch's at once, and
// held only while the batch decides and writes: a write's retries and
// backoff count, but nothing waits for another lane while holding one (a
// change that must wait for an event parks; one that crossed a write on
// its way waits for that write's call to return, made under its lane's
// gates), so no lane waits for a gate held by a lane that waits for it.

// recordGates holds the records being decided and written.
type recordGates struct {
	mu   stdsync.Mutex
	held map[string]struct{}
	// freed, made when a lane waits, is closed when gates are left:
	// waits are rare, and a channel per record would cost every change
	// an allocation.
	freed chan struct{}
	// waiting, when set (by tests, before Run), is told of each wait for
	// a record's gate.
	waiting func(record string)
}

// heldGates is the context key that says a goroutine holds gates: a
// change's repair and re-read are decided and written as batches of their
// own, of the same record, under the gate their change took.
type heldGates struct{}

// enterFor takes the gates of records, sorted and without repeats, and
// returns a context that says it holds them, with the gates it took, for
// leave. Under a context that holds gates already it takes none: the
// batch is a repair or re-read of the change that took them, and a gate
// taken out of order could wait for a lane that waits for this one. It
// returns a nil context when ctx ends first.
func (g *recordGates) enterFor(ctx context.Context, records []string) (context.Context, []string) {
	if len(records) == 0 || ctx.Value(heldGates{}) != nil {
		return ctx, nil
	}
	if !g.enter(ctx, records) {
		return nil, nil
	}
	return context.WithValue(ctx, heldGates{}, true), records
}

// enter takes the gates of records, sorted and without repeats, waiting
// while another lane holds one. It reports false, holding none, when ctx
// ends first.
func (g *recordGates) enter(ctx context.Context, records []string) bool {
	for i, r := range records {
		for {
			g.mu.Lock()
			if _, busy := g.held[r]; !busy {
				if g.held == nil {
					g.held = make(map[string]struct{})
				}
				g.held[r] = struct{}{}
				g.mu.Unlock()
				break
			}
			if g.freed == nil {
				g.freed = make(chan struct{})
			}
			freed := g.freed
			g.mu.Unlock()
			if g.waiting != nil {
				g.waiting(r)
			}
			select {
			case <-freed:
			case <-ctx.Done():
				g.leave(records[:i])
				return false
			}
		}
	}
	return true
}

// leave frees the gates of records.
func (g *recordGates) leave(records []string) {
	if len(records) == 0 {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, r := range records {
		delete(g.held, r)
	}
	if g.freed != nil {
		close(g.freed)
		g.freed = nil
	}
}

// gated returns, sorted and without repeats, the records of ws whose
// target's changes reach the engine: only those can be decided in two
// lanes at once.
func (e *Engine) gated(ws []*work, records []string) []string {
	for _, w := range ws {
		if e.flowsFrom(w.route.To, w.c.Object) {
			records = append(records, w.recordKey())
		}
	}
	slices.Sort(records)
	return slices.Compact(records)
}
