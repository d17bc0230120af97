package memory

import (
	"container/heap"
	"context"
	"time"

	"github.com/sfsync/sfsync"
)

// RememberWrites remembers each fingerprint as one write for ttl; the same
// fingerprint twice is two writes, expecting two echoes.
func (s *Store) RememberWrites(ctx context.Context, fingerprints []string, ttl time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock()
	for _, f := range fingerprints {
		place := sfsync.FingerprintPlace(f)
		s.echoes.put(place, f[len(place):], now.Add(ttl), now, s.maxKeys)
	}
	return nil
}

// MatchWrite consumes the oldest live write remembered at fingerprint's
// place and reports whether its value is fingerprint's.
func (s *Store) MatchWrite(ctx context.Context, fingerprint string) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	place := sfsync.FingerprintPlace(fingerprint)
	s.mu.Lock()
	defer s.mu.Unlock()
	value, ok := s.echoes.take(place, s.clock())
	return ok && value == fingerprint[len(place):], nil
}

// echoSet is a multiset of remembered writes: per place, oldest first, and
// all of them in a heap by expiry, which bounds the set by evicting the
// write that expires first.
type echoSet struct {
	// at holds the newest write of each place, whose next is the place's
	// oldest: each place's writes are a ring, oldest to newest, so that
	// both ends are at hand and a place costs no allocation of its own.
	at   map[string]*write
	heap writeHeap
}

type write struct {
	place, value string // value keeps its leading '.', so "p" and "p." differ
	expires      time.Time
	index        int
	next         *write // the place's next newer write; the newest's is the oldest
}

func newEchoSet() echoSet { return echoSet{at: map[string]*write{}} }

func (s *echoSet) put(place, value string, expires, now time.Time, limit int) {
	// Expired writes go first; then, if still full, the one expiring soonest.
	for len(s.heap) > 0 && (!now.Before(s.heap[0].expires) || len(s.heap) >= limit) {
		s.remove(s.heap[0])
	}
	w := &write{place: place, value: value, expires: expires}
	heap.Push(&s.heap, w)
	if newest := s.at[place]; newest != nil {
		w.next, newest.next = newest.next, w
	} else {
		w.next = w
	}
	s.at[place] = w
}

// take removes the oldest live write at place, dropping expired ones on
// the way.
func (s *echoSet) take(place string, now time.Time) (string, bool) {
	for newest := s.at[place]; newest != nil; newest = s.at[place] {
		w := newest.next
		s.remove(w)
		if now.Before(w.expires) {
			return w.value, true
		}
	}
	return "", false
}

func (s *echoSet) remove(w *write) {
	heap.Remove(&s.heap, w.index)
	newest := s.at[w.place]
	if w.next == w {
		delete(s.at, w.place)
		return
	}
	// The write before w in the ring: the newest when w is the oldest, as
	// it is when a write is taken or expires in order.
	prev := newest
	for prev.next != w {
		prev = prev.next
	}
	prev.next = w.next
	if newest == w {
		s.at[w.place] = prev
	}
	w.next = nil
}

type writeHeap []*write

func (h writeHeap) Len() int           { return len(h) }
func (h writeHeap) Less(i, j int) bool { return h[i].expires.Before(h[j].expires) }
func (h writeHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}
func (h *writeHeap) Push(x any) {
	w := x.(*write)
	w.index = len(*h)
	*h = append(*h, w)
}
func (h *writeHeap) Pop() any {
	old := *h
	w := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return w
}
