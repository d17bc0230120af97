package sourcetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	stdsync "sync"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
)

// Target describes the source under test.
type Target struct {
	// Open returns a new source of the target's stream for consumer (the
	// suite uses "a" and "b"). Sources of different consumers read the
	// stream independently. Open may be called several times per consumer:
	// each call is a reopen, after a Close or a crash.
	Open func(t *testing.T, consumer string) sfsync.EventSource
	// Emit makes one change in the source's system and returns once it is
	// committed there: record (the suite's name for a record; the target
	// maps each name to one record of its own) gets value in the field the
	// target watches.
	Emit func(t *testing.T, record, value string)
	// Value returns the value Emit set that a delivered change carries, and
	// false for changes the suite did not make.
	Value func(c sfsync.Change) (string, bool)
	// Close closes a source; nil uses the source's Close method, and checks
	// that need one are skipped when it has none.
	Close func(src sfsync.EventSource) error
	// Wait bounds how long the suite waits for an expected delivery or for
	// a blocked Receive to return (default 30 s).
	Wait time.Duration
	// Skip names checks (subtest names, such as "CloseWhileBlocked") that
	// the target is known to fail, with the reason.
	Skip map[string]string
}

// Run runs every check of the suite, each as a subtest against a fresh
// target from newTarget.
func Run(t *testing.T, newTarget func(t *testing.T) Target) {
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			tg := newTarget(t)
			validate(t, &tg)
			if why, ok := tg.Skip[c.name]; ok {
				t.Skipf("known failure of this target: %s", why)
			}
			c.run(t, &suite{Target: tg, cps: map[string]*checkpoints{}})
		})
	}
}

type check struct {
	name string
	run  func(t *testing.T, s *suite)
}

// checks is the suite in order; see checks.go.
var checks = []check{
	{"EveryChangeDelivered", testEveryChange},
	{"PerRecordOrder", testPerRecordOrder},
	{"ResumeFromCheckpoint", testResume},
	{"NothingUncommittedLostOnReopen", testReopen},
	{"RedeliveryAfterCrash", testCrash},
	{"CommitsMonotone", testMonotone},
	{"CloseWhileBlocked", testCloseWhileBlocked},
	{"ContextCancel", testCancel},
	{"TwoConsumers", testTwoConsumers},
}

func validate(t *testing.T, tg *Target) {
	t.Helper()
	switch {
	case tg.Open == nil:
		t.Fatal("sourcetest: Target.Open is nil")
	case tg.Emit == nil:
		t.Fatal("sourcetest: Target.Emit is nil")
	case tg.Value == nil:
		t.Fatal("sourcetest: Target.Value is nil")
	}
	if tg.Wait <= 0 {
		tg.Wait = 30 * time.Second
	}
	for name := range tg.Skip {
		if !slices.ContainsFunc(checks, func(c check) bool { return c.name == name }) {
			t.Fatalf("sourcetest: Target.Skip names %q, which is no check of the suite", name)
		}
	}
}

type suite struct {
	Target
	mu  stdsync.Mutex
	cps map[string]*checkpoints
}

// value is the value the suite emits as change n of record.
func value(record string, n int) string { return fmt.Sprintf("%s-%03d", record, n) }

// recordOf returns the record a value names.
func recordOf(v string) string { return v[:strings.LastIndexByte(v, '-')] }

func (s *suite) emit(t *testing.T, record string, from, to int) []string {
	t.Helper()
	var vs []string
	for n := from; n <= to; n++ {
		v := value(record, n)
		s.Emit(t, record, v)
		vs = append(vs, v)
	}
	return vs
}

// delivery is what one Receive returned.
type delivery struct {
	pos    sfsync.Position
	values []string
}

// reader is one open source and everything it delivered.
type reader struct {
	s        *suite
	consumer string
	src      sfsync.EventSource
	cps      *checkpoints
	got      []delivery
}

// open opens a source of consumer and resumes it from the consumer's
// checkpoint store, as the engine does.
func (s *suite) open(t *testing.T, consumer string) *reader {
	t.Helper()
	s.mu.Lock()
	cps := s.cps[consumer]
	if cps == nil {
		cps = &checkpoints{m: map[string]sfsync.Position{}}
		s.cps[consumer] = cps
	}
	s.mu.Unlock()
	src := s.Open(t, consumer)
	if src == nil {
		t.Fatal("sourcetest: Target.Open returned nil")
	}
	if r, ok := src.(sfsync.Resumer); ok {
		if err := r.Resume(t.Context(), cps); err != nil {
			t.Fatalf("Resume from the consumer's checkpoints = %v", err)
		}
	}
	return &reader{s: s, consumer: consumer, src: src, cps: cps}
}

func (s *suite) closer(src sfsync.EventSource) func() error {
	if s.Close != nil {
		return func() error { return s.Close(src) }
	}
	if c, ok := src.(interface{ Close() error }); ok {
		return c.Close
	}
	if c, ok := src.(interface{ Close() }); ok {
		return func() error { c.Close(); return nil }
	}
	return nil
}

func (r *reader) close(t *testing.T) {
	t.Helper()
	if c := r.s.closer(r.src); c != nil {
		if err := c(); err != nil {
			t.Errorf("Close = %v", err)
		}
	}
}

// receive reads deliveries until every value of want was delivered,
// failing t when they are not within the target's Wait. It returns the
// values delivered, in order, duplicates included.
func (r *reader) receive(t *testing.T, want []string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), r.s.Wait)
	defer cancel()
	missing := map[string]bool{}
	for _, v := range want {
		missing[v] = true
	}
	var seen []string
	for len(missing) > 0 {
		changes, err := r.src.Receive(ctx)
		if err != nil {
			var left []string
			for v := range missing {
				left = append(left, v)
			}
			slices.Sort(left)
			t.Fatalf("consumer %s: Receive = %v with %d changes not yet delivered: %v (delivered so far: %v)", r.consumer, err, len(left), left, seen)
		}
		if len(changes) == 0 {
			t.Fatalf("consumer %s: Receive returned no changes and no error; it must block until there is a delivery", r.consumer)
		}
		d := delivery{pos: changes[len(changes)-1].Position}
		for _, c := range changes {
			if c.Op == sfsync.OpAdvance {
				continue
			}
			if v, ok := r.s.Value(c); ok {
				d.values = append(d.values, v)
				delete(missing, v)
			}
		}
		seen = append(seen, d.values...)
		r.got = append(r.got, d)
	}
	return seen
}

// commit commits the delivery that carried value v, as the engine does:
// Commit, then the checkpoint saved.
func (r *reader) commit(t *testing.T, v string) {
	t.Helper()
	d := r.deliveryOf(t, v)
	if err := r.src.Commit(t.Context(), d.pos); err != nil {
		t.Fatalf("consumer %s: Commit of the delivery carrying %s = %v", r.consumer, v, err)
	}
	if err := r.cps.SaveCheckpoint(t.Context(), d.pos); err != nil {
		t.Fatal(err)
	}
}

func (r *reader) deliveryOf(t *testing.T, v string) delivery {
	t.Helper()
	for i := len(r.got) - 1; i >= 0; i-- {
		if slices.Contains(r.got[i].values, v) {
			return r.got[i]
		}
	}
	t.Fatalf("consumer %s: no delivery carried %s", r.consumer, v)
	return delivery{}
}

// through returns the values of every delivery up to and including the
// one that carried v: what committing that delivery covers.
func (r *reader) through(t *testing.T, v string) []string {
	t.Helper()
	var out []string
	for _, d := range r.got {
		out = append(out, d.values...)
		if slices.Contains(d.values, v) {
			return out
		}
	}
	t.Fatalf("consumer %s: no delivery carried %s", r.consumer, v)
	return nil
}

// checkpoints is the suite's checkpoint store, one per consumer.
type checkpoints struct {
	mu stdsync.Mutex
	m  map[string]sfsync.Position
}

func (c *checkpoints) LoadCheckpoint(_ context.Context, stream string) (sfsync.Position, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.m[stream]
	if !ok {
		return sfsync.Position{}, fmt.Errorf("sourcetest: no checkpoint of stream %q: %w", stream, sfsync.ErrNotFound)
	}
	p.Token = bytes.Clone(p.Token)
	return p, nil
}

func (c *checkpoints) SaveCheckpoint(_ context.Context, pos sfsync.Position) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	pos.Token = bytes.Clone(pos.Token)
	c.m[pos.Stream] = pos
	return nil
}

var errNoClose = errors.New("sourcetest: the source has no Close method and Target.Close is nil")
