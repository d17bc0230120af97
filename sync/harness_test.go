package sync_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/store/memory"
	"github.com/sfsync/sfsync/store/sqlite"
	sfsyncsync "github.com/sfsync/sfsync/sync"
	"github.com/sfsync/sfsync/sync/synctest"
)

const org = "00D000000000001AAA"

var (
	erp = sfsync.External("erp")
	t0  = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
)

func at(d time.Duration) sfsync.Version { return sfsync.Version{Time: t0.Add(d)} }

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// fastRetries retries at once, a bounded number of times, so that tests do
// not wait on real backoff.
func fastRetries(n uint64) sfsyncsync.Option {
	return sfsyncsync.WithBackOff(func() backoff.BackOff {
		return backoff.WithMaxRetries(&backoff.ZeroBackOff{}, n)
	})
}

// stateStore is every part of engine state in one store, as the memory and
// SQLite stores provide it.
type stateStore interface {
	sfsync.DedupStore
	sfsync.CheckpointStore
	sfsync.Ledger
	sfsync.DeadLetterStore
	sfsync.EchoStore
	sfsync.VersionStore
	sfsync.StateCommitter
}

// newState returns the engine state the tests run on: memory, or a SQLite
// file when SFSYNC_TEST_STATE=sqlite (CI runs the package both ways:
// several defects lived only in the durable store).
func newState(t testing.TB) stateStore {
	t.Helper()
	switch kind := os.Getenv("SFSYNC_TEST_STATE"); kind {
	case "", "memory":
		return memory.New()
	case "sqlite":
		st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "state.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	default:
		t.Fatalf("SFSYNC_TEST_STATE=%q: want memory or sqlite", kind)
		return nil
	}
}

// bidi is two systems synced both ways through two logs.
type bidi struct {
	sfLog, extLog *synctest.Log
	sf, ext       *synctest.System
	store         stateStore
}

func newBidi(t testing.TB, extOpts ...synctest.SystemOption) *bidi {
	b := &bidi{sfLog: synctest.NewLog("/data/ContactChangeEvent"), extLog: synctest.NewLog("erp/contacts"), store: newState(t)}
	b.sf = synctest.NewSystem(sfsync.Salesforce, synctest.WithFeed(b.sfLog), synctest.WithTenant(org))
	b.ext = synctest.NewSystem(erp, append([]synctest.SystemOption{synctest.WithFeed(b.extLog)}, extOpts...)...)
	return b
}

func (b *bidi) options(policy sfsync.ConflictPolicy, extra ...sfsyncsync.Option) []sfsyncsync.Option {
	return append([]sfsyncsync.Option{
		sfsyncsync.WithLogger(quiet()),
		sfsyncsync.WithTenant(org),
		sfsyncsync.WithClientID("sfsync"),
		sfsyncsync.WithStore(b.store),
		sfsyncsync.WithPolicy(policy),
		sfsyncsync.WithRoute(sfsyncsync.Route{From: sfsync.Salesforce, Sink: b.ext}),
		sfsyncsync.WithRoute(sfsyncsync.Route{From: erp, Sink: b.sf}),
		fastRetries(5),
	}, extra...)
}

// running is an engine started in the background.
type running struct {
	e      *sfsyncsync.Engine
	cancel context.CancelFunc
	done   chan error
}

func start(t *testing.T, e *sfsyncsync.Engine) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{e: e, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- e.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop ends the engine gracefully and returns Run's error.
func (r *running) stop(t *testing.T) error {
	t.Helper()
	r.cancel()
	select {
	case err, ok := <-r.done:
		if ok {
			close(r.done)
		}
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("engine did not stop within 30s")
		return nil
	}
}

// settle waits until every delivery of every source is committed and the
// logs stopped growing (the engine's writes append echoes to them).
func settle(t *testing.T, pairs ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		grew := false
		for i := 0; i < len(pairs); i += 2 {
			log, src := pairs[i].(*synctest.Log), pairs[i+1].(*synctest.Source)
			n := log.Len()
			if err := src.WaitCommitted(ctx, n); err != nil {
				t.Fatalf("waiting for %s: %v", log.Stream(), err)
			}
			if log.Len() != n {
				grew = true
			}
		}
		if !grew {
			// One more pass: a write made while we waited on the other log
			// shows up as growth.
			stable := true
			for i := 0; i < len(pairs); i += 2 {
				log, src := pairs[i].(*synctest.Log), pairs[i+1].(*synctest.Source)
				if src.Committed() != log.Len() {
					stable = false
				}
			}
			if stable {
				return
			}
		}
	}
}

func outcomes(t *testing.T, l sfsync.Ledger, q sfsync.OutcomeQuery) []sfsync.Outcome {
	t.Helper()
	out, err := l.Outcomes(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// statusByKey is the final status of every key, duplicates aside.
func statusByKey(t *testing.T, l sfsync.Ledger) map[string]sfsync.Status {
	m := map[string]sfsync.Status{}
	for _, o := range outcomes(t, l, sfsync.OutcomeQuery{}) {
		if o.Status != sfsync.StatusDuplicate {
			m[o.Key] = o.Status
		}
	}
	return m
}

// failingCommits makes state commits fail after n successes, like a
// process that dies between its writes and recording their outcomes.
type failingCommits struct {
	stateStore
	left int
}

var errCrash = errors.New("simulated crash: state store gone")

func (f *failingCommits) CommitState(ctx context.Context, c sfsync.Commit) error {
	if f.left <= 0 {
		return sfsync.Permanent(errCrash)
	}
	f.left--
	return f.stateStore.CommitState(ctx, c)
}

func field(t *testing.T, s *synctest.System, object, id, name string) any {
	t.Helper()
	r, ok := s.Record(object, id)
	if !ok {
		t.Fatalf("%s has no %s/%s", s.System(), object, id)
	}
	return r.Fields[name]
}

// salesforceByRecord makes b's Salesforce report only record versions, as
// the real one does (SystemModstamp), with opts besides.
func (b *bidi) salesforceByRecord(opts ...synctest.SystemOption) {
	base := []synctest.SystemOption{synctest.WithFeed(b.sfLog), synctest.WithTenant(org), synctest.WithRecordVersionsOnly()}
	b.sf = synctest.NewSystem(sfsync.Salesforce, append(base, opts...)...)
}

// startBoth starts an engine syncing b both ways under policy, with extra
// options, stopped when t ends; settled waits until the engine has
// committed both logs whole.
func (b *bidi) startBoth(t *testing.T, policy sfsync.ConflictPolicy, extra ...sfsyncsync.Option) (r *running, settled func()) {
	t.Helper()
	sfSrc, extSrc := b.sfLog.Source(), b.extLog.Source()
	e, err := sfsyncsync.New(sfSrc, nil, append(b.options(policy, extra...), sfsyncsync.WithSource(extSrc))...)
	if err != nil {
		t.Fatal(err)
	}
	return start(t, e), func() {
		t.Helper()
		settle(t, b.sfLog, sfSrc, b.extLog, extSrc)
	}
}

// rejectedOnce is a fault that rejects the next write for good, as a
// validation rule does until an operator fixes the data and requeues the
// dead letter.
func rejectedOnce() synctest.Fault {
	return synctest.Fault{Err: sfsync.Permanent(errors.New("a validation rule an operator then fixes"))}
}

// sfCommits returns Salesforce versions at d past t0 with commit numbers
// counting up from first, one per call, as Salesforce stamps its commits
// (a whole second and a commit number, for WithWriteClock or an edit).
func sfCommits(first int64) func(d time.Duration) sfsync.Version {
	var commit atomic.Int64
	commit.Store(first - 1)
	return func(d time.Duration) sfsync.Version {
		return sfsync.Version{Time: at(d).Time, Commit: commit.Add(1)}
	}
}

// bothHold fails t unless both of b's systems hold want in field of the
// record; why says why that is the value.
func (b *bidi) bothHold(t *testing.T, object, id, name string, want any, why string) {
	t.Helper()
	for _, side := range []*synctest.System{b.sf, b.ext} {
		if got := field(t, side, object, id, name); got != want {
			t.Errorf("%s %s = %v, want %v: %s", side.System(), name, got, want, why)
		}
	}
}

// logOutcomes logs b's ledger, which a failure shows.
func logOutcomes(t *testing.T, b *bidi) {
	for _, o := range outcomes(t, b.store, sfsync.OutcomeQuery{}) {
		t.Logf("%s %s %s->%s %s v=%s: %s", o.Key, o.Op, o.Source, o.Destination, o.Status, o.Version, o.Reason)
	}
}
