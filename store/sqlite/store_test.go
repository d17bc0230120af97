package sqlite

import (
	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/sync"
)

// The engine finds the optional parts of a store by type assertion, so a
// part whose method set drifted would silently fall back to memory; this
// fails the build instead.
var _ interface {
	sync.Store
	sfsync.DedupStore
	sfsync.SeenBatcher
	sfsync.Ledger
	sfsync.DeadLetterStore
	sfsync.EchoStore
	sfsync.VersionStore
	sfsync.StateCommitter
	sfsync.Leaser
} = (*Store)(nil)
