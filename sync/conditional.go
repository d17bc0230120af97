package sync

import (
	"context"
	"maps"

	"github.com/sfsync/sfsync"
)

// Conditional writes: a route whose sink is an [sfsync.ConditionalSink]
// and which reads the target's state writes each decided change on the
// condition that its record is still as read. An edit the target took
// between the read and the write then fails the write as a conflict
// (retryable), and the next attempt of write reads the record again and
// decides against that edit, instead of overwriting it with a change that
// was never decided against it.

// asRead returns a copy of the records read for a group, taken before
// decide completes them with what the version map knows (describe fills
// in versions and writers, in place): the precondition of a write is the
// target as it was read, not as described. It returns nil when r's writes
// are unconditional.
func asRead(r *Route, current map[string]sfsync.Record) map[string]sfsync.Record {
	if r.State == nil || current == nil {
		return nil
	}
	if _, ok := r.Sink.(sfsync.ConditionalSink); !ok {
		return nil
	}
	out := make(map[string]sfsync.Record, len(current))
	for id, rec := range current {
		// A precondition is on existence and versions, not values.
		rec.Fields = nil
		rec.FieldVersions = maps.Clone(rec.FieldVersions)
		rec.LastWriter = maps.Clone(rec.LastWriter)
		out[id] = rec
	}
	return out
}

// writeDecided writes a group's decided changes to r's sink: out[i] is
// ws[i]'s change in the destination's shape. With the records as read
// (see asRead) it writes through WriteIf, each change conditioned on the
// record it was decided against, in the sink's names.
func (e *Engine) writeDecided(ctx context.Context, r *Route, out []sfsync.Change, ws []*work, read map[string]sfsync.Record) error {
	cs, ok := r.Sink.(sfsync.ConditionalSink)
	if !ok || read == nil {
		return r.Sink.Write(ctx, out)
	}
	pre := make([]sfsync.Record, len(out))
	for i, w := range ws {
		if w.c.Op == sfsync.OpEvent {
			continue // names no record: no precondition
		}
		rec := read[w.c.RecordID] // missing: did not exist
		if m := e.destMapping(r, w.c.Object); m != nil {
			rec = m.recordToExternal(rec)
		}
		rec.Object, rec.ID = out[i].Object, out[i].RecordID
		pre[i] = rec
	}
	return cs.WriteIf(ctx, out, pre)
}

// recordToExternal translates the versions and writers of a canonical
// record back to the external system's field names, as its StateReader
// returned them; values are left out (see asRead).
func (m *Mapping) recordToExternal(r sfsync.Record) sfsync.Record {
	r.Object = m.externalName()
	r.Fields = nil
	toExt := func(name string) (string, bool) {
		f, ok := m.bySF[name]
		if !ok {
			return "", false
		}
		return f.External, true
	}
	r.FieldVersions = renameKeys(r.FieldVersions, toExt)
	r.LastWriter = renameKeys(r.LastWriter, toExt)
	return r
}
