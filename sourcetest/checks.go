package sourcetest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
)

func testEveryChange(t *testing.T, s *suite) {
	r := s.open(t, "a")
	defer r.close(t)
	var want []string
	for n := 1; n <= 10; n++ {
		for _, rec := range []string{"r1", "r2", "r3"} {
			want = append(want, s.emit(t, rec, n, n)...)
		}
	}
	got := r.receive(t, want)
	if dups := len(got) - len(want); dups > 0 {
		t.Logf("%d changes were delivered more than once (allowed: sources are at least once)", dups)
	}
}

func testPerRecordOrder(t *testing.T, s *suite) {
	r := s.open(t, "a")
	defer r.close(t)
	var want []string
	for n := 1; n <= 8; n++ {
		for _, rec := range []string{"r1", "r2", "r3"} {
			want = append(want, s.emit(t, rec, n, n)...)
		}
	}
	got := r.receive(t, want)
	firsts := map[string][]string{}
	seen := map[string]bool{}
	for _, v := range got {
		if !seen[v] {
			seen[v] = true
			firsts[recordOf(v)] = append(firsts[recordOf(v)], v)
		}
	}
	for rec, vs := range firsts {
		if !slices.IsSorted(vs) {
			t.Errorf("changes of record %s were delivered as %v, want the order they were made in", rec, vs)
		}
	}
}

func testResume(t *testing.T, s *suite) {
	r := s.open(t, "a")
	first := s.emit(t, "r1", 1, 3)
	r.receive(t, first)
	r.commit(t, first[len(first)-1])
	second := s.emit(t, "r1", 4, 6)
	r.receive(t, second)
	r.close(t)

	r2 := s.open(t, "a")
	defer r2.close(t)
	third := s.emit(t, "r1", 7, 7)
	got := r2.receive(t, append(slices.Clone(second), third...))
	for _, v := range got {
		if slices.Contains(first, v) {
			t.Errorf("after resuming from the checkpoint of the delivery carrying %s, the source delivered %s again; it must resume right after the checkpoint (all it delivered: %v)", first[len(first)-1], v, got)
		}
	}
	if got[0] != second[0] {
		t.Errorf("the resumed source first delivered %s, want %s, the first change after the checkpoint", got[0], second[0])
	}
}

func testReopen(t *testing.T, s *suite) {
	r := s.open(t, "a")
	first := s.emit(t, "r1", 1, 3)
	r.receive(t, first)
	r.commit(t, first[len(first)-1])
	second := append(s.emit(t, "r1", 4, 5), s.emit(t, "r2", 1, 2)...)
	r.receive(t, second)
	// Delivered but not committed, then closed in order.
	r.close(t)

	r2 := s.open(t, "a")
	defer r2.close(t)
	r2.receive(t, second)
}

func testCrash(t *testing.T, s *suite) {
	r := s.open(t, "a")
	first := s.emit(t, "r1", 1, 2)
	r.receive(t, first)
	r.commit(t, first[len(first)-1])
	second := s.emit(t, "r1", 3, 5)
	r.receive(t, second)
	// A crash: the source is abandoned without Close or Commit (it is
	// closed only when the test ends, as the process's end would).
	t.Cleanup(func() {
		if c := s.closer(r.src); c != nil {
			_ = c()
		}
	})

	r2 := s.open(t, "a")
	defer r2.close(t)
	r2.receive(t, second)
}

func testMonotone(t *testing.T, s *suite) {
	r := s.open(t, "a")
	var vs []string
	for n := 1; n <= 4; n++ {
		v := s.emit(t, "r1", n, n)
		r.receive(t, v)
		vs = append(vs, v...)
	}
	d1, d3 := r.deliveryOf(t, vs[0]), r.deliveryOf(t, vs[2])
	for i := 1; i < len(r.got); i++ {
		p, q := r.got[i-1].pos, r.got[i].pos
		if q.Stream != p.Stream {
			t.Errorf("deliveries of one source name streams %q and %q; a source's positions are of one stream", p.Stream, q.Stream)
		}
	}
	r.commit(t, vs[2])
	// The engine never commits backwards, but a late acknowledgement can:
	// it must not rewind the source.
	if err := r.src.Commit(t.Context(), d1.pos); err != nil && sfsync.IsPermanent(err) {
		t.Errorf("Commit of an older position after a newer one = %v; want it harmless, not a permanent failure", err)
	}
	_ = d3
	more := s.emit(t, "r1", 5, 5)
	got := r.receive(t, more)
	for _, v := range got {
		if slices.Contains(vs[:3], v) {
			t.Errorf("after an older commit the source delivered %s again; a commit must not rewind the source", v)
		}
	}
	r.close(t)

	r2 := s.open(t, "a")
	defer r2.close(t)
	got = r2.receive(t, []string{vs[3], more[0]})
	for _, v := range got {
		if slices.Contains(vs[:3], v) {
			t.Errorf("reopened at the newer checkpoint after an older commit, the source delivered %s again", v)
		}
	}
}

func testCloseWhileBlocked(t *testing.T, s *suite) {
	r := s.open(t, "a")
	closeFn := s.closer(r.src)
	if closeFn == nil {
		t.Skip(errNoClose)
	}
	// Everything emitted is read first, so the next Receive blocks.
	v := s.emit(t, "r1", 1, 1)
	r.receive(t, v)
	done := make(chan error, 1)
	started := make(chan struct{})
	go func() {
		close(started)
		changes, err := r.src.Receive(context.WithoutCancel(t.Context()))
		if err == nil {
			t.Errorf("Receive returned %d changes after Close with nothing emitted", len(changes))
		}
		done <- err
	}()
	<-started
	if err := closeFn(); err != nil {
		t.Errorf("Close = %v", err)
	}
	select {
	case err := <-done:
		if err == nil {
			t.Error("a Receive blocked when the source was closed returned no error")
		}
	case <-time.After(s.Wait):
		t.Fatalf("a Receive blocked when the source was closed did not return within %v", s.Wait)
	}
}

func testCancel(t *testing.T, s *suite) {
	r := s.open(t, "a")
	defer r.close(t)
	v := s.emit(t, "r1", 1, 1)
	r.receive(t, v)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		_, err := r.src.Receive(ctx)
		done <- err
	}()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Receive under a canceled context = %v, want an error matching context.Canceled", err)
		}
	case <-time.After(s.Wait):
		t.Fatalf("Receive did not return within %v of its context's cancellation", s.Wait)
	}
	// The source works on: the next change is delivered.
	r.receive(t, s.emit(t, "r1", 2, 2))
}

func testTwoConsumers(t *testing.T, s *suite) {
	a, b := s.open(t, "a"), s.open(t, "b")
	first := s.emit(t, "r1", 1, 2)
	a.receive(t, first)
	a.commit(t, first[len(first)-1])
	b.receive(t, first)
	b.commit(t, first[0])
	second := s.emit(t, "r1", 3, 4)
	a.receive(t, second)
	a.commit(t, second[len(second)-1])
	b.receive(t, second)
	a.close(t)
	b.close(t)

	// Each resumes from its own checkpoint: a after everything, b after
	// the delivery that carried the first change.
	bCommitted := b.through(t, first[0])
	a2, b2 := s.open(t, "a"), s.open(t, "b")
	defer a2.close(t)
	defer b2.close(t)
	last := s.emit(t, "r1", 5, 5)
	for _, v := range a2.receive(t, last) {
		if v != last[0] {
			t.Errorf("consumer a, reopened after committing everything, delivered %s again; consumer b's commits must not move a's position", v)
		}
	}
	var want []string
	for _, v := range append(append(slices.Clone(first), second...), last...) {
		if !slices.Contains(bCommitted, v) {
			want = append(want, v)
		}
	}
	for _, v := range b2.receive(t, want) {
		if slices.Contains(bCommitted, v) {
			t.Errorf("consumer b delivered %s, which it committed, again", v)
		}
	}
}
