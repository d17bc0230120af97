package sync

// BackfillPhaseOf decodes the phase of a backfill state token, for tests
// that read the checkpoint store.
func BackfillPhaseOf(token []byte) string { return decodeBackfill(token).Phase }
