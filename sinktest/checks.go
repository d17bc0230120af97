package sinktest

import (
	"context"
	"errors"
	"testing"

	"github.com/sfsync/sfsync"
)

func testCreate(t *testing.T, s *suite) {
	a, b := s.NewID(1), s.NewID(2)
	s.write(t, "creating two records", s.create(a, "a"), s.create(b, "b"))
	s.want(t, "after create", a, s.values("a"))
	s.want(t, "after create", b, s.values("b"))
	s.wantGone(t, "a record never written", s.NewID(3))
}

func testUpdate(t *testing.T, s *suite) {
	id := s.NewID(1)
	s.write(t, "create", s.create(id, "v1"))
	last := s.Fields[len(s.Fields)-1]
	s.write(t, "updating only "+last, s.change(id, sfsync.OpUpdate, map[string]any{last: value(last, "v2")}))
	want := s.values("v1")
	want[last] = value(last, "v2")
	s.want(t, "an update writes only the fields it names; the others keep their values", id, want)

	first := s.Fields[0]
	s.write(t, "updating only "+first, s.change(id, sfsync.OpUpdate, map[string]any{first: value(first, "v3")}))
	want[first] = value(first, "v3")
	s.want(t, "after a second update of another field", id, want)
}

func testNulls(t *testing.T, s *suite) {
	id := s.NewID(1)
	s.write(t, "create", s.create(id, "v1"))
	nulled := s.Fields[1]
	s.write(t, "nulling "+nulled, s.change(id, sfsync.OpUpdate, map[string]any{nulled: nil}))
	want := s.values("v1")
	want[nulled] = nil
	s.want(t, "an explicit null (Change.Nulled) clears the field and nothing else", id, want)

	s.write(t, "setting "+nulled+" again", s.change(id, sfsync.OpUpdate, map[string]any{nulled: value(nulled, "v2")}))
	want[nulled] = value(nulled, "v2")
	s.want(t, "a nulled field set again", id, want)
}

func testOrder(t *testing.T, s *suite) {
	a, b := s.NewID(1), s.NewID(2)
	f0, f1 := s.Fields[0], s.Fields[1]
	// One Write: a is created and updated three times, b is created and its
	// second field set, nulled and set again; a null after a value and a
	// value after a null must both win.
	s.write(t, "several changes to two records, interleaved, in one Write",
		s.create(a, "v1"),
		s.create(b, "b1"),
		s.change(a, sfsync.OpUpdate, map[string]any{f0: value(f0, "v2")}),
		s.change(b, sfsync.OpUpdate, map[string]any{f1: nil}),
		s.change(a, sfsync.OpUpdate, map[string]any{f0: value(f0, "v3"), f1: value(f1, "v3")}),
		s.change(b, sfsync.OpUpdate, map[string]any{f1: value(f1, "b2")}),
		s.change(a, sfsync.OpUpdate, map[string]any{f1: nil}),
	)
	want := s.values("v1")
	want[f0], want[f1] = value(f0, "v3"), nil
	s.want(t, "changes to one record apply in slice order (the last value wins)", a, want)
	want = s.values("b1")
	want[f1] = value(f1, "b2")
	s.want(t, "changes to one record apply in slice order (a value after a null wins)", b, want)
}

func testUpdateThenDelete(t *testing.T, s *suite) {
	a, b := s.NewID(1), s.NewID(2)
	s.write(t, "create", s.create(a, "v1"), s.create(b, "b1"))
	f0 := s.Fields[0]
	s.write(t, "an update and a delete of one record, and an update of another, in one Write",
		s.change(a, sfsync.OpUpdate, map[string]any{f0: value(f0, "v2")}),
		s.change(a, sfsync.OpDelete, nil),
		s.change(b, sfsync.OpUpdate, map[string]any{f0: value(f0, "b2")}),
	)
	s.wantGone(t, "a delete after an update in one Write wins", a)
	want := s.values("b1")
	want[f0] = value(f0, "b2")
	s.want(t, "the other record's update", b, want)
}

func testRewrite(t *testing.T, s *suite) {
	a, b := s.NewID(1), s.NewID(2)
	f0 := s.Fields[0]
	batch := []sfsync.Change{
		s.create(a, "v1"),
		s.create(b, "b1"),
		s.change(a, sfsync.OpUpdate, map[string]any{f0: value(f0, "v2")}),
	}
	s.write(t, "first write", batch...)
	want := s.values("v1")
	want[f0] = value(f0, "v2")
	for round := range 2 {
		// A retry carries the same changes with the same keys.
		s.write(t, "writing the same changes again (a retry)", batch...)
		s.want(t, "after a repeated write", a, want)
		s.want(t, "after a repeated write", b, s.values("b1"))
		// Replaying a suffix, as a retry after a partial failure does.
		if round == 0 {
			s.write(t, "writing the last change again alone", batch[2])
		}
	}
}

func testReject(t *testing.T, s *suite) {
	if s.Reject == "" {
		t.Skip("Target.Reject is not set: the target cannot be made to refuse a write")
	}
	a, b, c := s.NewID(1), s.NewID(2), s.NewID(3)
	bad := s.values("b1")
	bad[s.Fields[0]] = s.Reject
	changes := []sfsync.Change{s.create(a, "a1"), s.change(b, sfsync.OpCreate, bad), s.create(c, "c1")}
	err := s.Sink.Write(s.ctx, changes)
	var be *sfsync.BatchError
	if !errors.As(err, &be) {
		t.Fatalf("Write of 3 changes, the second refused by the target = %s, want a *sfsync.BatchError", describe(err))
	}
	if len(be.Errs) != len(changes) {
		t.Fatalf("BatchError has %d entries for %d changes; it must be aligned with the input: %v", len(be.Errs), len(changes), be.Errs)
	}
	for i, id := range []string{a, c} {
		i *= 2
		if be.Errs[i] != nil {
			t.Errorf("BatchError.Errs[%d] (%s, acceptable) = %s, want nil: one refused change must not fail the others", i, id, describe(be.Errs[i]))
		}
	}
	if e := be.Errs[1]; e == nil || !sfsync.IsPermanent(e) {
		t.Errorf("BatchError.Errs[1] (the refused change) = %s, want a permanent error (sfsync.IsPermanent), so it is dead-lettered, not retried", describe(e))
	}
	s.want(t, "a change next to a refused one is applied", a, s.values("a1"))
	s.want(t, "a change next to a refused one is applied", c, s.values("c1"))
	s.wantGone(t, "a refused create", b)

	// A refused update leaves the record as it was.
	err = s.Sink.Write(s.ctx, []sfsync.Change{s.change(a, sfsync.OpUpdate, map[string]any{s.Fields[0]: s.Reject})})
	if e := sfsync.ErrorAt(err, 0); e == nil || !sfsync.IsPermanent(e) {
		t.Errorf("Write of one refused update = %s, want a permanent error for it", describe(err))
	}
	s.want(t, "a refused update changes nothing", a, s.values("a1"))
}

func testDelete(t *testing.T, s *suite) {
	a, b := s.NewID(1), s.NewID(2)
	s.write(t, "create", s.create(a, "a1"), s.create(b, "b1"))
	s.write(t, "deleting one of two records", s.change(a, sfsync.OpDelete, nil))
	s.wantGone(t, "a deleted record", a)
	s.want(t, "the record not deleted", b, s.values("b1"))
	s.write(t, "deleting the deleted record again (a retried delete)", s.change(a, sfsync.OpDelete, nil))
	s.wantGone(t, "a record deleted twice", a)
}

func testDeleteMissing(t *testing.T, s *suite) {
	id := s.NewID(1)
	err := s.Sink.Write(s.ctx, []sfsync.Change{s.change(id, sfsync.OpDelete, nil)})
	if err != nil {
		t.Errorf("deleting a record that never existed = %s, want nil: a delete is idempotent, the record is gone either way", describe(err))
	}
	s.wantGone(t, "a record that never existed, after its delete", id)
}

func testReader(t *testing.T, s *suite) {
	if s.Reader == nil {
		t.Skip("Target.Reader is nil: the sink cannot read state")
	}
	a, b, gone, missing := s.NewID(1), s.NewID(2), s.NewID(3), s.NewID(4)
	f1 := s.Fields[1]
	s.write(t, "create", s.create(a, "a1"), s.create(b, "b1"), s.create(gone, "g1"))
	s.write(t, "update and delete",
		s.change(b, sfsync.OpUpdate, map[string]any{f1: nil}),
		s.change(gone, sfsync.OpDelete, nil))
	got, err := s.Reader.Read(s.ctx, s.Object, []string{a, b, gone, missing})
	if err != nil {
		t.Fatalf("Read = %s", describe(err))
	}
	wants := map[string]map[string]any{a: s.values("a1"), b: s.values("b1")}
	wants[b][f1] = nil
	for _, id := range []string{a, b} {
		r, ok := got[id]
		if !ok {
			t.Errorf("Read omitted %s, which exists; got ids %v", id, sortedKeys(anyMap(got)))
			continue
		}
		if !r.Exists || r.Deleted || r.ID != id || (r.Object != "" && r.Object != s.Object) {
			t.Errorf("Read[%s] = Exists %v Deleted %v ID %q Object %q, want an existing record keyed and named by the id the changes used", id, r.Exists, r.Deleted, r.ID, r.Object)
		}
		for _, name := range sortedKeys(wants[id]) {
			if v := r.Fields[name]; !same(v, wants[id][name]) {
				t.Errorf("Read[%s].Fields[%s] = %#v, want %#v (as written)", id, name, v, wants[id][name])
			}
		}
	}
	if r, ok := got[missing]; ok && r.Exists {
		t.Errorf("Read returned %s, which was never written: %+v; a missing id must be omitted", missing, r)
	}
	if r, ok := got[gone]; ok && r.Exists && !r.Deleted {
		t.Errorf("Read returned deleted record %s as live: %+v; omit it or mark it Deleted", gone, r)
	}
	if len(got) > 4 {
		t.Errorf("Read returned %d records for 4 ids: %v", len(got), sortedKeys(anyMap(got)))
	}
	if got, err := s.Reader.Read(s.ctx, s.Object, nil); err != nil || len(got) != 0 {
		t.Errorf("Read of no ids = %v, %s, want nothing and no error", got, describe(err))
	}
}

func anyMap(m map[string]sfsync.Record) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func testCanceled(t *testing.T, s *suite) {
	a, b := s.NewID(1), s.NewID(2)
	s.write(t, "create", s.create(a, "a1"))
	ctx, cancel := context.WithCancel(s.ctx)
	cancel()
	f0 := s.Fields[0]
	changes := []sfsync.Change{s.change(a, sfsync.OpUpdate, map[string]any{f0: value(f0, "a2")}), s.create(b, "b1")}
	err := s.Sink.Write(ctx, changes)
	if err == nil {
		t.Fatal("Write under a canceled context = nil, want an error: a sink must not report success for work it did not do")
	}
	for i := range changes {
		e := sfsync.ErrorAt(err, i)
		if e == nil {
			continue // applied anyway; the reads below must agree
		}
		if sfsync.IsPermanent(e) {
			t.Errorf("change %d under a canceled context failed as permanent: %s; cancellation is no verdict on the change, it must stay retryable", i, describe(e))
		}
	}
	// Whatever a sink reports as applied must be applied; nothing applied
	// is fine.
	if sfsync.ErrorAt(err, 0) == nil {
		want := s.values("a1")
		want[f0] = value(f0, "a2")
		s.want(t, "an update reported applied under a canceled context", a, want)
	}
	if sfsync.ErrorAt(err, 1) == nil {
		s.want(t, "a create reported applied under a canceled context", b, s.values("b1"))
	}
	// The target still works with a live context, and a retry applies.
	s.write(t, "retrying the changes with a live context", changes...)
	want := s.values("a1")
	want[f0] = value(f0, "a2")
	s.want(t, "after the retry", a, want)
	s.want(t, "after the retry", b, s.values("b1"))
}
