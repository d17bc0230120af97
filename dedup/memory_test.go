package dedup_test

import (
	"context"
	"fmt"
	stdsync "sync"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/dedup"
	"github.com/sfsync/sfsync/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.RunDedup(t, func(t *testing.T) sfsync.DedupStore { return dedup.NewMemory() })
}

type clock struct {
	mu  stdsync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func TestTTLOnAControlledClock(t *testing.T) {
	ctx := context.Background()
	clk := &clock{now: time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)}
	m := dedup.NewMemory(dedup.WithClock(clk.Now))
	m.Claim(ctx, "k", time.Hour)
	clk.Add(59 * time.Minute)
	if ok, _ := m.Seen(ctx, "k"); !ok {
		t.Fatal("key forgotten before its TTL")
	}
	clk.Add(time.Minute)
	if ok, _ := m.Seen(ctx, "k"); ok {
		t.Fatal("key seen at its expiry")
	}
	if ok, _ := m.Claim(ctx, "k", time.Hour); !ok {
		t.Fatal("expired key not claimable")
	}
}

func TestBoundEvictsClosestToExpiry(t *testing.T) {
	ctx := context.Background()
	clk := &clock{now: time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)}
	const limit = 64
	m := dedup.NewMemory(dedup.WithMaxKeys(limit), dedup.WithClock(clk.Now))
	for i := range 10 * limit {
		m.Claim(ctx, fmt.Sprint(i), time.Hour+time.Duration(i)*time.Second)
	}
	if n := m.Len(); n > limit {
		t.Fatalf("%d keys held, bound is %d", n, limit)
	}
	if ok, _ := m.Seen(ctx, fmt.Sprint(10*limit-1)); !ok {
		t.Error("the newest key was evicted")
	}
	if ok, _ := m.Seen(ctx, "0"); ok {
		t.Error("the oldest key survived ten times the bound")
	}
}

func BenchmarkClaimParallel(b *testing.B) {
	m := dedup.NewMemory()
	ctx := context.Background()
	var n stdsync.Mutex
	next := 0
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		n.Lock()
		base := next
		next += 1 << 30
		n.Unlock()
		i := base
		for pb.Next() {
			m.Claim(ctx, fmt.Sprint(i), time.Hour)
			i++
		}
	})
}

func ExampleMemory() {
	ctx := context.Background()
	seen := dedup.NewMemory(dedup.WithMaxKeys(100_000))
	for _, key := range []string{"003A:tx1:1", "003A:tx1:1", "003B:tx2:1"} {
		first, _ := seen.Claim(ctx, key, 96*time.Hour)
		fmt.Println(key, "first:", first)
	}
	// Output:
	// 003A:tx1:1 first: true
	// 003A:tx1:1 first: false
	// 003B:tx2:1 first: true
}
