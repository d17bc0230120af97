package reconcile_test

import (
	"bytes"
	"context"
	"errors"
	"iter"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/reconcile"
)

// memAuthority is an authority over a fixed record set that remembers its
// scan requests.
type memAuthority struct {
	mu      sync.Mutex
	records []sfsync.Record
	scans   []sfsync.Scope
	failAt  int // fail after yielding this many records; 0 = never
}

func (a *memAuthority) Scan(_ context.Context, object string, ids []string, since time.Time) iter.Seq2[sfsync.Record, error] {
	a.mu.Lock()
	a.scans = append(a.scans, sfsync.Scope{Object: object, IDs: ids, Since: since})
	recs := slices.Clone(a.records)
	failAt := a.failAt
	a.mu.Unlock()
	return func(yield func(sfsync.Record, error) bool) {
		n := 0
		for _, r := range recs {
			if r.Object != object || (len(ids) > 0 && !slices.Contains(ids, r.ID)) || r.Version.Time.Before(since) {
				continue
			}
			if failAt > 0 && n == failAt {
				yield(sfsync.Record{}, errors.New("query timed out"))
				return
			}
			n++
			if !yield(r, nil) {
				return
			}
		}
	}
}

var t0 = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

func rec(id string, at time.Duration, fields map[string]any) sfsync.Record {
	return sfsync.Record{Object: "Contact", ID: id, Exists: true, Fields: fields, Version: sfsync.Version{Time: t0.Add(at)}}
}

func collect(t *testing.T, r *reconcile.Reconciler, scope sfsync.Scope) []sfsync.Change {
	t.Helper()
	var got []sfsync.Change
	err := r.Reconcile(context.Background(), scope, func(_ context.Context, c sfsync.Change) error {
		got = append(got, c)
		return nil
	})
	if err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
	return got
}

func TestReconcileEmitsAuthoritativeState(t *testing.T) {
	a := &memAuthority{records: []sfsync.Record{
		rec("003A", 0, map[string]any{"Email": "a@x", "Phone": nil}),
		rec("003B", time.Minute, map[string]any{"Email": "b@x"}),
		{Object: "Contact", ID: "003C", Deleted: true, Version: sfsync.Version{Time: t0.Add(2 * time.Minute)}},
		rec("001Z", 0, map[string]any{"Name": "Acme"}),
	}}
	a.records[3].Object = "Account"
	r := reconcile.New(a, reconcile.WithTenant("00Dxx0000001gEREAY"))
	got := collect(t, r, sfsync.Scope{Object: "Contact", Reason: "overflow"})
	if len(got) != 3 {
		t.Fatalf("emitted %d changes, want 3 (Contact only): %v", len(got), got)
	}
	first := got[0]
	if first.Op != sfsync.OpUpdate || first.Source != sfsync.Salesforce || first.Tenant != "00Dxx0000001gEREAY" {
		t.Fatalf("first change = %+v", first)
	}
	if first.Fields["Email"] != "a@x" || !slices.Equal(first.Nulled, []string{"Phone"}) {
		t.Fatalf("nil field must become an explicit null: fields=%v nulled=%v", first.Fields, first.Nulled)
	}
	if got[2].Op != sfsync.OpDelete {
		t.Fatalf("deleted record emitted as %s, want delete", got[2].Op)
	}
	if st := r.Stats(); st.Scanned != 3 || st.Emitted != 3 || st.Deleted != 1 {
		t.Fatalf("stats = %+v", st)
	}
	// Same authoritative version, same key: a second pass is a duplicate to the engine.
	again := collect(t, r, sfsync.Scope{Object: "Contact"})
	for i := range got {
		if got[i].Key != again[i].Key {
			t.Fatalf("key not stable across passes: %q vs %q", got[i].Key, again[i].Key)
		}
	}
}

func TestReconcileMissingIDIsDelete(t *testing.T) {
	a := &memAuthority{records: []sfsync.Record{rec("003A", 0, map[string]any{"Email": "a@x"})}}
	got := collect(t, reconcile.New(a), sfsync.Scope{Object: "Contact", IDs: []string{"003A", "003GONE"}, Reason: "gap"})
	if len(got) != 2 || got[0].RecordID != "003A" || got[1].RecordID != "003GONE" || got[1].Op != sfsync.OpDelete {
		t.Fatalf("got %v", got)
	}
	if !slices.Equal(a.scans[0].IDs, []string{"003A", "003GONE"}) {
		t.Fatalf("scan did not receive the ids: %+v", a.scans[0])
	}
}

// Salesforce answers a query by ids with 18-character ids, also for ids
// asked for in their 15-character form: such a record is found, not
// missing.
func TestReconcileFifteenCharacterIDFoundInItsLongForm(t *testing.T) {
	long := rec("003000000000001AAA", 0, map[string]any{"Email": "a@x"})
	a := reconcile.AuthorityFunc(func(_ context.Context, _ string, ids []string, _ time.Time) iter.Seq2[sfsync.Record, error] {
		return func(yield func(sfsync.Record, error) bool) {
			if slices.Contains(ids, "003000000000001") {
				yield(long, nil)
			}
		}
	})
	got := collect(t, reconcile.New(a), sfsync.Scope{Object: "Contact", IDs: []string{"003000000000001"}, Reason: "gap"})
	if len(got) != 1 || got[0].RecordID != long.ID || got[0].Op == sfsync.OpDelete {
		t.Fatalf("got %v, want the record once, not a delete", got)
	}
}

func TestReconcileErrors(t *testing.T) {
	a := &memAuthority{records: []sfsync.Record{rec("003A", 0, nil), rec("003B", 0, nil)}, failAt: 1}
	r := reconcile.New(a)
	err := r.Reconcile(context.Background(), sfsync.Scope{Object: "Contact"}, func(context.Context, sfsync.Change) error { return nil })
	if err == nil || r.Stats().Emitted != 1 {
		t.Fatalf("scan failure: err=%v emitted=%d", err, r.Stats().Emitted)
	}
	if err := r.Reconcile(context.Background(), sfsync.Scope{}, nil); !errors.Is(err, sfsync.ErrInvalid) {
		t.Fatalf("missing object: %v", err)
	}
	stop := errors.New("engine stopped")
	a.failAt = 0
	err = r.Reconcile(context.Background(), sfsync.Scope{Object: "Contact"}, func(context.Context, sfsync.Change) error { return stop })
	if !errors.Is(err, stop) {
		t.Fatalf("emit error not propagated: %v", err)
	}
	waitErr := errors.New("no headroom")
	r = reconcile.New(a, reconcile.WithWait(func(context.Context) error { return waitErr }))
	if err := r.Reconcile(context.Background(), sfsync.Scope{Object: "Contact"}, nil); !errors.Is(err, waitErr) {
		t.Fatalf("wait error not propagated: %v", err)
	}
}

func TestReconcileRateLimited(t *testing.T) {
	a := &memAuthority{records: []sfsync.Record{rec("003A", 0, nil), rec("003B", 0, nil)}}
	r := reconcile.New(a, reconcile.WithRate(0.001, 1))
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	err := r.Reconcile(ctx, sfsync.Scope{Object: "Contact"}, func(context.Context, sfsync.Change) error {
		n++
		cancel() // the second record must wait far longer than the context lives
		return nil
	})
	if n != 1 || !errors.Is(err, context.Canceled) {
		t.Fatalf("rate limit did not hold back the second record: n=%d err=%v", n, err)
	}
}

func TestLoopAdvancesWatermarkWithOverlap(t *testing.T) {
	now := t0
	var mu sync.Mutex
	var scopes []sfsync.Scope
	fail := map[string]bool{}
	run := func(_ context.Context, s sfsync.Scope) error {
		mu.Lock()
		defer mu.Unlock()
		scopes = append(scopes, s)
		if fail[s.Object] {
			return errors.New("limit exceeded")
		}
		return nil
	}
	l := reconcile.NewLoop(run, []string{"Contact", "Account"}, reconcile.WithOverlap(time.Minute),
		reconcile.WithClock(func() time.Time { return now }))
	if err := l.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !scopes[0].Since.IsZero() || scopes[0].Reason != "drift check" {
		t.Fatalf("first pass must be a full scan: %+v", scopes[0])
	}
	now = t0.Add(time.Hour)
	fail["Account"] = true
	err := l.RunOnce(context.Background())
	if err == nil {
		t.Fatal("a failed object must be reported")
	}
	if got, want := scopes[2].Since, t0.Add(-time.Minute); !got.Equal(want) {
		t.Fatalf("second pass since = %v, want %v (previous start less overlap)", got, want)
	}
	if got, want := l.Since("Account"), t0.Add(-time.Minute); !got.Equal(want) {
		t.Fatalf("failed object moved its watermark to %v, want %v", got, want)
	}
	if got, want := l.Since("Contact"), t0.Add(time.Hour-time.Minute); !got.Equal(want) {
		t.Fatalf("Contact watermark = %v, want %v", got, want)
	}
}

func TestLoopRunsOnTicksUntilCancelled(t *testing.T) {
	ticks := make(chan time.Time)
	passes := make(chan struct{}, 10)
	l := reconcile.NewLoop(func(context.Context, sfsync.Scope) error {
		passes <- struct{}{}
		return nil
	}, []string{"Contact"}, reconcile.WithTicks(ticks))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- l.Run(ctx) }()
	<-passes // immediate first pass
	ticks <- t0
	<-passes
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run returned %v", err)
	}
}

// One WithLogger configures both constructors: a Loop's failed pass is
// logged where the caller asked, not on slog.Default().
func TestWithLoggerConfiguresLoopAndReconciler(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, nil))
	_ = reconcile.New(nil, reconcile.WithLogger(logger)) // compiles as an Option
	ticks := make(chan time.Time)
	passes := make(chan struct{}, 10)
	l := reconcile.NewLoop(func(context.Context, sfsync.Scope) error {
		passes <- struct{}{}
		return errors.New("limit exceeded")
	}, []string{"Contact"}, reconcile.WithTicks(ticks), reconcile.WithLogger(logger))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- l.Run(ctx) }()
	<-passes
	ticks <- t0 // Run logs the first pass's failure before it takes a tick
	<-passes
	cancel()
	<-done
	if !strings.Contains(buf.String(), "reconcile pass failed") || !strings.Contains(buf.String(), "limit exceeded") {
		t.Fatalf("the loop did not log its failed pass to the given logger; got %q", buf.String())
	}
}

// WithLogger(nil) keeps the default logger instead of leaving none: a
// failed pass is logged, not a nil dereference.
func TestWithNilLoggerKeepsTheDefault(t *testing.T) {
	ticks := make(chan time.Time)
	passes := make(chan struct{}, 10)
	l := reconcile.NewLoop(func(context.Context, sfsync.Scope) error {
		passes <- struct{}{}
		return errors.New("limit exceeded")
	}, []string{"Contact"}, reconcile.WithTicks(ticks), reconcile.WithLogger(nil))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- l.Run(ctx) }()
	<-passes
	ticks <- t0 // taken only after the first failure was logged
	<-passes
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run returned %v", err)
	}
}

// A record's version can stay while its data changes: Salesforce stamps
// SystemModstamp to the second, and two saves in one second leave one
// stamp. The second state must not pass for a repeat of the first (a
// duplicate, never written); an unchanged record scanned again must.
func TestKeyTellsTwoStatesOfOneVersionApart(t *testing.T) {
	first := rec("003A", 0, map[string]any{"Email": "a@x", "Industry": "i26"})
	second := rec("003A", 0, map[string]any{"Email": "a@x", "Industry": nil})
	again := rec("003A", 0, map[string]any{"Industry": "i26", "Email": "a@x"})
	if reconcile.Key("Contact", first) == reconcile.Key("Contact", second) {
		t.Errorf("two states of one version share the key %q", reconcile.Key("Contact", first))
	}
	if reconcile.Key("Contact", first) != reconcile.Key("Contact", again) {
		t.Errorf("one state scanned twice has keys %q and %q", reconcile.Key("Contact", first), reconcile.Key("Contact", again))
	}
	gone := sfsync.Record{Object: "Contact", ID: "003A", Deleted: true, Version: first.Version}
	if reconcile.Key("Contact", first) == reconcile.Key("Contact", gone) {
		t.Errorf("a record and its delete at one version share the key %q", reconcile.Key("Contact", gone))
	}
}
