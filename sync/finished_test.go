package sync

import (
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
)

// TestFinishedWatermark finishes deliveries in a shuffled order, a window
// at a time as the engine's in-flight bound allows, and checks that the
// watermark moves over exactly the contiguous run of finished deliveries,
// in order, with each one's position and time, as the map it replaced did.
func TestFinishedWatermark(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 13))
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	pos := func(seq int) sfsync.Position {
		return sfsync.Position{Stream: "s", Token: []byte(strconv.Itoa(seq))}
	}
	var f finished
	next := 0
	ref := map[int]bool{}
	const window = 64
	const total = 80 * window
	order := make([]int, 0, total)
	for start := 0; start < total; start += window {
		batch := rng.Perm(window)
		for _, i := range batch {
			order = append(order, start+i)
		}
	}
	for _, seq := range order {
		var at time.Time
		if seq%3 != 0 { // some deliveries carry no change time
			at = t0.Add(time.Duration(seq) * time.Millisecond)
		}
		f.put(uint64(seq-next), pos(seq), at)
		ref[seq] = true
		for ref[next] {
			p, gotAt, ok := f.pop()
			if !ok {
				t.Fatalf("delivery %d finished but the watermark does not move over it", next)
			}
			if string(p.Token) != strconv.Itoa(next) {
				t.Fatalf("watermark moved over %s, want delivery %d", p.Token, next)
			}
			var wantAt time.Time
			if next%3 != 0 {
				wantAt = t0.Add(time.Duration(next) * time.Millisecond)
			}
			if !gotAt.Equal(wantAt) {
				t.Fatalf("delivery %d: change time %v, want %v", next, gotAt, wantAt)
			}
			delete(ref, next)
			next++
		}
		if _, _, ok := f.pop(); ok {
			t.Fatalf("watermark moved past delivery %d, which has no outcome", next)
		}
	}
	if next != total {
		t.Fatalf("watermark at %d, want %d", next, total)
	}
	if len(f.slots) != 0 || f.head != 0 {
		t.Fatalf("%d slots held (head %d) with nothing in flight", len(f.slots), f.head)
	}
}
