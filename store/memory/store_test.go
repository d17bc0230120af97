package memory_test

import (
	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/store/memory"
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
} = (*memory.Store)(nil)
