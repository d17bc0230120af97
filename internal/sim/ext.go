package sim

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/sync/synctest"
)

// external is the scenario's external system, the "ERP": the in-memory
// synctest.System with its feed (memERP), or pgmirror's tables, trigger
// and outbox in PostgreSQL (pgERP, with Options.ExternalPostgres). The
// workload edits it as its users would, the engine writes to it and reads
// its local edits, and the checks read its final state.
type external interface {
	// sink is where the engine writes Salesforce changes.
	sink() stateSink
	// source returns one engine instance's reader of the local edits,
	// delivering everything twice over when dup is set, and what to call
	// when the instance is gone.
	source(dup bool) (sfsync.EventSource, func())
	// stream is the checkpoint stream of the sources.
	stream() string
	// subscription wraps a Salesforce subscription as the side's
	// deployment does; tracked wraps the Salesforce sink likewise.
	subscription(src sfsync.EventSource) sfsync.EventSource
	tracked(s stateSink) stateSink
	// edit is a user's create or update of a record (external field names)
	// at version v. It returns the fields that changed: only those are an
	// edit the side versions and reports.
	edit(ctx context.Context, entity, id string, fields map[string]any, v sfsync.Version) ([]string, error)
	// remove is a user's delete; false when the record was not live.
	remove(ctx context.Context, entity, id string, v sfsync.Version) (bool, error)
	// record is the current state of a record.
	record(ctx context.Context, entity, id string) (sfsync.Record, bool)
	// applied counts, per idempotency key, the engine's writes that took
	// effect (no-double-effect).
	applied(r *run) map[string]int
	// backlog says which local edit no engine instance has received yet,
	// or "" when every one has.
	backlog(r *run) string
	// size is how many local edits and echoes the side has recorded, for
	// the settle's signature.
	size(ctx context.Context) int
	// unread reports whether local edits wait in the side's feed that no
	// source has read yet (for a crash aimed at the next read).
	unread(ctx context.Context) bool
	// stuck describes local edits the side still shows as waiting for the
	// engine once everything is quiet, or "" when there are none.
	stuck(ctx context.Context) string
	close()
}

// memERP is the in-memory ERP: a synctest.System whose feed is a
// synctest.Log. It runs with key idempotency off, so that its per-key
// application count measures what the engine sends rather than what the
// stand-in forgives, and it publishes the echoes of the engine's writes,
// which the engine must recognise.
type memERP struct {
	log *synctest.Log
	sys *synctest.System
}

func newMemERP() *memERP {
	log := synctest.NewLog("erp/feed")
	return &memERP{log: log, sys: synctest.NewSystem(erpSystem, synctest.WithFeed(log), synctest.WithoutKeyIdempotency())}
}

func (m *memERP) sink() stateSink { return m.sys.Conditional() }

func (m *memERP) source(dup bool) (sfsync.EventSource, func()) {
	var opts []synctest.SourceOption
	if dup {
		opts = append(opts, synctest.DeliverTwice())
	}
	return m.log.Source(opts...), func() {}
}

func (m *memERP) stream() string                                         { return m.log.Stream() }
func (m *memERP) subscription(src sfsync.EventSource) sfsync.EventSource { return src }
func (m *memERP) tracked(s stateSink) stateSink                          { return s }
func (m *memERP) close()                                                 {}
func (m *memERP) size(context.Context) int                               { return m.log.Len() }
func (m *memERP) applied(*run) map[string]int                            { return m.sys.AppliedKeys() }

// unread is never true and stuck never says anything: the feed has no
// read state of its own.
func (m *memERP) unread(context.Context) bool  { return false }
func (m *memERP) stuck(context.Context) string { return "" }

func (m *memERP) edit(_ context.Context, entity, id string, fields map[string]any, v sfsync.Version) ([]string, error) {
	m.sys.Edit(entity, id, fields, v)
	return slices.Sorted(maps.Keys(fields)), nil
}

func (m *memERP) remove(_ context.Context, entity, id string, v sfsync.Version) (bool, error) {
	if got, ok := m.sys.Record(entity, id); !ok || got.Deleted {
		return false, nil
	}
	m.sys.Remove(entity, id, v)
	return true, nil
}

func (m *memERP) record(_ context.Context, entity, id string) (sfsync.Record, bool) {
	return m.sys.Record(entity, id)
}

// backlog compares the feed's length with the entries some instance
// received, by their log index.
func (m *memERP) backlog(r *run) string {
	r.mu.Lock()
	got := 0
	for _, d := range r.deliveries {
		if d.Pos.Stream == m.log.Stream() {
			if i, err := synctest.Index(d.Pos); err == nil {
				got = max(got, i+1)
			}
		}
	}
	r.mu.Unlock()
	if n := m.log.Len(); got < n {
		return fmt.Sprintf("ERP feed delivered %d of %d", got, n)
	}
	return ""
}
