package sync

import (
	"slices"

	"github.com/sfsync/sfsync"
)

// Tombstones. A record brought back in a target that deleted it (an update
// newer than the delete, or the repair of a delete that lost) is written
// whole, and the target's tombstone holds values of its own from before
// the delete. These rules say which of them stay: the target's data that
// the source does not hold as synced data, where the policy gives the
// target the field or its value wins on its merit.

// leaveOutUnsyncedKept takes out of d, the decision of c, a repair's
// create that brings back a record whose delete lost, the fields the
// route's policy would keep from the target (the deleting side owns them)
// whose values in c were never synced. The record comes back whole,
// without asking the policy, so that those fields keep the target's data,
// which its delete took along: c's value of such a field is that data when
// the version map has versioned it. Otherwise it is the source's own edit
// of a field it has no say in, which loses when its event comes: the
// target keeps its own value, from its tombstone where that holds it (see
// keepTombstoneValues), none where not.
func (e *Engine) leaveOutUnsyncedKept(vc *versionCache, w *work, c *sfsync.Change, record string, touched []string, cur sfsync.Record, d *sfsync.Decision) {
	if w.route.Policy == nil || w.route.State == nil {
		return
	}
	pd := w.route.Policy.Decide(c.Clone(), cur)
	if !pd.Apply && cur.Exists && cur.Deleted {
		// The policy keeps the target's delete against the record (a
		// deleting side that wins the record as a whole), yet the delete
		// lost: which fields are the target's is then a question about
		// the record as it was before the delete, as for the fields of a
		// repair's delete (see planTombstoneFields).
		probe := c.Clone()
		if probe.Op == sfsync.OpCreate {
			probe.Op = sfsync.OpUpdate
		}
		pd = w.route.Policy.Decide(probe, beforeDelete(cur))
	}
	if !pd.Apply && cur.Exists && !cur.Deleted {
		// The record is back in the target already: a newer change of the
		// winner's brought it back before this repair was decided (the
		// delete waited for that change's event, say), written at the
		// version this repair carries. The policy then keeps the target's
		// record against c as a whole (a tie with that write), which says
		// nothing of whose the fields are: every field is the target's as
		// it stands. A value of c's that was never synced is the source's
		// own edit that the change bringing the record back left out (of a
		// field the target owns, say), which loses when its event comes:
		// written here, whole, it reached the target anyway, and that
		// event's repair took the owner's value to the source only (seed
		// 7347). Synced values are still written, as for a tombstone.
		pd = sfsync.Decision{Apply: true, Dropped: pd.Dropped}
	}
	if !pd.Apply {
		return
	}
	var out []string
	for _, f := range touched {
		if slices.Contains(pd.Keep, f) {
			continue
		}
		if v, _ := c.Value(f); vc.syncedValue(record, f, v) {
			continue
		}
		out = append(out, f)
		if d.Dropped == nil {
			d.Dropped = map[string]string{}
		}
		why := pd.Dropped[f]
		if why == "" {
			why = "the policy keeps it from the source"
		}
		d.Dropped[f] = "the target's own data (" + why + "), and this value of it was never synced"
	}
	d.Keep = without(slices.Clone(d.Keep), out)
}

// tombstoneEditStands reports whether the target's tombstone cur holds,
// in field, an edit of the target's own that the source src has not seen,
// and that the policy keeps against src's value. The target changed the
// field after it last reached src when src holds the target's own data of
// it (src names the target as its writer, or the version map says the
// data both systems hold is the target's) and the tombstone holds
// something else, or when the target's newest change of the field was
// dead-lettered and nothing decided it since, or when the tombstone holds
// a value the engine never synced over the source's synced one (see
// unsyncedOverSynced). A record brought back with
// src's value would lose that edit, which its requeue or its event then
// takes to src: the two systems would part. The edit is decided at the
// dead letter's version, else at its field version where cur has one,
// else at the delete's: it was made before the delete.
func (e *Engine) tombstoneEditStands(vc *versionCache, w *work, c *sfsync.Change, field string, src, cur sfsync.Record) bool {
	dest := w.route.To
	if w.route.Policy == nil || w.route.State == nil || !cur.Deleted || !keptValue(cur, field) || sameValue(src.Fields[field], cur.Fields[field]) {
		return false
	}
	sv, held := src.FieldVersions[field]
	who, named := src.LastWriter[field]
	vc.mu.Lock()
	rv := vc.get(c.RecordKey())
	if !named {
		sv, who, held = rv.newest(field)
	}
	dead, pending := rv.version(dest, deadPrefix+field)
	if applied, ok := rv.version(dest, field); ok && !applied.Before(dead) {
		pending = false
	}
	vc.mu.Unlock()
	if !held {
		return false
	}
	tv, ok := cur.FieldVersions[field]
	if !ok || cur.LastWriter[field] != dest {
		tv = cur.Version
	}
	switch {
	case pending:
		tv = dead
	case vc.unsyncedOverSynced(c.RecordKey(), dest, field, cur.Fields[field], src.Fields[field]):
	case who != dest || !sv.Before(tv):
		return false
	}
	return keepsTargetEdit(w, c, field, cur.Fields[field], tv, liveHolding(c, field, src.Fields[field], sv, who))
}

// lostChangeOverTombstone reports whether the source's value of field in
// src, to be taken along into a record brought back, is the source's own
// change that lost its conflict (no later change of the source's was
// applied), over the value the target's tombstone cur holds, which wins on
// its merit under the policy.
func (e *Engine) lostChangeOverTombstone(vc *versionCache, w *work, c *sfsync.Change, field string, src, cur sfsync.Record) bool {
	if w.route.Policy == nil || w.route.State == nil || !cur.Deleted || !keptValue(cur, field) || sameValue(src.Fields[field], cur.Fields[field]) {
		return false
	}
	record := c.RecordKey()
	if !vc.ownChangeLost(record, c.Source, field) {
		return false
	}
	probe := sfsync.Change{Source: c.Source, Tenant: c.Tenant, Object: c.Object, RecordID: c.RecordID, Op: sfsync.OpUpdate, Version: c.Version, Fields: map[string]any{}}
	setValue(&probe, field, src.Fields[field])
	return e.targetValueWins(vc, w, &probe, record, field, cur)
}

// unseenTombstoneEdit reports whether the target's tombstone cur holds a
// value of field, other than the source's in src, that the version map
// never held, while the map holds values of the field and does not explain
// the target's record version: a change of the target's, before its
// delete, whose event the engine has not decided yet. It tells only for a
// target that does not version the field (Salesforce): where cur has the
// field's version, changedAfterSync tells, by versions, and a change of
// the target's that was decided already (and lost) is not unseen for a
// value the map did not hash.
func (vc *versionCache) unseenTombstoneEdit(record string, target sfsync.System, field string, src, cur sfsync.Record) bool {
	if target == "" || !cur.Deleted || !keptValue(cur, field) || sameValue(src.Fields[field], cur.Fields[field]) {
		return false
	}
	if _, versioned := cur.FieldVersions[field]; versioned {
		return false
	}
	if seen, known := vc.knowsValue(record, target, field, cur.Fields[field]); seen || !known {
		return false
	}
	vc.mu.Lock()
	defer vc.mu.Unlock()
	// The tombstone's version is its delete's, which explains none of
	// its values.
	return !vc.get(record).explainsValues(target, cur.Version)
}

// unsyncedOverSynced reports whether the target's value of field in its
// tombstone is one the version map never versioned (while it versions
// others of the field), over the source's value, which both systems held:
// the target changed the field after it last synced it and before its
// delete, and that change's event never came (lost past retention) or is
// still on its way. The change is decided at the tombstone's version, its
// upper bound, which is after the source's synced data.
func (vc *versionCache) unsyncedOverSynced(record string, target sfsync.System, field string, tomb, src any) bool {
	seen, known := vc.knowsValue(record, target, field, tomb)
	return !seen && known && vc.syncedValue(record, field, src)
}

// keepAbsentFromWinner marks as kept from the target (w.kept, and w.unheld:
// the winner never held them) the fields of the target's tombstone cur
// that c, a repair's create built from the winner's record as the winner
// holds it, does not carry at all: the winner's record has no such field,
// it never had a value there. The record brought back keeps the target's
// own value from before its delete, as an undelete would, where a create
// of only what the winner holds would leave it empty (keepTombstoneValues
// sets them). A repair is not repaired in turn: the winner gets the value
// by the target's own change, dead-lettered or on its way, if any. Only
// where the policy lets the target fill the field: a field the winner owns
// is empty there, and its emptiness is its value, written as such (as
// planRepair writes a winner's empty field the loser may not fill).
func (e *Engine) keepAbsentFromWinner(w *work, c *sfsync.Change, cur sfsync.Record) {
	if !cur.Deleted || c.Op != sfsync.OpCreate {
		return
	}
	decided := slices.Concat(w.lost, w.dropped, w.held, w.kept)
	for _, f := range e.dataFields(c.Object, cur.Fields) {
		if _, set := c.Value(f); set || slices.Contains(decided, f) {
			continue
		}
		if !w.targetFills(c, f) {
			setValue(c, f, nil)
			continue
		}
		w.kept = append(w.kept, f)
		if !slices.Contains(w.unheld, f) {
			w.unheld = append(w.unheld, f)
		}
	}
}

// keepTombstoneValues adds to c, a create that brings back a record the
// target deleted, the target's own values from before its delete of the
// fields the policy kept from it, where its tombstone cur holds them
// (Salesforce's Recycle Bin): a record brought back by a create has only
// what is written, where an undelete would have restored them. They are
// the target's data, and the version map does not claim them at c's
// version (see work.borrowed).
func (e *Engine) keepTombstoneValues(w *work, c *sfsync.Change, cur sfsync.Record) {
	if !cur.Deleted || c.Op != sfsync.OpCreate {
		return
	}
	kept := slices.Concat(w.lost, w.dropped, w.held, w.kept)
	for _, f := range e.dataFields(c.Object, cur.Fields) {
		if _, set := c.Value(f); set || !slices.Contains(kept, f) {
			continue
		}
		if c.Fields == nil {
			c.Fields = map[string]any{}
		}
		setValue(c, f, cur.Fields[f])
		w.borrow(f, cur, w.route.To)
	}
}

// targetFills reports whether the route's policy keeps a value of field
// from the target against the winner's record as the repair c carries it,
// where that record has no such field: a field the target may fill. The
// value is a stand-in (the target's own is in its tombstone), as in
// loserFills. With no policy the target's value stays, as an undelete
// would keep it.
func (w *work) targetFills(c *sfsync.Change, field string) bool {
	if w.route.Policy == nil {
		return true
	}
	probe := sfsync.Change{Source: w.route.To, Tenant: c.Tenant, Object: c.Object, RecordID: c.RecordID,
		Op: sfsync.OpUpdate, Version: c.Version, Fields: map[string]any{field: "\x00"}}
	winner := sfsync.Record{Object: c.Object, ID: c.RecordID, Exists: true, Fields: c.Fields, Version: c.Version}
	d := w.route.Policy.Decide(probe, winner)
	return d.Apply && slices.Contains(d.Keep, field)
}
