package sync

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/sfsync/sfsync"
)

// A conflict decided for the target leaves the losing system holding its own
// value, and where the winner's value is not newer than the losing change,
// no event will bring it there: the winner's change went there before and
// was overwritten by the losing edit. So the engine repairs it: it writes
// the target's current state of the fields that lost (or the record itself,
// for a delete that lost or a change to a record the winner deleted) back to
// the losing system, as a change of the winning system, decided by the same
// policy in the other direction, against the losing change's own version
// (see describe's lostAt); a record brought back after its delete lost is
// written whole, without asking the policy again.
//
// The repair is part of the losing change: the change's outcome is held
// until the repair has one, even while the repair waits in the park, so a
// crash in between repeats both.

// repairClient is the origin client of a repair: a requeued dead letter
// keeps it, where the item's repair mark is gone.
const repairClient = "sfsync-repair"

// planRepair works out the repair of w's decision against cur, if any;
// writing says that c is written (in part) to the target, so that the
// record is live there after it.
func (e *Engine) planRepair(w *work, c sfsync.Change, cur sfsync.Record, writing bool) {
	w.repair, w.repairParts, w.repairClaim, w.repairFieldsAt = nil, nil, nil, nil
	lost := w.lost
	if w.it.repair {
		// A repair is not repaired in turn, but for the fields whose
		// target value the record it brings back keeps, and which no
		// other change takes to the source (w.across, see decide): this
		// repair's own repair takes them there, from the record as the
		// target holds it, or held it before its delete. It is a repair,
		// not repaired again.
		lost = w.across
	}
	if len(lost) == 0 || c.Op == sfsync.OpEvent {
		return
	}
	winner, loser := w.route.To, c.Source
	probe := sfsync.Change{Source: winner, Object: c.Object}
	back := e.route(&probe)
	if back == nil || back.To != loser {
		return
	}
	r := sfsync.Change{
		Source: winner, Tenant: c.Tenant, Object: c.Object, RecordID: c.RecordID,
		Key: "repair:" + w.it.c.Key, Origin: sfsync.Origin{Client: repairClient},
	}
	if winner.IsSalesforce() && r.Tenant == "" {
		r.Tenant = e.cfg.tenant
	}
	live := cur.Exists && !cur.Deleted
	if w.it.repair && !live && !(cur.Deleted && writing && len(cur.Fields) > 0) {
		return
	}
	switch {
	case cur.Deleted && writing && c.Op != sfsync.OpDelete && len(cur.Fields) > 0:
		// The change brings the record back, and with it the winner's
		// own values, from its tombstone, of the fields that lost (see
		// resurrect): the loser takes them, as from a live record, each
		// at the version of its data from before the delete. A field
		// the tombstone does not hold is cleared, as below.
		whole, parts := e.lostFieldsRepair(w, c, beforeDelete(cur), r, lost)
		if whole == nil {
			return
		}
		r, w.repairClaim, w.repairFieldsAt, w.repairParts = whole.c, &whole.claim, whole.fieldsAt, parts
	case (!cur.Exists || (cur.Deleted && writing)) && c.Op != sfsync.OpDelete:
		// The change creates the record in the winner, or brings it back,
		// without the fields that lost: the winner never set them (or
		// not since the record came back), so neither may the loser.
		// That absence has no version of the winner's (c's is the
		// loser's, on its own clock): claimed at one, it would make the
		// winner's first real value of the field look older than it.
		r.Op = sfsync.OpUpdate
		r.Fields = map[string]any{}
		for _, f := range w.lost {
			setValue(&r, f, nil)
		}
	case cur.Deleted && c.Op != sfsync.OpDelete:
		// The winner deleted the record; the loser still has it. The
		// delete has a key of its own: the same losing change, decided
		// before the delete (a crash lost its outcome), repaired the
		// loser's fields under the plain key, and a target that keeps
		// idempotency keys would take the delete for that write again.
		r.Key += deleteRepairSuffix
		r.Op, r.Version = sfsync.OpDelete, cur.Version
		if len(cur.Fields) > 0 {
			e.planTombstoneFields(w, c, cur, r)
		}
	case live && c.Op == sfsync.OpDelete:
		// The loser deleted a record the winner keeps: bring it back whole.
		r.Op, r.Version = sfsync.OpCreate, cur.Version
		r.Fields = map[string]any{}
		for _, f := range e.dataFields(c.Object, cur.Fields) {
			if _, versioned := cur.FieldVersions[f]; !versioned && cur.Fields[f] == nil && !e.versions.hasData(c.RecordKey(), winner, f) && w.loserFills(c, cur, f) {
				// Empty in the winner and never set there, and the policy
				// lets the loser fill it: the loser's own value, if its
				// record keeps one, stays. (Where the winner owns the
				// field, its emptiness is its value, and is written.)
				// A change of the winner's own that the map holds as lost
				// or dead-lettered set it, though no data of it was ever
				// synced: the emptiness is that change's value, at its
				// version (dataOfValue, below), and is written. Left to
				// the loser, the loser's value from its tombstone went
				// back in with this repair, which the loser stamps as the
				// winner's at the repair's version; the winner's change,
				// requeued, was then compared with that stamp (its own
				// version: a tie) instead of the loser's older data, lost,
				// and the systems parted (seed 3521).
				continue
			}
			if v, ok := cur.FieldVersions[f]; ok {
				who := cur.LastWriter[f]
				if who == "" {
					who = winner
				}
				w.repairFieldsAt = append(w.repairFieldsAt, fieldData{field: f, sys: who, version: v})
			} else if v, who, ok := e.versions.dataOfValue(c.RecordKey(), winner, f, cur.Fields[f]); ok {
				// A winner that versions only whole records shows none:
				// the version map knows the field's data, where it holds
				// that value, synced or the winner's own that lost. (The
				// record's version would make every field look as new as
				// its newest change.)
				w.repairFieldsAt = append(w.repairFieldsAt, fieldData{field: f, sys: who, version: v})
			} else if e.leftToWinnersEvent(c, cur, winner, f) {
				continue
			}
			setValue(&r, f, cur.Fields[f])
		}
	case live:
		whole, parts := e.lostFieldsRepair(w, c, cur, r, lost)
		if whole == nil {
			return
		}
		r, w.repairClaim, w.repairFieldsAt, w.repairParts = whole.c, &whole.claim, whole.fieldsAt, parts
	default:
		return
	}
	w.repair, w.repairLostAt = &r, c.Version
	// Hold the losing change's outcome until the repair has one.
	if w.it.hold == nil {
		w.it.hold = new([]result)
		w.holdsForRepair = true
	}
}

// leftToWinnersEvent reports whether a record brought back to the loser of
// c, a delete that lost to the winner's live record cur, leaves out field:
// the winner's value is one the version map never versioned, while it
// holds other data of the field, so a change of the winner's the engine
// has not decided set it (its outcome lost to a crash, say, or its event
// still on its way), at a version no one knows: the record's version is
// only its upper bound. Claimed there, it would beat the loser's own data
// of the field, newer perhaps, and make that change's own event look
// stale (seed 102518: an older Salesforce edit overwrote the ERP's newer
// create in the record brought back). The loser keeps its own value, and
// the winner's event decides the field against it, as for a live record.
// Only where the winner's changes reach the engine and none was lost.
func (e *Engine) leftToWinnersEvent(c sfsync.Change, cur sfsync.Record, winner sfsync.System, field string) bool {
	if !e.flowsFrom(winner, c.Object) || e.changesLost(winner, c.Object, cur.Version) {
		return false
	}
	seen, known := e.versions.knowsValue(c.RecordKey(), winner, field, cur.Fields[field])
	return known && !seen
}

// requeuedRecordRepair says whether c, w's change, is a repair requeued
// from the dead letters that brings a record back to the loser. It was
// built from the winner's record as it was then, which may have lacked
// fields the winner has since (its own create was still on its way, or
// dead-lettered too): rejected for them once, it would be on every
// requeue. The record it brings back is the winner's as it is now (see
// resurrect), over the values the repair kept (those newer data
// superseded are gone, see decide).
func (w *work) requeuedRecordRepair(c *sfsync.Change) bool {
	return c.Op == sfsync.OpCreate && w.it.requeue != nil && c.Origin.Client == repairClient
}

// planTombstoneFields adds to a repair r that deletes the loser's record,
// because the winner deleted it (cur, its tombstone, holding its values
// from before the delete, as Salesforce's Recycle Bin does), parts written
// before it with the winner's values of the fields that lost on their own.
//
// The delete may lose in its turn (a policy that keeps the loser's
// record), and the loser would keep values that lost, which a later
// bring-back of the record takes to the winner. Only fields that lost on
// their own count, such as an owner's: those the policy keeps from the
// winner's record as it was before the delete. The others lost only to
// the delete, and stand if the record comes back. Each part is claimed at
// the version of its data from before the delete (none where that is not
// known): the tombstone's own version, the delete's, would make the
// delete look older than them.
func (e *Engine) planTombstoneFields(w *work, c sfsync.Change, cur sfsync.Record, r sfsync.Change) {
	if w.route.Policy == nil {
		return
	}
	before := beforeDelete(cur)
	probe := w.c.Clone()
	dropFields(&probe, without(probe.Touched(), w.lost))
	if probe.Op == sfsync.OpCreate {
		probe.Op = sfsync.OpUpdate
	}
	d := w.route.Policy.Decide(probe, before)
	var merit []string
	for _, f := range w.lost {
		if !d.Apply || !slices.Contains(d.Keep, f) {
			merit = append(merit, f)
		}
	}
	if len(merit) == 0 {
		return
	}
	// The parts' keys say what they are (see beforeDeleteKey), so that a
	// part requeued from the dead letters is known as one.
	fieldsOf := r
	fieldsOf.Key = r.Key + beforeDeleteSuffix
	if fields, parts := e.lostFieldsRepair(w, c, before, fieldsOf, merit); fields != nil {
		w.repairParts = append(parts, *fields)
		for i := range w.repairParts {
			w.repairParts[i].beforeDelete = true
		}
	}
}

// loserFills reports whether the route's policy keeps a value of field
// from the losing change c's system against the winner's record cur: a
// field the winner lacks that the loser may fill. The value is a stand-in
// (the loser's own is in its tombstone, not read here): a policy that
// compares contents decides a tie by it, either way.
func (w *work) loserFills(c sfsync.Change, cur sfsync.Record, field string) bool {
	if w.route.Policy == nil {
		return false
	}
	probe := sfsync.Change{Source: c.Source, Tenant: c.Tenant, Object: c.Object, RecordID: c.RecordID,
		Op: sfsync.OpUpdate, Version: c.Version, Fields: map[string]any{field: "\x00"}}
	d := w.route.Policy.Decide(probe, cur)
	return d.Apply && slices.Contains(d.Keep, field)
}

// deleteRepairSuffix ends the key of a repair that deletes the loser's
// record.
const deleteRepairSuffix = "/delete"

// beforeDeleteSuffix ends the key of the last part of a repair's fields
// written before it deletes the loser's record; its other parts' keys add
// "/N" to it.
const beforeDeleteSuffix = "/fields"

// beforeDeleteKey reports whether key is one of a part of a repair written
// before it deletes the loser's record (see planTombstoneFields).
func beforeDeleteKey(key string) bool {
	if !strings.HasPrefix(key, "repair:") {
		return false
	}
	if strings.HasSuffix(key, beforeDeleteSuffix) {
		return true
	}
	i := strings.LastIndex(key, beforeDeleteSuffix+"/")
	if i < 0 {
		return false
	}
	n := key[i+len(beforeDeleteSuffix)+1:]
	return n != "" && strings.Trim(n, "0123456789") == ""
}

// beforeDelete is a tombstone taken as the live record it was before its
// delete: its fields at the versions of their data from before the delete
// where known, and none otherwise (the tombstone's own version is the
// delete's).
func beforeDelete(tomb sfsync.Record) sfsync.Record {
	before := tomb
	before.Deleted = false
	before.Version, before.FieldVersions = sfsync.Version{}, map[string]sfsync.Version{}
	for f, v := range tomb.FieldVersions {
		if v.Before(tomb.Version) {
			before.FieldVersions[f] = v
		}
	}
	return before
}

// lostFieldsRepair is the repair of the fields lost of c that lost to a
// live record cur of the winner: r (its identity) with the winner's values
// of them. Each field is written with the version of the winner's data of it:
// one version for all would claim an old value at the newest field's time,
// and beat a newer edit of the loser with it (a target that versions only
// whole records has fields of many ages). So fields of older versions go
// in parts of their own, written before the newest, each under a
// key of its own. The policy decides a part against the loser with the
// losing change's version at least (the loser's data there is that
// change's); the version map and the target take its data as the
// winner's, at the winner's own version of it (claim), never at the
// loser's, which is another system's clock. A field whose value there the
// winner shows as another system's data (synced from it, the loser's own
// perhaps) is remembered as that system's, at its version (fieldsAt), not
// as the winner's: claimed for the winner on another clock, it would make
// the winner's own later change of the field look stale. newest, the last
// part, is nil when no field needs a repair.
func (e *Engine) lostFieldsRepair(w *work, c sfsync.Change, cur sfsync.Record, r sfsync.Change, lost []string) (newest *repairPart, parts []repairPart) {
	type partKey struct{ at, claim sfsync.Version }
	byKey := map[partKey]*repairPart{}
	for _, f := range lost {
		v, held := cur.Fields[f]
		// A field the winner never set is cleared without a version (see
		// planRepair). A winner that shows every field, null where never
		// set (Salesforce), holds it all the same: empty, with no version
		// or writer of its own (see describe), and no data of it in the
		// map, it is that absence too. The record's version is no version
		// of it: that is the record's last change, which may be our write
		// of the loser's create, on the loser's clock. Claimed there, the
		// winner's first real value of the field, on its own clock, looked
		// older than the repair's emptiness, and was dropped as stale: the
		// loser kept the field empty (seed 9194).
		if held && e.neverSet(c.RecordKey(), r.Source, cur, f) {
			held = false
		}
		var k partKey
		if held {
			if fv, ok := cur.FieldVersions[f]; ok && c.Version.Before(fv) && cur.LastWriter[f] != c.Source && !e.versions.delivered(c.RecordKey(), r.Source, f, fv) && !e.versions.carriedFirst(c.RecordKey(), r.Source, c.Source, f) && !e.versions.echoedValue(c.RecordKey(), c.Source, f, v) {
				// A newer value of the winner is on its way to the loser as
				// the winner's own change event. (Only a version of the
				// field says so: a record's version may stand for a change
				// of other fields, and the winner's value of this one would
				// then never reach the loser.) Not where our write made the
				// record in the loser and no value of the winner's of the
				// field has been decided: that event is the create our write
				// carried, which finds its record there and writes nothing
				// again (its outcome lost to a crash, or dead-lettered).
				// Nor where the loser's newest echo of our writes carried
				// that value: a write of ours took it there already, its
				// outcome still to come (a lost acknowledgement, retried),
				// and the losing change came after it. Nor where the
				// winner shows the loser as the field's writer: that
				// version is a write of ours to the winner, which carried
				// the winner's own value along (see carriedAlong), not a
				// change of the winner's with an event to come.
				continue
			}
			k.claim = cur.FieldVersion(f)
			k.at = c.Version
			if k.at.Before(k.claim) {
				k.at = k.claim
			}
		}
		p, ok := byKey[k]
		if !ok {
			p = &repairPart{claim: k.claim, c: r}
			p.c.Op, p.c.Version, p.c.Fields = sfsync.OpUpdate, k.at, map[string]any{}
			byKey[k] = p
		}
		setValue(&p.c, f, v)
		if fv, versioned := cur.FieldVersions[f]; held && versioned {
			if who, known := cur.LastWriter[f]; known && who != r.Source {
				p.fieldsAt = append(p.fieldsAt, fieldData{field: f, sys: who, version: fv})
			}
		}
	}
	if len(byKey) == 0 {
		return nil, nil
	}
	keys := slices.SortedFunc(maps.Keys(byKey), func(a, b partKey) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		return a.claim.Compare(b.claim)
	})
	for i, k := range keys[:len(keys)-1] {
		p := byKey[k]
		p.c.Key = fmt.Sprintf("%s/%d", r.Key, i+1)
		parts = append(parts, *p)
	}
	return byKey[keys[len(keys)-1]], parts
}

// neverSet reports whether winner's record cur shows field empty as never
// set: null, with no version or writer of its own (describe leaves a field
// so that no change of the winner's ever set, though every change of its
// reaches the engine), and no data of the field in the map, synced or the
// winner's own that lost or was dead-lettered (see hasData).
func (e *Engine) neverSet(record string, winner sfsync.System, cur sfsync.Record, field string) bool {
	if v, held := cur.Fields[field]; !held || v != nil {
		return false
	}
	if _, versioned := cur.FieldVersions[field]; versioned {
		return false
	}
	if _, written := cur.LastWriter[field]; written {
		return false
	}
	return !e.versions.hasData(record, winner, field)
}

// repairPart is a part of a repair whose data is older than the repair's
// (see planRepair), with the winner's version of that data.
type repairPart struct {
	c     sfsync.Change
	claim sfsync.Version
	// fieldsAt are its fields whose data is another system's than the
	// winner's, at their versions (see item.fieldsAt).
	fieldsAt []fieldData
	// beforeDelete marks a part of a repair that deletes the loser's
	// record (see planTombstoneFields): its values are for that record
	// while it stands, never a reason to bring it back.
	beforeDelete bool
}

// droppedData returns the fields w dropped that the change's system holds
// as its own data at the change's version, as claimed (see rememberPartly):
// all of them, but for a repair that claims no version. Its values are the
// winner's data at versions of their own, older than the repair's (which
// is the version of the change it corrects): held there at the repair's,
// a value the winner set long before would make the winner's own later
// change of it look stale when its event comes.
func (w *work) droppedData() []string {
	if w.it.repair && w.it.claim == nil {
		return nil
	}
	return w.dropped
}

// claimed is c as the version map takes it, and as it is written, when
// its data is not of its own version (see claim).
//
// A resync's source is the winner, but its data and version are the
// resynced change's, of the system it writes them back to, on that
// system's clock (see planResync): that system's data is what both
// systems hold. Taken as the winner's own, at a version of another
// clock, it would make the winner's own later changes look older than
// data it never made, and they would be dropped as stale (seed 96237).
func (w *work) claimed(c *sfsync.Change) *sfsync.Change {
	v, claimed := w.claim(c)
	resynced := w.it.resync && c.Source != w.route.To
	if !claimed && !resynced {
		return c
	}
	cc := *c
	if claimed {
		cc.Version = v
	}
	if resynced {
		cc.Source = w.route.To
	}
	return &cc
}

// claim returns the version c's data is written and remembered at when it
// is not c's own version: for a repair, the winner's version of its data
// (see planRepair); for a backfill's row read after its stream was pinned,
// the pin's time when the row's version is later (see item.pinned).
func (w *work) claim(c *sfsync.Change) (sfsync.Version, bool) {
	if w.it.claim != nil {
		return *w.it.claim, c.Version.Compare(*w.it.claim) != 0
	}
	if w.it.pinned.IsZero() || (c.Op != sfsync.OpUpdate && c.Op != sfsync.OpCreate) {
		return sfsync.Version{}, false
	}
	if pin := (sfsync.Version{Time: w.it.pinned}); pin.Before(c.Version) {
		return pin, true
	}
	return sfsync.Version{}, false
}

func setValue(c *sfsync.Change, field string, v any) {
	if v == nil {
		if !slices.Contains(c.Nulled, field) {
			c.Nulled = append(c.Nulled, field)
		}
		return
	}
	c.Fields[field] = v
}

// runRepair writes w's repair through the pipeline, then releases w's
// outcome. A stopping engine leaves both without an outcome.
func (e *Engine) runRepair(ctx context.Context, vc *versionCache, w *work) {
	if r := w.repair; r != nil && ctx.Err() == nil {
		w.repair = nil
		// A repair that writes back a change our delete removed with the
		// record (see planResync) brings the record back in the loser,
		// and so do all its parts: the tombstone there is that delete's,
		// which the change beat. That holds whatever else the repair
		// carries: the winner's values of fields that lost when the
		// record came back there (an owner's, say), in it or in parts
		// of their own. Only a repair that was the resync alone counted
		// so; the others met our delete's tombstone as the loser's own
		// delete, and lost to it (seed 4176).
		undoes := len(w.resynced) > 0 && w.resyncUndoes
		for _, p := range w.repairParts {
			if ctx.Err() != nil {
				break
			}
			claim := p.claim
			e.processBatch(ctx, vc, []*item{{c: p.c, repair: true, lostAt: w.repairLostAt, claim: &claim, fieldsAt: p.fieldsAt, beforeDelete: p.beforeDelete, undoesDelete: undoes}})
		}
		w.repairParts = nil
		rep := &item{c: *r, repair: true, lostAt: w.repairLostAt, claim: w.repairClaim, fieldsAt: w.repairFieldsAt, resync: len(w.resynced) > 0 && len(w.resynced) == len(r.Touched()), undoesDelete: undoes}
		if rep.resync {
			rep.resyncFrom = w.resyncFrom
		}
		w.repairClaim, w.repairFieldsAt = nil, nil
		if w.holdsForRepair {
			// The repair may wait in the park for the loser's event: the
			// losing change's outcome goes out after the repair's, when
			// that comes, so that a stop before it repeats both.
			// Meanwhile its held outcome counts as deciding, so a
			// redelivery of it is a duplicate (see Engine.seen).
			rep.after = w.it.hold
			w.it.hold, w.holdsForRepair = nil, false
		}
		e.processBatch(ctx, vc, []*item{rep})
		return
	}
	if w.holdsForRepair && ctx.Err() == nil {
		held := *w.it.hold
		w.it.hold, w.holdsForRepair = nil, false
		e.emitAll(held)
	}
}

// resurrect turns an update that the policy applies to a record the target
// deleted, or does not have (its create failed, or is still on its way),
// into a create of the whole record as its source holds it: an update
// carries only the fields it changed, and the record it would bring (back)
// needs all of them; the bool reports that it did. Without a way to read
// the source, or a live record there, the change is written as it is. A
// requeued repair that brings a record back is filled the same way (see
// requeuedRecordRepair).
//
// A field the target changed itself, after the engine last synced it and
// before the delete, keeps the target's value: that edit's own event
// decides it. The fields taken from the source are not claimed at the
// update's version (see work.borrowed).
//
// It reports wait when the change is to wait for the target's change
// event first; w.lost may then hold fields of this attempt, which the
// caller takes back.
func (e *Engine) resurrect(ctx context.Context, vc *versionCache, w *work, c sfsync.Change, cur sfsync.Record) (_ sfsync.Change, brought, wait bool) {
	w.unheld = w.unheld[:0]
	probe := sfsync.Change{Source: w.route.To, Object: c.Object}
	back := e.route(&probe)
	if back == nil || back.To != c.Source || back.State == nil {
		return c, false, false
	}
	recs, err := e.readState(ctx, back, []*work{{c: c}})
	if err != nil {
		e.log.Warn("sfsync: reading the source's record to bring a deleted record back failed; writing the update alone", "key", c.Key, "err", err)
		return c, false, false
	}
	src, ok := recs[c.RecordID]
	if !ok || !src.Exists || (src.Deleted && !e.crossing.deleteCrossed(&w.c, w.it.crossing)) {
		// (A record a delete of ours removed with this very change in
		// it is brought back from its tombstone: the delete crossed
		// the change, which wins, and the resync brings the record
		// back in the source too; see crossings.)
		return c, false, false
	}
	whole := c.Clone()
	whole.Op = sfsync.OpCreate
	if whole.Fields == nil {
		whole.Fields = map[string]any{}
	}
	// The fields the policy kept from the target stay out: taken along,
	// they would be written after all.
	decided := slices.Concat(w.lost, w.dropped, w.held)
	// Whether the target's events up to its delete are still to be
	// decided: the delete's is not, and none of them was lost.
	eventsComing := e.flowsFrom(w.route.To, c.Object) && !e.changesLost(w.route.To, c.Object, cur.Version) &&
		!vc.explainsRecord(c.RecordKey(), w.route.To, cur.Version)
	along := sfsync.Change{Source: c.Source, Tenant: c.Tenant, Object: c.Object, RecordID: c.RecordID, Op: c.Op, Version: c.Version, Origin: c.Origin, Fields: map[string]any{}}
	received := e.receivedFrom(w.route.To, c.RecordKey(), cmp.Or(cur.Object, c.Object), cur.ID)
	for _, f := range e.dataFields(c.Object, src.Fields) {
		if _, set := whole.Value(f); set || slices.Contains(decided, f) || vc.changedAfterSync(c.RecordKey(), w.route.To, f, cur, received) {
			continue
		}
		if e.lostChangeOverTombstone(vc, w, &c, f, src, cur) {
			// The source's value is its own change that lost, to the
			// target's value or to its delete, and the target's value,
			// which the tombstone holds, wins over it: it stays
			// (keepTombstoneValues), and the repair takes it to the
			// source. (The repair of a change that lost to the delete
			// deletes, and carries no value; the target's event of it
			// was decided before the source's change.)
			w.kept = append(w.kept, f)
			w.unheld = append(w.unheld, f)
			if !slices.Contains(w.lost, f) {
				w.lost = append(w.lost, f)
			}
			continue
		}
		if eventsComing && vc.unsyncedOverSynced(c.RecordKey(), w.route.To, f, cur.Fields[f], src.Fields[f]) && e.waitsForTarget(w, w.route.To, c.Object, cur.ID) {
			// The target changed the field after it last synced it and
			// before its delete, and that change's event is on its way:
			// the change waits for it to be decided first, as for a live
			// record (see decide). Decided here at the tombstone's
			// version, that edit's upper bound, it would beat a newer
			// value of the source's (on the source's clock), and the
			// repair would take it to the source for good. (After the
			// wait, the event taken for lost, it is decided so.)
			return c, false, true
		}
		if e.tombstoneEditStands(vc, w, &c, f, src, cur) {
			// Kept from the tombstone by keepTombstoneValues.
			w.kept = append(w.kept, f)
			if vc.unsyncedOverSynced(c.RecordKey(), w.route.To, f, cur.Fields[f], src.Fields[f]) && !slices.Contains(w.lost, f) {
				// No event of the target's may ever bring that edit to
				// the source: the repair takes it there.
				w.lost = append(w.lost, f)
			}
			continue
		}
		if vc.unseenTombstoneEdit(c.RecordKey(), w.route.To, f, src, cur) {
			// The target changed the field before its delete, and the
			// engine has not seen that change yet (nor is it one over
			// synced data, decided above): its event, on its way,
			// decides the field against the source's value, the same
			// way in both directions. Taken along, the source's value
			// would overwrite it in the record brought back first.
			w.kept = append(w.kept, f)
			w.unheld = append(w.unheld, f)
			continue
		}
		setValue(&along, f, src.Fields[f])
	}
	w.borrowed, w.borrowedAt = w.borrowed[:0], w.borrowedAt[:0]
	taken := along.Touched()
	if w.route.Policy != nil && len(taken) > 0 {
		// The fields taken along are the source's data as much as the
		// update's own: the policy decides them as well (an owner's field
		// comes only from its owner), and those it keeps from the target
		// lost, like the update's own.
		d := w.route.Policy.Decide(along, cur)
		keep := taken
		if !d.Apply {
			keep = nil
		} else {
			keep = slices.DeleteFunc(slices.Clone(taken), func(f string) bool { return !slices.Contains(d.Keep, f) })
		}
		for _, f := range taken {
			if !slices.Contains(keep, f) && !slices.Contains(w.lost, f) {
				w.lost = append(w.lost, f)
			}
		}
		taken = keep
	}
	for _, f := range taken {
		v, _ := along.Value(f)
		setValue(&whole, f, v)
		w.borrow(f, src, c.Source)
		if _, versioned := src.FieldVersions[f]; !versioned {
			// A source that versions only whole records: the map may know
			// the data of the value taken along (see planRepair).
			if at, who, ok := vc.dataOfValue(c.RecordKey(), c.Source, f, v); ok {
				w.borrowedAt = append(w.borrowedAt, fieldData{field: f, sys: who, version: at})
			}
		}
	}
	e.keepTombstoneValues(w, &whole, cur)
	return whole, true, false
}

// dataFields lists, sorted, the fields of a record read from a system that
// are data both systems hold: the mapped ones where object has a mapping,
// never ids and audit stamps.
func (e *Engine) dataFields(object string, fields map[string]any) []string {
	var mapped map[string]bool
	if m := e.maps.bySF[object]; m != nil {
		mapped = map[string]bool{}
		for _, f := range m.Fields {
			mapped[f.Salesforce] = true
		}
	}
	var out []string
	for _, f := range sortedKeys(fields) {
		if (mapped != nil && !mapped[f]) || e.cfg.ignoredFields[f] || f == "Id" {
			continue
		}
		out = append(out, f)
	}
	return out
}
