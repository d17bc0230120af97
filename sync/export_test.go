package sync

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
