package sinktest

import (
	"testing"

	"github.com/sfsync/sfsync"
)

// testConditional checks [sfsync.ConditionalSink]: a change decided on a
// read that a later write made stale fails alone as a conflict, takes no
// effect and leaves its idempotency key unused, so that the same change
// applies on a fresh read; a create decided on no record fails once the
// record exists, and applies while it does not.
func testConditional(t *testing.T, s *suite) {
	cs, ok := s.Sink.(sfsync.ConditionalSink)
	if !ok || s.Reader == nil {
		t.Skip("the sink is no sfsync.ConditionalSink with a Reader: it writes unconditionally")
	}
	a, b, c, d := s.NewID(1), s.NewID(2), s.NewID(3), s.NewID(4)
	f0 := s.Fields[0]
	read := func(id string) sfsync.Record {
		t.Helper()
		got, err := s.Reader.Read(s.ctx, s.Object, []string{id})
		if err != nil {
			t.Fatalf("Read(%s) = %s", id, describe(err))
		}
		return got[id] // Exists false when there is none
	}
	conflict := func(what string, err error, i int) {
		t.Helper()
		if e := sfsync.ErrorAt(err, i); e == nil || sfsync.KindOf(e) != sfsync.KindConflict {
			t.Errorf("%s: change %d = %s, want an error of kind conflict (the engine reads again and decides again)", what, i, describe(e))
		}
	}

	s.write(t, "create", s.create(a, "a1"), s.create(b, "b1"))
	staleA, readB := read(a), read(b)
	s.write(t, "an update after the read", s.change(a, sfsync.OpUpdate, map[string]any{f0: value(f0, "a2")}))
	late := s.change(a, sfsync.OpUpdate, map[string]any{f0: value(f0, "a3")})
	fine := s.change(b, sfsync.OpUpdate, map[string]any{f0: value(f0, "b2")})
	err := cs.WriteIf(s.ctx, []sfsync.Change{late, fine}, []sfsync.Record{staleA, readB})
	conflict("WriteIf of a change decided on a read made stale by a later write", err, 0)
	if e := sfsync.ErrorAt(err, 1); e != nil {
		t.Errorf("WriteIf: the unchanged record's change next to a conflict = %s, want applied: a conflict fails alone", describe(e))
	}
	want := s.values("a1")
	want[f0] = value(f0, "a2")
	s.want(t, "a change whose precondition failed takes no effect", a, want)
	wantB := s.values("b1")
	wantB[f0] = value(f0, "b2")
	s.want(t, "the change next to a conflict", b, wantB)

	if err := cs.WriteIf(s.ctx, []sfsync.Change{late}, []sfsync.Record{read(a)}); err != nil {
		t.Fatalf("WriteIf of the same change (same key) on a fresh read = %s, want nil: a refused change must not use up its key", describe(err))
	}
	want[f0] = value(f0, "a3")
	s.want(t, "the refused change, applied on a fresh read", a, want)

	none := read(c)
	if none.Exists {
		t.Fatalf("Read(%s) of a record never written = %+v", c, none)
	}
	s.write(t, "a create after the read found no record", s.create(c, "c1"))
	err = cs.WriteIf(s.ctx, []sfsync.Change{s.create(c, "c2")}, []sfsync.Record{none})
	conflict("WriteIf of a create decided on no record, which exists since", err, 0)
	s.want(t, "a create whose record appeared since the read takes no effect", c, s.values("c1"))
	if err := cs.WriteIf(s.ctx, []sfsync.Change{s.create(d, "d1")}, []sfsync.Record{read(d)}); err != nil {
		t.Errorf("WriteIf of a create of a record that still does not exist = %s, want nil", describe(err))
	}
	s.want(t, "a create decided on no record, none since", d, s.values("d1"))
}
