package sync

import "github.com/sfsync/sfsync"

// BackfillPhaseOf decodes the phase of a backfill state token, for tests
// that read the checkpoint store.
func BackfillPhaseOf(token []byte) string { return decodeBackfill(token).Phase }

// Parked counts the changes waiting in the park for their target's event.
func (e *Engine) Parked() int { return int(e.parkedChanges()) }

// CachedVersions counts the records whose versions the engine holds in
// memory.
func (e *Engine) CachedVersions() int {
	e.versions.mu.Lock()
	defer e.versions.mu.Unlock()
	return e.versions.lru.Len()
}

// OnGateWait has f told of each wait of a lane for a record's gate; call
// it before Run.
func (e *Engine) OnGateWait(f func(record string)) { e.gates.waiting = f }

// SameLane reports whether the engine hands changes of records a and b
// of object, as received, to one lane.
func (e *Engine) SameLane(object, a, b string) bool {
	return e.laneOf(&sfsync.Change{Object: object, RecordID: a}) == e.laneOf(&sfsync.Change{Object: object, RecordID: b})
}

// ParkedKey reports whether the change of idempotency key waits in the
// park.
func (e *Engine) ParkedKey(key string) bool {
	e.parkMu.Lock()
	defer e.parkMu.Unlock()
	for _, queue := range e.parked {
		for _, w := range queue {
			if w.it.c.Key == key {
				return true
			}
		}
	}
	return false
}
