package sinktest_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/sinktest"
	"github.com/sfsync/sfsync/sync/synctest"
)

const reject = "REJECT"

var fields = []string{"Name", "Email", "Phone"}

// target returns a conforming target whose writes go through wrap.
func target(wrap func(sys *synctest.System) sfsync.Sink) func(t *testing.T) sinktest.Target {
	return func(t *testing.T) sinktest.Target {
		sys := synctest.NewSystem(sfsync.External("erp"))
		sys.InjectFault(synctest.Fault{
			Match: func(c sfsync.Change) bool { return c.Fields[fields[0]] == reject },
			Err:   sfsync.Permanent(errors.New("refused")), Times: -1,
		})
		return sinktest.Target{
			Sink: wrap(sys), Reader: sys, Object: "Customer", Fields: fields, Reject: reject,
			Lookup: func(t *testing.T, object, id string) (map[string]any, bool) {
				r, ok := sys.Record(object, id)
				return r.Fields, ok && !r.Deleted
			},
			NewID: func(i int) string { return fmt.Sprintf("C-%d", i) },
		}
	}
}

// Example shows a backend running the whole suite from one test function.
func Example() {
	_ = func(t *testing.T) {
		sinktest.Run(t, func(t *testing.T) sinktest.Target {
			sys := synctest.NewSystem(sfsync.External("erp"))
			return sinktest.Target{
				Sink: sys, Reader: sys, Object: "Customer", Fields: []string{"Name", "Email"},
				Lookup: func(t *testing.T, object, id string) (map[string]any, bool) {
					r, ok := sys.Record(object, id)
					return r.Fields, ok && !r.Deleted
				},
				NewID: func(i int) string { return fmt.Sprintf("C-%d", i) },
			}
		})
	}
}

// TestSuiteAgainstSystem keeps the suite honest: it passes on the
// reference stand-in.
func TestSuiteAgainstSystem(t *testing.T) {
	sinktest.Run(t, target(func(sys *synctest.System) sfsync.Sink { return sys }))
}

// TestSuiteAgainstConditionalSystem runs the suite, with its check of
// conditional writes, on the reference stand-in's conditional form.
func TestSuiteAgainstConditionalSystem(t *testing.T) {
	sinktest.Run(t, target(func(sys *synctest.System) sfsync.Sink { return sys.Conditional() }))
}

// unconditional is a ConditionalSink that ignores its preconditions.
type unconditional struct{ *synctest.System }

func (u unconditional) WriteIf(ctx context.Context, cs []sfsync.Change, _ []sfsync.Record) error {
	return u.Write(ctx, cs)
}

type sinkFunc func(ctx context.Context, changes []sfsync.Change) error

func (f sinkFunc) Write(ctx context.Context, changes []sfsync.Change) error { return f(ctx, changes) }

// broken are sinks that each break one promise, and the check that must
// catch it.
var broken = map[string]struct {
	check string
	wrap  func(sys *synctest.System) sfsync.Sink
}{
	"drops nulls": {"NullsClear", func(sys *synctest.System) sfsync.Sink {
		return sinkFunc(func(ctx context.Context, cs []sfsync.Change) error {
			cs = slices.Clone(cs)
			for i := range cs {
				cs[i] = cs[i].Clone()
				cs[i].Nulled = nil
			}
			return sys.Write(ctx, cs)
		})
	}},
	"writes in reverse": {"ChangesToOneRecordApplyInOrder", func(sys *synctest.System) sfsync.Sink {
		return sinkFunc(func(ctx context.Context, cs []sfsync.Change) error {
			cs = slices.Clone(cs)
			slices.Reverse(cs)
			return sys.Write(ctx, cs)
		})
	}},
	"replaces whole records": {"UpdateWritesOnlyNamedFields", func(sys *synctest.System) sfsync.Sink {
		return sinkFunc(func(ctx context.Context, cs []sfsync.Change) error {
			cs = slices.Clone(cs)
			for i := range cs {
				cs[i] = cs[i].Clone()
				for _, f := range fields {
					if _, ok := cs[i].Value(f); !ok && cs[i].Op == sfsync.OpUpdate {
						cs[i].Nulled = append(cs[i].Nulled, f)
					}
				}
			}
			return sys.Write(ctx, cs)
		})
	}},
	"fails whole batches": {"RejectedChangeFailsAlone", func(sys *synctest.System) sfsync.Sink {
		return sinkFunc(func(ctx context.Context, cs []sfsync.Change) error {
			for _, c := range cs {
				if c.Fields[fields[0]] == reject {
					return sfsync.Permanent(errors.New("batch refused"))
				}
			}
			return sys.Write(ctx, cs)
		})
	}},
	"fails deletes of missing records": {"DeleteMissing", func(sys *synctest.System) sfsync.Sink {
		return sinkFunc(func(ctx context.Context, cs []sfsync.Change) error {
			for _, c := range cs {
				if r, ok := sys.Record(c.Object, c.RecordID); c.Op == sfsync.OpDelete && (!ok || r.Deleted) {
					return sfsync.Permanent(errors.New("no such record"))
				}
			}
			return sys.Write(ctx, cs)
		})
	}},
	"ignores preconditions": {"ConditionalWriteRefusesAChangedRecord", func(sys *synctest.System) sfsync.Sink {
		return unconditional{sys}
	}},
	"ignores cancellation": {"CanceledContext", func(sys *synctest.System) sfsync.Sink {
		return sinkFunc(func(ctx context.Context, cs []sfsync.Change) error {
			return sys.Write(context.WithoutCancel(ctx), cs)
		})
	}},
}

// TestSuiteCatchesBrokenSinks runs the suite on sinks that each break one
// promise, in a child process (a failing suite fails its test), and
// expects the matching check to fail.
func TestSuiteCatchesBrokenSinks(t *testing.T) {
	if name := os.Getenv("SINKTEST_BROKEN"); name != "" {
		sinktest.Run(t, target(broken[name].wrap))
		return
	}
	if testing.Short() {
		t.Skip("runs child processes")
	}
	for name, b := range broken {
		t.Run(strings.ReplaceAll(name, " ", "_"), func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestSuiteCatchesBrokenSinks$", "-test.v")
			cmd.Env = append(os.Environ(), "SINKTEST_BROKEN="+name)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("the suite passed a sink that %s:\n%s", name, out)
			}
			if want := "--- FAIL: TestSuiteCatchesBrokenSinks/" + b.check + " "; !strings.Contains(string(out), want) {
				t.Errorf("a sink that %s: want check %s to fail; output:\n%s", name, b.check, out)
			}
		})
	}
}
