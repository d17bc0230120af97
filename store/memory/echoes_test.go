package memory_test

import (
	"context"
	"testing"
	"time"

	"github.com/sfsync/sfsync/store/memory"
)

// A full store evicts the write that expires first, wherever it stands
// among the writes of its place: the others keep their order.
func TestEchoEvictionFromTheMiddleOfAPlace(t *testing.T) {
	ctx := context.Background()
	s := memory.New(memory.WithMaxKeys(3))
	for _, w := range []struct {
		fp  string
		ttl time.Duration
	}{{"p.a", 3 * time.Hour}, {"p.b", time.Hour}, {"p.c", 2 * time.Hour}, {"q.d", 4 * time.Hour}} {
		if err := s.RememberWrites(ctx, []string{w.fp}, w.ttl); err != nil {
			t.Fatal(err)
		}
	}
	// "p.b" expires first and was evicted for "q.d": after "p.a" comes "p.c".
	for _, want := range []struct {
		fp    string
		match bool
	}{{"p.a", true}, {"p.c", true}, {"q.d", true}, {"p.x", false}} {
		got, err := s.MatchWrite(ctx, want.fp)
		if err != nil {
			t.Fatal(err)
		}
		if got != want.match {
			t.Errorf("MatchWrite(%s) = %v, want %v", want.fp, got, want.match)
		}
	}
}

// The same when the write evicted is its place's newest.
func TestEchoEvictionOfAPlacesNewest(t *testing.T) {
	ctx := context.Background()
	s := memory.New(memory.WithMaxKeys(2))
	for _, w := range []struct {
		fp  string
		ttl time.Duration
	}{{"p.a", 3 * time.Hour}, {"p.b", time.Hour}, {"q.d", 4 * time.Hour}, {"p.e", 3 * time.Hour}} {
		if err := s.RememberWrites(ctx, []string{w.fp}, w.ttl); err != nil {
			t.Fatal(err)
		}
	}
	// "p.b" went for "q.d", then "p.a" for "p.e".
	for _, want := range []struct {
		fp    string
		match bool
	}{{"p.e", true}, {"p.x", false}, {"q.d", true}} {
		got, err := s.MatchWrite(ctx, want.fp)
		if err != nil {
			t.Fatal(err)
		}
		if got != want.match {
			t.Errorf("MatchWrite(%s) = %v, want %v", want.fp, got, want.match)
		}
	}
}
