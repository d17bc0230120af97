package sim

import (
	"context"
	"strings"
	stdsync "sync"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
)

// isPing reports whether a delivery carries a settle's ping.
func isPing(cs []sfsync.Change) bool {
	for _, c := range cs {
		for _, v := range c.Fields {
			if s, ok := v.(string); ok && strings.HasPrefix(s, "ping-") {
				return true
			}
		}
	}
	return false
}

// TestSettleWaitsForTheHandover holds every ping between the moment the
// simulator sees it and the moment the engine takes it, until the settle
// has judged the systems once meanwhile: no verdict may find them quiet
// then, since the ping is still on its way into the engine. (Judged by
// the pings alone, a run was quiet with the last ping in flight, and the
// checks after it found "1 change still in flight" now and then.)
func TestSettleWaitsForTheHandover(t *testing.T) {
	var mu stdsync.Mutex
	var held chan struct{} // open while a ping is held
	holds, premature := 0, 0
	opt := Options{
		Wait: 5 * time.Second,
		handover: func(ctx context.Context, cs []sfsync.Change) {
			if !isPing(cs) {
				return
			}
			ch := make(chan struct{})
			mu.Lock()
			held = ch
			holds++
			mu.Unlock()
			select {
			case <-ch:
			case <-ctx.Done():
			}
		},
		judged: func(_ string, ok bool) {
			mu.Lock()
			defer mu.Unlock()
			if held == nil {
				return
			}
			if ok {
				premature++
			}
			close(held)
			held = nil
		},
	}
	res := RunScenario(context.Background(), concurrentScenario(), opt)
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	mu.Lock()
	defer mu.Unlock()
	if holds == 0 {
		t.Fatal("no ping was held")
	}
	if premature > 0 || len(res.Violations) > 0 {
		t.Fatalf("of %d pings held on their way into the engine, %d were judged quiet; violations %v\n%s", holds, premature, res.Violations, res.Report())
	}
}
