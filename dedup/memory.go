package dedup

import (
	"container/heap"
	"context"
	"hash/maphash"
	stdsync "sync"
	"time"
)

// Memory is an in-memory dedup store with TTL expiry and a bound on the
// number of keys. It is safe for concurrent use; keys are spread over
// independently locked shards so that concurrent claims rarely contend.
type Memory struct {
	clock  func() time.Time
	seed   maphash.Seed
	shards []shard
	limit  int // per shard
}

type shard struct {
	mu   stdsync.Mutex
	keys map[string]*entry
	heap expiryHeap
	// slab is room for the shard's next entries (see newEntry).
	slab []entry
}

// entrySlab is how many entries are made at once: few, so that entries
// outliving the others of their slab (claims of mixed TTLs) hold little.
const entrySlab = 16

// newEntry returns room for a new entry. Entries are made entrySlab at a
// time, not one per claim (an allocation per event of an engine on memory
// state); a slab is freed once none of its entries is held any more. Keys
// of one TTL expire in the order they were claimed, so slabs are freed in
// turn; at worst one live entry holds a slab of 16.
func (s *shard) newEntry() *entry {
	if len(s.slab) == 0 {
		s.slab = make([]entry, entrySlab)
	}
	e := &s.slab[0]
	s.slab = s.slab[1:]
	return e
}

type entry struct {
	key     string
	expires time.Time
	index   int
}

// MemoryOption configures a [Memory].
type MemoryOption func(*memoryConfig)

type memoryConfig struct {
	maxKeys int
	shards  int
	clock   func() time.Time
}

// WithMaxKeys bounds the keys kept (default 1,000,000). When the store is
// full, expired keys go first, then the keys closest to expiry: those are
// the oldest claims, whose redelivery is least likely.
func WithMaxKeys(n int) MemoryOption { return func(c *memoryConfig) { c.maxKeys = max(n, 1) } }

// WithClock sets the clock that TTLs are measured on (default time.Now).
func WithClock(now func() time.Time) MemoryOption { return func(c *memoryConfig) { c.clock = now } }

// NewMemory returns an empty store.
func NewMemory(opts ...MemoryOption) *Memory {
	cfg := memoryConfig{maxKeys: 1_000_000, shards: 32, clock: time.Now}
	for _, o := range opts {
		o(&cfg)
	}
	n := min(cfg.shards, cfg.maxKeys)
	m := &Memory{clock: cfg.clock, seed: maphash.MakeSeed(), shards: make([]shard, n), limit: cfg.maxKeys / n}
	for i := range m.shards {
		m.shards[i].keys = map[string]*entry{}
	}
	return m
}

func (m *Memory) shard(key string) *shard {
	return &m.shards[maphash.String(m.seed, key)%uint64(len(m.shards))]
}

// Seen reports whether key was claimed and has not expired.
func (m *Memory) Seen(ctx context.Context, key string) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	s := m.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.keys[key]
	return ok && m.clock().Before(e.expires), nil
}

// Claim records key for ttl and reports whether the caller was first: of
// concurrent claims of one key exactly one returns true. A key whose claim
// expired can be claimed again.
func (m *Memory) Claim(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	now := m.clock()
	s := m.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.keys[key]; ok {
		if now.Before(e.expires) {
			return false, nil
		}
		e.expires = now.Add(ttl)
		heap.Fix(&s.heap, e.index)
		return true, nil
	}
	for len(s.heap) > 0 && (!now.Before(s.heap[0].expires) || len(s.heap) >= m.limit) {
		old := heap.Pop(&s.heap).(*entry)
		delete(s.keys, old.key)
		// Its slab may outlive it: it must not keep the key alive.
		old.key = ""
	}
	e := s.newEntry()
	e.key, e.expires = key, now.Add(ttl)
	heap.Push(&s.heap, e)
	s.keys[key] = e
	return true, nil
}

// Len returns the number of keys held, expired ones not yet evicted
// included.
func (m *Memory) Len() int {
	n := 0
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		n += len(s.keys)
		s.mu.Unlock()
	}
	return n
}

type expiryHeap []*entry

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].expires.Before(h[j].expires) }
func (h expiryHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}
func (h *expiryHeap) Push(x any) {
	e := x.(*entry)
	e.index = len(*h)
	*h = append(*h, e)
}
func (h *expiryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return e
}
