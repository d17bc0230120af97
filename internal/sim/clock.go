package sim

import (
	stdsync "sync"
	"time"
)

// epoch is where every scenario's virtual time starts, so that traces of
// one seed read the same on every run.
var epoch = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// clock is the virtual time shared by the fake org (commit timestamps,
// Pub/Sub retention), the engine (outcome times) and the state store (TTLs,
// leases). Only the scenario moves it, so a 73-hour outage costs nothing
// and timestamps depend on the seed, not on the machine.
type clock struct {
	mu stdsync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: epoch} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}
