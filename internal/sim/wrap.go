package sim

import (
	"context"
	"errors"
	"fmt"
	"slices"
	stdsync "sync"
	"sync/atomic"
	"time"

	"github.com/sfsync/sfsync"
	ssync "github.com/sfsync/sfsync/sync"
)

// watchedSource records every change an engine instance receives (the
// "delivered" events of exactly-one-outcome) and can interpose
// keepalive-only deliveries.
type watchedSource struct {
	inner sfsync.EventSource
	g     *gate
	r     *run
	// keepalives is shared by the scenario: how many keepalive-only
	// deliveries are still to interpose.
	keepalives *atomic.Int32
	last       *sfsync.Position // only the engine's intake goroutine touches it
	// onRead, when set, sees every delivery after it is recorded.
	onRead func([]sfsync.Change)
	// handed counts the deliveries handed over to the engine, which
	// counts them in its turn only once it has taken them (see quiet). A
	// delivery is counted here before it is recorded, so that a ping seen
	// is always a delivery the engine is known to be owed.
	handed atomic.Int64
}

func (w *watchedSource) Receive(ctx context.Context) ([]sfsync.Change, error) {
	if err := w.g.pass(ctx); err != nil {
		return nil, err
	}
	if w.keepalives != nil && w.last != nil && takeOne(w.keepalives) {
		// A Pub/Sub keepalive names the newest replay id, which is the
		// last event's when nothing new was published.
		w.handed.Add(1)
		return w.handOver(ctx, []sfsync.Change{{Source: sfsync.Salesforce, Object: w.last.Stream, Op: sfsync.OpAdvance, Position: *w.last}}), nil
	}
	cs, err := w.inner.Receive(ctx)
	if err != nil {
		return nil, err
	}
	if len(cs) > 0 {
		p := cs[len(cs)-1].Position
		w.last = &p
	}
	w.handed.Add(1)
	w.r.delivered(cs)
	if w.onRead != nil {
		w.onRead(cs)
	}
	return w.handOver(ctx, cs), nil
}

// handOver hands a delivery over to the engine, through the test hook
// when there is one.
func (w *watchedSource) handOver(ctx context.Context, cs []sfsync.Change) []sfsync.Change {
	if h := w.r.opt.handover; h != nil {
		h(ctx, cs)
	}
	return cs
}

func takeOne(n *atomic.Int32) bool {
	for {
		v := n.Load()
		if v <= 0 {
			return false
		}
		if n.CompareAndSwap(v, v-1) {
			return true
		}
	}
}

// Commit is behind the instance's gate too: a process that died after
// storing its checkpoint never tells its sources.
func (w *watchedSource) Commit(ctx context.Context, pos sfsync.Position) error {
	if err := w.g.pass(ctx); err != nil {
		return err
	}
	return w.inner.Commit(ctx, pos)
}

func (w *watchedSource) Resume(ctx context.Context, cps sfsync.CheckpointStore) error {
	if r, ok := w.inner.(sfsync.Resumer); ok {
		return r.Resume(ctx, cps)
	}
	return nil
}

func (w *watchedSource) Stream() string {
	if s, ok := w.inner.(interface{ Stream() string }); ok {
		return s.Stream()
	}
	return ""
}

// sinkFaults are the faults injected into one direction's writes. They
// live in the wrapper rather than in the fakes so that they can be cleared
// before the final requeue.
type sinkFaults struct {
	retry   int // writes that fail retryably without taking effect
	perm    int // writes that fail permanently without taking effect
	lostAck int // writes that take effect and then time out
	// stall, when set, holds the next write until it is closed (a slow
	// request); a crash or a settle releases it.
	stall chan struct{}
}

var (
	errInjectedRetry = sfsync.Retryable(errors.New("sim: injected timeout; the write did not take effect"))
	errInjectedPerm  = sfsync.Permanent(errors.New("sim: injected rejection (a validation rule an operator then fixes)"))
	errLostAck       = sfsync.Retryable(errors.New("sim: the write took effect but its response was lost (timeout)"))
)

// writes counts, per idempotency key, how often a write took effect
// (no-double-effect) and holds the direction's injected faults.
type writes struct {
	mu      stdsync.Mutex
	applied map[string]int
	who     map[string][]string // key -> the instance and attempt of each effect
	marks   map[string][]writeMark
	// edits returns how many edits the run's history holds (see owed.go).
	edits  func() int
	total  int
	faults sinkFaults
	stalls []chan struct{} // every stall injected and not yet released
}

func newWrites(edits func() int) *writes {
	return &writes{applied: map[string]int{}, who: map[string][]string{}, marks: map[string][]writeMark{}, edits: edits}
}

func (w *writes) marksOf(key string) []writeMark {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.marks[key])
}

func (w *writes) history(key string) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.who[key]...)
}

func (w *writes) inject(f func(*sinkFaults)) {
	w.mu.Lock()
	f(&w.faults)
	w.mu.Unlock()
}

// release ends a stall, whether or not a write took it.
func (w *writes) release() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, ch := range w.stalls {
		close(ch)
	}
	w.stalls = nil
	w.faults.stall = nil
}

func (w *writes) counts() (map[string]int, int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make(map[string]int, len(w.applied))
	for k, v := range w.applied {
		out[k] = v
	}
	return out, w.total
}

// stateSink is what both directions write to: the real salesforce.Sink,
// or the ERP (synctest.System or pgmirror.Mirror).
type stateSink interface {
	sfsync.Sink
	sfsync.StateReader
}

// faultySink is one engine instance's sink for one direction: behind the
// instance's gate, with injected faults, counting what took effect.
type faultySink struct {
	inner stateSink
	to    sfsync.System
	g     *gate
	w     *writes
	inst  int
}

func (s faultySink) System() sfsync.System { return s.to }

func (s faultySink) Read(ctx context.Context, object string, ids []string) (map[string]sfsync.Record, error) {
	if err := s.g.pass(ctx); err != nil {
		return nil, err
	}
	return s.inner.Read(ctx, object, ids)
}

func (s faultySink) Write(ctx context.Context, cs []sfsync.Change) error {
	return s.write(ctx, cs, func(idx []int, pass []sfsync.Change) error { return s.inner.Write(ctx, pass) })
}

// conditionalSink is a faultySink whose inner sink writes conditionally
// (pgmirror): the engine's preconditions reach it with the changes that
// pass the faults.
type conditionalSink struct{ faultySink }

func (s conditionalSink) WriteIf(ctx context.Context, cs []sfsync.Change, read []sfsync.Record) error {
	return s.write(ctx, cs, func(idx []int, pass []sfsync.Change) error {
		pre := make([]sfsync.Record, len(idx))
		for j, i := range idx {
			pre[j] = read[i]
		}
		return s.inner.(sfsync.ConditionalSink).WriteIf(ctx, pass, pre)
	})
}

// newFaultySink returns s as the engine's sink: a conditionalSink when
// its inner sink writes conditionally, so that the engine sees the same.
func newFaultySink(s faultySink) sfsync.Sink {
	if _, ok := s.inner.(sfsync.ConditionalSink); ok {
		return conditionalSink{s}
	}
	return s
}

// write injects the faults into one write of cs; apply writes the changes
// that pass them (pass, at indexes idx of cs).
func (s faultySink) write(ctx context.Context, cs []sfsync.Change, apply func(idx []int, pass []sfsync.Change) error) error {
	if err := s.g.pass(ctx); err != nil {
		return err
	}
	s.w.mu.Lock()
	stall := s.w.faults.stall
	s.w.faults.stall = nil
	s.w.mu.Unlock()
	if stall != nil {
		select {
		case <-stall:
		case <-ctx.Done():
		}
		// A process killed meanwhile never sends the request.
		if err := s.g.pass(ctx); err != nil {
			return err
		}
	}
	errs := make([]error, len(cs))
	var idx []int
	var pass []sfsync.Change
	s.w.mu.Lock()
	for i, c := range cs {
		switch f := &s.w.faults; {
		case f.perm > 0:
			f.perm--
			errs[i] = errInjectedPerm
		case f.retry > 0:
			f.retry--
			errs[i] = errInjectedRetry
		default:
			idx = append(idx, i)
			pass = append(pass, c)
		}
	}
	s.w.mu.Unlock()
	// The edits recorded before the write is sent took effect before it;
	// those recorded while it is on its way may have taken effect on
	// either side of it (see writeMark).
	sent := s.w.edits()
	var err error
	if len(pass) > 0 {
		err = apply(idx, pass)
	}
	edits := s.w.edits()
	s.w.mu.Lock()
	for j, i := range idx {
		if errs[i] = sfsync.ErrorAt(err, j); errs[i] != nil {
			continue
		}
		s.w.applied[cs[i].Key]++
		s.w.marks[cs[i].Key] = append(s.w.marks[cs[i].Key], markOf(cs[i], sent, edits))
		s.w.total++
		what := fmt.Sprintf("engine #%d wrote %s %s", s.inst, cs[i].Op, fmtFields(cs[i].Fields))
		if s.w.faults.lostAck > 0 {
			s.w.faults.lostAck--
			errs[i] = errLostAck
			what += " (acknowledgement lost)"
		}
		s.w.who[cs[i].Key] = append(s.w.who[cs[i].Key], what)
	}
	s.w.mu.Unlock()
	for _, e := range errs {
		if e != nil {
			return &sfsync.BatchError{Errs: errs}
		}
	}
	return nil
}

// Pin pins the wrapped subscription's stream for a backfill.
func (w *watchedSource) Pin(ctx context.Context) (sfsync.Position, error) {
	if p, ok := w.inner.(ssync.Pinner); ok {
		return p.Pin(ctx)
	}
	return sfsync.Position{}, nil
}

// GapFreeSince forwards the wrapped subscription's (ssync.GapFree). A
// source that pins nothing holds nothing back from a backfill: every
// commit it carries is delivered.
func (w *watchedSource) GapFreeSince() (time.Time, bool) {
	if g, ok := w.inner.(ssync.GapFree); ok {
		return g.GapFreeSince()
	}
	if _, ok := w.inner.(ssync.Pinner); !ok {
		return time.Time{}, true
	}
	return time.Time{}, false
}

// System forwards the wrapped source's system.
func (w *watchedSource) System() sfsync.System {
	if s, ok := w.inner.(ssync.SystemSource); ok {
		return s.System()
	}
	return ""
}
