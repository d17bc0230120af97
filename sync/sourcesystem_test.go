package sync_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/store/memory"
	sfsyncsync "github.com/sfsync/sfsync/sync"
	"github.com/sfsync/sfsync/sync/synctest"
)

// countingEchoes counts the write fingerprints the engine remembers.
type countingEchoes struct {
	sfsync.EchoStore
	n atomic.Int64
}

func (c *countingEchoes) RememberWrites(ctx context.Context, fps []string, ttl time.Duration) error {
	c.n.Add(int64(len(fps)))
	return c.EchoStore.RememberWrites(ctx, fps, ttl)
}

// salesforceSource says it delivers Salesforce's changes.
type salesforceSource struct{ *synctest.Source }

func (salesforceSource) System() sfsync.System { return sfsync.Salesforce }

// When every source says which system it delivers, the engine keeps no
// write fingerprints for a target whose changes never come back: a
// one-way sync pays nothing for echo detection. A source that does not
// say keeps them.
func TestNoFingerprintsForATargetNoSourceDelivers(t *testing.T) {
	for _, declared := range []bool{true, false} {
		b := newBidi(t)
		for i := range 3 {
			b.sf.Edit("Contact", "003A", map[string]any{"Phone": string(rune('1' + i))}, at(time.Duration(i)*time.Second))
		}
		inner := b.sfLog.Source()
		var src sfsync.EventSource = inner
		if declared {
			src = salesforceSource{inner}
		}
		echoes := &countingEchoes{EchoStore: memory.New()}
		e, err := sfsyncsync.New(src, b.ext, sfsyncsync.WithLogger(quiet()), sfsyncsync.WithTenant(org),
			sfsyncsync.WithStore(b.store), sfsyncsync.WithEchoStore(echoes))
		if err != nil {
			t.Fatal(err)
		}
		r := start(t, e)
		settle(t, b.sfLog, inner)
		r.stop(t)
		if got := field(t, b.ext, "Contact", "003A", "Phone"); got != "3" {
			t.Errorf("declared=%v: Phone = %v, want 3", declared, got)
		}
		if n := echoes.n.Load(); declared && n != 0 || !declared && n == 0 {
			t.Errorf("declared=%v: %d fingerprints remembered", declared, n)
		}
	}
}
