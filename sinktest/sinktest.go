package sinktest

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
)

// Target describes the sink under test.
type Target struct {
	Sink sfsync.Sink
	// Reader reads the target's state; nil if the sink cannot read state.
	// Read-back checks then use Lookup only.
	Reader sfsync.StateReader
	// Lookup returns the record as the target holds it, by the id the
	// changes used, independently of Reader; required. A deleted record
	// does not exist. Lookup should fail t (t.Errorf) when the target holds
	// several records for id, which is how the suite sees duplicates.
	Lookup func(t *testing.T, object, id string) (fields map[string]any, exists bool)
	// Object is an object the target accepts.
	Object string
	// Fields are two or more writable string fields of Object. Fields[0]
	// takes any short non-empty string; the others also take null.
	Fields []string
	// NewID returns the id of new record i as changes name it.
	NewID func(i int) string
	// Reject, if set, makes the target refuse (permanently) any write whose
	// Fields[0] has this value; it enables the per-change failure checks.
	Reject string
	// Skip names checks (subtest names, such as "DeleteMissing") that the
	// target is known to fail, with the reason; they are skipped with it.
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
			c.run(t, newSuite(t, tg))
		})
	}
}

type check struct {
	name string
	run  func(t *testing.T, s *suite)
}

// checks is the suite in order; see checks.go.
var checks = []check{
	{"CreateThenRead", testCreate},
	{"UpdateWritesOnlyNamedFields", testUpdate},
	{"NullsClear", testNulls},
	{"ChangesToOneRecordApplyInOrder", testOrder},
	{"UpdateThenDeleteInOneWrite", testUpdateThenDelete},
	{"RewriteIsIdempotent", testRewrite},
	{"RejectedChangeFailsAlone", testReject},
	{"Delete", testDelete},
	{"DeleteMissing", testDeleteMissing},
	{"ReaderReturnsState", testReader},
	{"CanceledContext", testCanceled},
	{"ConditionalWriteRefusesAChangedRecord", testConditional},
}

func validate(t *testing.T, tg *Target) {
	t.Helper()
	switch {
	case tg.Sink == nil:
		t.Fatal("sinktest: Target.Sink is nil")
	case tg.Lookup == nil:
		t.Fatal("sinktest: Target.Lookup is required")
	case tg.Object == "":
		t.Fatal("sinktest: Target.Object is empty")
	case len(tg.Fields) < 2:
		t.Fatalf("sinktest: Target.Fields = %v, want two or more fields", tg.Fields)
	case tg.NewID == nil:
		t.Fatal("sinktest: Target.NewID is nil")
	}
	for name := range tg.Skip {
		if !slices.ContainsFunc(checks, func(c check) bool { return c.name == name }) {
			t.Fatalf("sinktest: Target.Skip names %q, which is no check of the suite", name)
		}
	}
}

// suite is one subtest's view of its target, with a source of unique
// idempotency keys and increasing versions.
type suite struct {
	Target
	ctx  context.Context
	seq  atomic.Int64
	base time.Time
}

func newSuite(t *testing.T, tg Target) *suite {
	return &suite{Target: tg, ctx: t.Context(), base: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}
}

// change returns a change of op to record id setting fields (a nil value
// is an explicit null), with a fresh key and a newer version.
func (s *suite) change(id string, op sfsync.Op, fields map[string]any) sfsync.Change {
	n := s.seq.Add(1)
	c := sfsync.Change{
		Source: sfsync.External("sinktest"), Object: s.Object, RecordID: id, Op: op,
		Version: sfsync.Version{Time: s.base.Add(time.Duration(n) * time.Second), Counter: n},
		Key:     fmt.Sprintf("sinktest:%s:%d", id, n),
	}
	if op == sfsync.OpCreate || op == sfsync.OpUpdate {
		c.Fields = map[string]any{}
		for _, name := range sortedKeys(fields) {
			if fields[name] == nil {
				c.Nulled = append(c.Nulled, name)
			} else {
				c.Fields[name] = fields[name]
			}
		}
	}
	return c
}

// create returns the creation of record id with every field set to a
// value naming the field and tag.
func (s *suite) create(id, tag string) sfsync.Change {
	return s.change(id, sfsync.OpCreate, s.values(tag))
}

func (s *suite) values(tag string) map[string]any {
	m := map[string]any{}
	for _, f := range s.Fields {
		m[f] = value(f, tag)
	}
	return m
}

// value is the string the suite writes to field for tag: distinct per
// field and tag, and plausible for name and email fields alike.
func value(field, tag string) string { return fmt.Sprintf("%s-%s@example.com", tag, field) }

func (s *suite) write(t *testing.T, what string, changes ...sfsync.Change) {
	t.Helper()
	if err := s.Sink.Write(s.ctx, changes); err != nil {
		t.Fatalf("%s: Write(%d changes) = %v, want nil", what, len(changes), describe(err))
	}
}

// want checks record id as Lookup sees it: it exists and each field of
// fields has its value (nil: null or absent).
func (s *suite) want(t *testing.T, what, id string, fields map[string]any) {
	t.Helper()
	got, ok := s.Lookup(t, s.Object, id)
	if !ok {
		t.Errorf("%s: %s %s does not exist in the target", what, s.Object, id)
		return
	}
	for _, name := range sortedKeys(fields) {
		if v := got[name]; !same(v, fields[name]) {
			t.Errorf("%s: %s %s field %s = %#v, want %#v", what, s.Object, id, name, v, fields[name])
		}
	}
}

func (s *suite) wantGone(t *testing.T, what, id string) {
	t.Helper()
	if got, ok := s.Lookup(t, s.Object, id); ok {
		t.Errorf("%s: %s %s exists in the target, want none; fields %v", what, s.Object, id, got)
	}
}

// same compares a value the target holds with one the suite wrote; nil
// stands for null, which a target may also show as "" or omit.
func same(got, want any) bool {
	if want == nil {
		return got == nil || got == ""
	}
	return got == want
}

func describe(err error) string {
	if err == nil {
		return "nil"
	}
	return fmt.Sprintf("%v (%T, kind %s)", err, err, sfsync.KindOf(err))
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
