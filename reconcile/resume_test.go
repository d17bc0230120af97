package reconcile_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/reconcile"
)

var _ sfsync.ResumableReconciler = (*reconcile.Reconciler)(nil)

// An Authority without pages is resumed from the version of the last
// record reported, inclusive: a resumed scan repeats at most the records
// of that instant, and the read count carries over.
func TestReconcileFromResumesAnAuthorityWithoutPages(t *testing.T) {
	a := &memAuthority{records: []sfsync.Record{
		rec("003A", 1*time.Second, map[string]any{"LastName": "A"}),
		rec("003B", 2*time.Second, map[string]any{"LastName": "B"}),
		rec("003C", 3*time.Second, map[string]any{"LastName": "C"}),
		rec("003D", 4*time.Second, map[string]any{"LastName": "D"}),
		rec("003E", 5*time.Second, map[string]any{"LastName": "E"}),
	}}
	r := reconcile.New(a, reconcile.WithProgressEvery(2))
	scope := sfsync.Scope{Object: "Contact", Reason: "backfill"}
	stop := errors.New("killed")
	var reports []sfsync.ReconcileProgress
	var emitted []string
	err := r.ReconcileFrom(context.Background(), scope, nil, func(_ context.Context, c sfsync.Change) error {
		emitted = append(emitted, c.RecordID)
		return nil
	}, func(_ context.Context, p sfsync.ReconcileProgress) error {
		reports = append(reports, p)
		if len(reports) == 2 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) {
		t.Fatalf("ReconcileFrom = %v, want the progress error", err)
	}
	if len(reports) != 2 || reports[1].Read != 4 || reports[1].Total != -1 || reports[1].Phase != "reading" {
		t.Fatalf("reports %+v", reports)
	}
	emitted = nil
	var last sfsync.ReconcileProgress
	err = r.ReconcileFrom(context.Background(), scope, reports[1].Resume, func(_ context.Context, c sfsync.Change) error {
		emitted = append(emitted, c.RecordID)
		return nil
	}, func(_ context.Context, p sfsync.ReconcileProgress) error {
		last = p
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(emitted) != 2 || emitted[0] != "003D" || emitted[1] != "003E" {
		t.Errorf("resumed scan emitted %v, want 003D (the instant resumed from) and 003E", emitted)
	}
	if last.Read != 6 {
		t.Errorf("read count after the resume %d, want 6 (4 + 2)", last.Read)
	}
}

// A resume token the reconciler does not understand starts again rather
// than failing for good.
func TestReconcileFromIgnoresAForeignToken(t *testing.T) {
	a := &memAuthority{records: []sfsync.Record{rec("003A", time.Second, map[string]any{"LastName": "A"})}}
	r := reconcile.New(a, reconcile.WithLogger(quietLogger()))
	n := 0
	err := r.ReconcileFrom(context.Background(), sfsync.Scope{Object: "Contact"}, []byte("owed:old format"),
		func(context.Context, sfsync.Change) error { n++; return nil },
		func(context.Context, sfsync.ReconcileProgress) error { return nil })
	if err != nil || n != 1 {
		t.Errorf("ReconcileFrom with a foreign token: %v, %d emitted; want the whole scan", err, n)
	}
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
