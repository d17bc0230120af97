package sync

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/sfsync/sfsync"
)

// Parking. A change whose target changed the record after the newest
// change of it the engine has seen waits for that change's event (see
// decide). It must not wait in its lane: the event it waits for may be
// queued in the same lane, behind it. So it is parked, per record and
// source, with every later change of the record from that source behind it
// (the target's own changes, which it waits for, go on), and the lane goes
// on; the
// park loop tries the first change of each record again until the event has
// arrived or the wait is over. Parked changes have no outcome, so the
// checkpoint stays behind them and a restart redelivers them.

// park queues changes that wait for their target's change event.
func (e *Engine) park(ws []*work) {
	if len(ws) == 0 {
		return
	}
	e.parkMu.Lock()
	defer e.parkMu.Unlock()
	for _, w := range ws {
		key := parkKey(w)
		if len(e.parked[key]) > 0 && e.parked[key][0] == w {
			continue // tried again from the park, still first in line
		}
		w.noteParked()
		e.parked[key] = append(e.parked[key], w)
		e.parkedN.Add(1)
	}
}

// parkBehind parks w when an earlier change of its record is parked, so that
// the record's changes keep their order; a redelivery of a parked change is
// its duplicate. lookedAt is leftParkCount from before w's dedup lookup.
func (e *Engine) parkBehind(ctx context.Context, w *work, lookedAt uint64) bool {
	e.parkMu.Lock()
	key := parkKey(w)
	queue := e.parked[key]
	if len(queue) == 0 {
		left := e.leftPark
		e.parkMu.Unlock()
		// The park may have decided an earlier delivery of this change
		// since w's dedup lookup: its outcome is on its way now (held for
		// its repair, perhaps), or already stored. Nothing else decides
		// a change of w's record meanwhile: the lane is w's.
		if left == lookedAt {
			return false
		}
		if dup, err := e.seen(ctx, w.it.c.Key, nil); err != nil {
			e.log.Warn("sfsync: dedup lookup failed; deciding the change (writes are idempotent by key)", "key", w.it.c.Key, "err", err)
		} else if dup {
			e.emit(*e.final(w.it, w.c, "", sfsync.StatusDuplicate, "idempotency key already has an outcome", false))
			return true
		}
		return false
	}
	for _, p := range queue {
		if p.it.c.Key == w.it.c.Key {
			e.parkMu.Unlock()
			e.emit(*e.final(w.it, w.c, "", sfsync.StatusDuplicate, "delivered again while the first delivery waits; the first delivery decides", false))
			return true
		}
	}
	if len(w.c.Reread) > 0 {
		w.it.hold = new([]result) // released by its re-read once unparked
	}
	w.noteParked()
	e.parked[key] = append(queue, w)
	e.parkedN.Add(1)
	e.parkMu.Unlock()
	return true
}

// parkLoop tries the parked changes again, first of each record first,
// until the engine stops taking work.
func (e *Engine) parkLoop(ctx context.Context) {
	t := time.NewTicker(targetAheadPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-e.lanesClosed:
			return
		case <-t.C:
		}
		e.parkMu.Lock()
		keys := make([]parkID, 0, len(e.parked))
		for k := range e.parked {
			keys = append(keys, k)
		}
		e.parkMu.Unlock()
		slices.SortFunc(keys, func(a, b parkID) int {
			return cmp.Or(cmp.Compare(a.source, b.source), cmp.Compare(a.record, b.record))
		})
		for _, key := range keys {
			e.unparkRecord(ctx, key)
		}
	}
}

// unparkRecord writes the parked changes of one record, in order, until one
// has to wait again.
func (e *Engine) unparkRecord(ctx context.Context, key parkID) {
	for {
		e.parkMu.Lock()
		queue := e.parked[key]
		if len(queue) == 0 {
			delete(e.parked, key)
			e.parkMu.Unlock()
			return
		}
		w := queue[0]
		e.parkMu.Unlock()
		if ctx.Err() != nil {
			return
		}
		// An earlier delivery of the change may have been decided while
		// this one waited: one taken from the park before this one was
		// parked behind a later change, its outcome then held for its
		// repair, where parkBehind could not see it. (A redelivery's
		// duplicate outcome of this very change does not count.)
		if dup, err := e.decided(ctx, w.it.c.Key); err != nil {
			e.log.Warn("sfsync: dedup lookup failed; deciding the parked change (writes are idempotent by key)", "key", w.it.c.Key, "err", err)
		} else if dup {
			e.parkMu.Lock()
			e.parked[key] = e.parked[key][1:]
			e.parkedN.Add(-1)
			e.parkMu.Unlock()
			// Nothing of this delivery is written: no repair, no re-read
			// to wait for.
			w.repair, w.repairParts, w.repairClaim, w.holdsForRepair, w.it.hold = nil, nil, nil, false, nil
			e.emit(*e.final(w.it, w.c, "", sfsync.StatusDuplicate, "idempotency key already has an outcome", false))
			continue
		}
		if !e.unparkOne(ctx, key, w) {
			return
		}
	}
}

// unparkOne writes w, first in key's queue, holding its record's gate, and
// reports whether it left the park.
func (e *Engine) unparkOne(ctx context.Context, key parkID, w *work) bool {
	ws := []*work{w}
	ctx, gates := e.gates.enterFor(ctx, e.gated(ws, nil))
	if ctx == nil {
		return false
	}
	defer e.gates.leave(gates)
	if again := e.write(ctx, e.versions, ws); len(again) > 0 {
		return false
	}
	e.parkMu.Lock()
	e.parked[key] = e.parked[key][1:]
	e.parkedN.Add(-1)
	e.leftPark++
	e.parkMu.Unlock()
	e.finish(ctx, e.versions, w)
	return true
}

// parkedChanges counts the changes waiting in the park.
func (e *Engine) parkedChanges() int64 { return e.parkedN.Load() }

// parkedFrom reports whether a change of record from source waits in the
// park.
func (e *Engine) parkedFrom(source sfsync.System, record string) bool {
	e.parkMu.Lock()
	defer e.parkMu.Unlock()
	return len(e.parked[parkID{source, record}]) > 0
}

// parkedDelete returns the version of the newest delete of record by
// source that waits in the park, or zero for none: received, it came
// before any change of source's that arrives now, whatever the versions
// say (see rememberEcho).
func (e *Engine) parkedDelete(source sfsync.System, record string) sfsync.Version {
	if e.parkedN.Load() == 0 {
		return sfsync.Version{}
	}
	e.parkMu.Lock()
	defer e.parkMu.Unlock()
	var newest sfsync.Version
	for _, w := range e.parked[parkID{source, record}] {
		if w.parkedDeletes && newest.Before(w.parkedVersion) {
			newest = w.parkedVersion
		}
	}
	return newest
}

// parkID names the queue of one record's changes from one source.
type parkID struct {
	source sfsync.System
	record string
}

// parkKey names the queue of w's record and source.
func parkKey(w *work) parkID { return parkID{w.c.Source, w.recordKey()} }

// decided reports whether key has a deciding outcome: on its way to the
// store, or stored (the store claims only deciding outcomes' keys).
func (e *Engine) decided(ctx context.Context, key string) (bool, error) {
	e.pendingMu.Lock()
	n := e.keys[key].deciding
	e.pendingMu.Unlock()
	if n > 0 {
		return true, nil
	}
	return e.st.dedup.Seen(ctx, key)
}

// leftParkCount is how many changes the park has decided so far.
func (e *Engine) leftParkCount() uint64 {
	e.parkMu.Lock()
	defer e.parkMu.Unlock()
	return e.leftPark
}

// A change parked because its target changed the record after the newest
// change of it the engine has seen may wait for a change of that target
// which is itself parked, waiting for this change's system: each waits
// for the other until the wait is over, and the first to go then takes
// the other's record as changed, in every field it does not know, at the
// record's version. But a parked change has been received: its version
// and the fields it set are known, and they explain the target's record
// as well as a decided one would (see versionCache.describe).

// parkedChange is what a parked change tells of its system's record: the
// version of its data and the fields it set. It is nil for a change that
// tells nothing field by field: a delete or undelete, a snapshot (one
// version for every field), a repair (data its source holds already), or one
// without a version.
type parkedChange struct {
	version sfsync.Version
	fields  []string
	hashes  []uint64 // of the values of fields, in their order
}

// noteParked takes what the park tells of w to the other direction's
// decisions; the caller holds parkMu.
func (w *work) noteParked() {
	w.parkedAs = parkedChangeOf(w)
	w.parkedVersion, w.parkedLives, w.parkedEnds = w.c.Version, livesOn(w), deletesOrRestores(w)
	w.parkedRepair = w.it != nil && w.it.repair
	w.parkedDeletes = w.parkedEnds && w.c.Op == sfsync.OpDelete
}

func parkedChangeOf(w *work) *parkedChange {
	c := &w.c
	if (c.Op != sfsync.OpCreate && c.Op != sfsync.OpUpdate) || c.Version.IsZero() || w.it.repair || w.it.snapshot || w.it.settled {
		return nil
	}
	fields := c.Touched()
	hashes := make([]uint64, len(fields))
	for i, f := range fields {
		hashes[i] = dataHash(c, f)
	}
	return &parkedChange{version: c.Version, fields: fields, hashes: hashes}
}

// livesOn reports whether w is its system's own change that leaves the
// record live there, with a version.
func livesOn(w *work) bool {
	switch w.c.Op {
	case sfsync.OpCreate, sfsync.OpUpdate, sfsync.OpUndelete:
	default:
		return false
	}
	return !w.c.Version.IsZero() && w.it != nil && !w.it.repair && !w.it.snapshot && !w.it.settled
}

// deletesOrRestores reports whether w is its system's own delete or undelete,
// with a version.
func deletesOrRestores(w *work) bool {
	return (w.c.Op == sfsync.OpDelete || w.c.Op == sfsync.OpUndelete) && !w.c.Version.IsZero() && w.it != nil && !w.it.repair && !w.it.snapshot && !w.it.settled
}

// targetParked is what the park holds of a record's changes from one
// system: the newest version among them and each field's newest.
type targetParked struct {
	newest sfsync.Version
	fields map[string]sfsync.Version
	hashes map[string]uint64 // of each field's value in its newest change
	// lived is the newest version among the parked changes that leave the
	// record live there (create, update, undelete; not a repair, snapshot
	// or settled change, whose data is not the system's own change), known
	// even where the changes tell nothing field by field: it names the
	// system as the writer of its record's last change (see describe).
	lived sfsync.Version
}

// parkedOf returns what the park holds of record's changes from source,
// or nil when it holds none. Where one of them tells nothing field by field
// and is not a delete or undelete (a snapshot, a settled change:
// the fields' order is then left to waiting, as before), only lived is
// set. A repair is passed over: it changes nothing in its source's record.
func (e *Engine) parkedOf(source sfsync.System, record string) *targetParked {
	if e.parkedN.Load() == 0 {
		return nil
	}
	e.parkMu.Lock()
	defer e.parkMu.Unlock()
	queue := e.parked[parkID{source, record}]
	if len(queue) == 0 {
		return nil
	}
	var lived sfsync.Version
	for _, w := range queue {
		if w.parkedLives && lived.Before(w.parkedVersion) {
			lived = w.parkedVersion
		}
	}
	p := &targetParked{fields: make(map[string]sfsync.Version), hashes: make(map[string]uint64), lived: lived}
	for _, w := range queue {
		pc := w.parkedAs
		if pc == nil && w.parkedRepair {
			// A repair carries its source's data, which that source's
			// record holds already: it changes nothing there, and the
			// source's own changes parked around it still tell what
			// they set.
			continue
		}
		if pc == nil && w.parkedEnds {
			// A delete or undelete sets no field: the record's values
			// stay as the changes before it left them (in its tombstone,
			// or restored), and the others' fields still tell them. It
			// does not explain the record's version (newest): a change
			// decided against the record waits for it to be decided
			// first, since the record it leaves is not the one read.
			continue
		}
		if pc == nil {
			if lived.IsZero() {
				return nil
			}
			return &targetParked{lived: lived}
		}
		if p.newest.Before(pc.version) {
			p.newest = pc.version
		}
		for i, f := range pc.fields {
			if v, ok := p.fields[f]; !ok || v.Before(pc.version) {
				p.fields[f] = pc.version
				p.hashes[f] = pc.hashes[i]
			}
		}
	}
	return p
}

// targetParkedFor returns what the park holds of record's changes from
// dest, the target, for a decision against its live record cur (see
// describe), or nil. A record the target changed after every change of it
// the engine has decided may be explained by the target's changes waiting
// in the park. Their data is the target's newest even where the version
// map explains the record's version already: a later echo of ours, which
// is decided as it arrives, explains it while earlier changes of the
// target still wait in the park, outside the map.
func (e *Engine) targetParkedFor(flows bool, dest sfsync.System, record string, cur sfsync.Record) *targetParked {
	if !flows || !cur.Exists || cur.Deleted {
		return nil
	}
	return e.parkedOf(dest, record)
}
