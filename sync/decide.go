package sync

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/sfsync/sfsync"
)

// decide is the write-back decision for one change: ordering, the conflict
// policy and no-op detection. It returns the change to write (restricted to
// the fields that may be written) or the final result.
//
// It asks to wait (and try again) when the target changed the record after
// the newest change of it the engine has seen: deciding per field needs to
// know which fields that change touched, and its event is on its way.
//
// It completes cur with what the version map knows (see describe).
func (e *Engine) decide(vc *versionCache, w *work, cur *sfsync.Record, known bool) (_ sfsync.Change, _ *result, wait bool) {
	// c shares w.c's maps and slices until it first changes them (own): a
	// change that is written whole, or not at all, needs no copy, and w.c
	// must stay as it was when the decision is to wait or not to write.
	c, owned := w.c, false
	own := func() {
		if !owned {
			c, owned = c.Clone(), true
		}
	}
	it, dest := w.it, w.route.To
	w.dropped, w.held, w.kept, w.shown, w.across = nil, nil, nil, nil, nil
	it.pinned = e.pinnedBound(it.pinned)
	if pin, later := rowAfterPin(it, &c); later {
		own()
		c.Version = pin
	}
	if c.Op == sfsync.OpEvent {
		return c, nil, false
	}
	if !known {
		*cur = sfsync.Record{Object: c.Object, ID: c.RecordID}
	}
	// The record key and the fields c touches, once for the whole decision;
	// touched follows every dropFields.
	record, touched := w.recordKey(), c.Touched()
	// Ordering: data from a newer change of the same source wins over an
	// older change that arrives late, field by field; a delete is a
	// tombstone that an older create or update of the source cannot undo.
	//
	// A resync's source is the winner, but its data and version are the
	// resynced change's, on that change's clock: the winner's own changes
	// since the data that change beat are what supersede it.
	var stale []string
	var whole bool
	if it.resync {
		stale, whole = vc.changedSince(record, c.Source, touched, it.resyncFrom)
	} else {
		stale, whole = vc.staleFields(&c, record, touched, *cur)
	}
	if it.requeue != nil && c.Origin.Client == repairClient && known && !whole {
		// A repair requeued from the dead letters has lost the version of
		// its data (its claim, on the winner's clock): its own version is
		// the losing change's, on the loser's. Its values tell instead.
		if superseded := vc.repairSuperseded(record, &c, touched, *cur); len(superseded) > 0 {
			stale = append(stale, without(superseded, stale)...)
			whole = len(stale) == len(touched)
		}
	}
	var since []string
	if it.repair && !it.resync && known && !whole {
		// A repair carries the winner's data as it was when the change
		// lost: a later change of the loser's that won and reached the
		// winner since replaced it there, as did the loser's own data
		// newer than the loser's data the repair carries (see
		// loserChangedSince).
		if since = without(vc.loserChangedSince(record, &c, dest, touched, it.lostAt, it.fieldsAt, *cur), stale); len(since) > 0 {
			whole = len(stale)+len(since) == len(touched)
		}
	}
	if whole {
		what := fmt.Sprintf("fields %v", stale)
		if c.Op == sfsync.OpDelete {
			what = "the record"
		}
		why := fmt.Sprintf("older than data already applied from %s (%s)", c.Source, what)
		if len(since) > 0 {
			why = fmt.Sprintf("older than data already applied from %s (fields %v)", dest, since)
			if len(stale) > 0 {
				why = fmt.Sprintf("older than data already applied from %s (%s) and from %s (fields %v)", c.Source, what, dest, since)
			}
		}
		res := e.final(it, c, dest, sfsync.StatusStale, why, true)
		seen := &c
		if it.resync {
			// Not a change of the winner's (see claimed).
			seen = w.claimed(&c)
		}
		res.versions = vc.rememberSeen(seen, record)
		if tombstoned(it, &c) && vc.beforeOwnDelete(record, c.Source, c.Version) {
			// Stale against its own system's later delete, its data is
			// in that system's tombstone all the same: an undelete
			// restores it (see item.tombstoned).
			res.versions = append(res.versions, vc.rememberLost(&c, record, touched)...)
		}
		return c, res, false
	}
	if len(stale) > 0 {
		own()
		dropFields(&c, stale)
		touched = without(touched, stale)
		w.notes = append(w.notes, fmt.Sprintf("not %v: newer data from %s already applied", stale, c.Source))
	}
	if len(since) > 0 {
		own()
		dropFields(&c, since)
		touched = without(touched, since)
		w.notes = append(w.notes, fmt.Sprintf("not %v: %s's own later change of them won and reached %s since", since, dest, c.Source))
	}
	if known && cur.Exists && cur.Deleted && rowOfSyncedValues(vc, it, &c, record, touched) {
		res := e.final(it, c, dest, sfsync.StatusNoop, "the target deleted the record, and the backfill's row carries only values synced before: the delete decides", true)
		res.versions = vc.rememberSeen(w.claimed(&c), record)
		return c, res, false
	}
	if known && cur.Exists && cur.Deleted && w.it.snapshot && c.Op == sfsync.OpUpdate {
		// A snapshot that brings back a record the target deleted carries
		// its record whole at its last change's version: a value synced
		// before is no news. It is left out of the change, and the record
		// brought back takes it along from the source like any field the
		// change does not carry, unless the target's own value from before
		// its delete stands (see resurrect): an edit of the target's whose
		// event is on its way, or one that won.
		var synced []string
		for _, f := range touched {
			v, _ := c.Value(f)
			if sameValue(v, cur.Fields[f]) {
				continue
			}
			if seen, _ := vc.rowKnowsValue(record, c.Source, f, v); seen {
				synced = append(synced, f)
			}
		}
		if len(synced) > 0 && len(synced) < len(touched) {
			own()
			dropFields(&c, synced)
			touched = without(touched, synced)
			w.notes = append(w.notes, fmt.Sprintf("not %v as the row's own: values synced before, taken along as the record's", synced))
		}
	}
	snapshot := w.it.snapshot && !cur.Deleted && c.Op == sfsync.OpUpdate
	if known && cur.Exists && (snapshot || c.Op == sfsync.OpUndelete) {
		// A snapshot or an undelete carries one version, the record's, for
		// every field. A field the target changed after the engine last
		// synced its data of it is left to that change's event, which
		// decides it with its own version: the record's would wrongly beat
		// it. For a snapshot, a field the target already holds is no news
		// either: taken as changed at that version, it would win over a
		// newer edit of the other side that it never saw. (Nor does the
		// version map take an undelete's restored values as changed at the
		// undelete: see applied.)
		//
		// A backfill's row carries what its source changed while the
		// source's events were lost, with the record's version: a value of
		// a field that the map has versioned is no news (it was synced, or
		// the row was read before a newer value reached the source, whose
		// later changes the stream brings); one the map never versioned
		// was set by one of those changes, and no event of the source will
		// decide it: it is decided here, at the row's version (or the
		// pin's), against a change of the target's made before the pin.
		var same, synced, pending []string
		// sameNew are fields the target holds already with a value the map
		// never versioned: a lost change of the source's, which an earlier
		// write of this row brought there (a crash lost its outcome).
		var sameNew []string
		// older are fields the event re-read in place set before the
		// target's own edit of them (see eventSetBefore).
		var older []string
		// lostData are fields whose value in the row is data of an older
		// change of the source's that the map holds (one that lost or was
		// dead-lettered, say), which the target's own edit of them beats
		// (see rowValueLosesAtItsData).
		var lostData []string
		// takenSince are fields an undelete restores whose target value
		// the source took after its delete (see syncedSinceDelete).
		var takenSince []string
		// lostRestored are fields an undelete restores whose value is
		// its source's own change that lost, and that loses to the
		// target's data of them.
		var lostRestored []string
		backfilled := snapshot && !it.pinned.IsZero()
		// Whether the target's changes of the record reach the engine
		// though the map holds none of them yet: one waits undecided.
		received := e.receivedFrom(dest, record, cmp.Or(cur.Object, c.Object), cur.ID)
		for _, f := range touched {
			v, _ := c.Value(f)
			var seen, known bool
			if backfilled {
				seen, known = vc.rowKnowsValue(record, c.Source, f, v)
			}
			switch {
			case sameValue(v, cur.Fields[f]):
				if snapshot {
					same = append(same, f)
					if known && !seen {
						sameNew = append(sameNew, f)
					}
				}
			case seen:
				synced = append(synced, f)
			case c.Op == sfsync.OpUndelete && vc.changedAfterSync(record, dest, f, *cur, received) && vc.beforeOwnDelete(record, dest, cur.FieldVersions[f]):
				// The target's change of the field came before its own
				// delete: its event, decided before the record came back,
				// was stale against that delete, and no later event of the
				// target's brings the value again. The undelete decides
				// it: where the target's value wins, it stays, and its
				// repair takes it to the source.
				if e.targetValueWins(vc, w, &c, record, f, *cur) {
					w.kept = append(w.kept, f)
				}
			case vc.changedAfterSync(record, dest, f, *cur, received) && !it.eventSetAfter(f, cur.FieldVersions[f]) && (!known || !beforePin(cur.FieldVersions, f, it.pinned)):
				// (The target's change of a field made at or after the pin
				// is newer than every change the row tells of: it
				// decides, as for a value the map cannot place.)
				pending = append(pending, f)
			case c.Op == sfsync.OpUndelete && e.targetEditStands(vc, w, &c, record, f, *cur, true):
				w.kept = append(w.kept, f)
			case c.Op == sfsync.OpUndelete && vc.syncedSinceDelete(record, c.Source, dest, f, cur.Fields[f]):
				// The target holds its own data of the field, which the
				// source took after its delete (a repair that brought the
				// record back wrote it there): the value the undelete
				// restores is as old as that delete at the latest, and
				// the source replaced it since. Dated at the undelete, or
				// at the delete within a skew tolerance, it beat the
				// newer data (seed 89260).
				takenSince = append(takenSince, f)
			case c.Op == sfsync.OpUndelete && vc.holdsNewerLost(record, c.Source, f, v) && e.targetValueWins(vc, w, &c, record, f, *cur):
				// The value the undelete restores is its source's own
				// change that lost, and that no repair replaced there:
				// the other system's delete beat it, say, and the
				// repair of its fields found the record deleted already.
				// The undelete restores that data, it does not change it:
				// decided at its version, against the target's data, the
				// target's value wins; it stays, and the undelete's
				// repair takes it to the source. Dated at the undelete,
				// the older value beat the newer one (seed 4296).
				lostRestored = append(lostRestored, f)
			case it.eventSetBefore(f, *cur, dest) && keepsTargetEdit(w, &c, f, cur.Fields[f], cur.FieldVersions[f], liveHolding(&c, f, v, it.eventAt, c.Source)):
				older = append(older, f)
			case snapshot && e.rowValueLosesAtItsData(vc, w, &c, record, f, v, *cur):
				lostData = append(lostData, f)
			}
		}
		if len(w.kept) > 0 {
			own()
			touched = w.leaveToTarget(&c, touched, "lost only to the delete, and stands now the record is back")
		}
		// keep leaves fields to the target: out of c and touched, and
		// into w.kept, which the repair takes to the source.
		keep := func(fields []string, why string) {
			own()
			dropFields(&c, fields)
			touched = without(touched, fields)
			w.kept = append(w.kept, fields...)
			w.notes = append(w.notes, fmt.Sprintf("not %v: %s", fields, why))
		}
		if len(takenSince) > 0 {
			keep(takenSince, fmt.Sprintf("%s took %s's data of them after its delete, which the undelete's values predate", c.Source, dest))
		}
		if len(lostRestored) > 0 {
			keep(lostRestored, fmt.Sprintf("the undelete restores %s's change of them that lost, which %s's data of them beats", c.Source, dest))
		}
		// older: the event set them, at its own version, before the
		// target's edit of them: the record re-read carries them at its
		// later version, which would wrongly beat that edit. The edit
		// stands, and the repair takes it to the source.
		if len(older) > 0 {
			keep(older, fmt.Sprintf("%s's edit of them is newer than this event's own change (%s), whatever the record read's version", dest, it.eventAt))
		}
		if len(lostData) > 0 {
			keep(lostData, fmt.Sprintf("the row carries %s's data of them from an older change, which %s's edit of them beats", c.Source, dest))
		}
		if len(pending) > 0 {
			own()
			dropFields(&c, pending)
			touched = without(touched, pending)
			w.notes = append(w.notes, fmt.Sprintf("not %v: %s changed them since they were last synced; that change decides", pending, dest))
		}
		var heldNew *sfsync.Change
		if len(sameNew) > 0 {
			whole := w.claimed(&c).Clone()
			heldNew = &whole
		}
		if len(same) > 0 {
			own()
			dropFields(&c, same)
			touched = without(touched, same)
			w.notes = append(w.notes, fmt.Sprintf("not %v: the target holds them already", same))
		}
		if len(synced) > 0 {
			own()
			dropFields(&c, synced)
			touched = without(touched, synced)
			w.notes = append(w.notes, fmt.Sprintf("not %v: values synced before, no news", synced))
		}
		if snapshot && len(touched) == 0 && len(same)+len(synced)+len(pending) > 0 {
			res := e.final(it, c, dest, sfsync.StatusNoop, joinNotes("target already holds these values", w.notes), true)
			res.versions = vc.rememberSeen(w.claimed(&c), record)
			if heldNew != nil {
				// Both systems hold the lost change's data: the map
				// learns it, at the row's version, as a write would.
				res.versions = append(res.versions, vc.remember(heldNew, record, sameNew)...)
			}
			return c, res, false
		}
	}
	// The target versions its fields, and this change's version is on
	// some: an earlier attempt (this engine's, or one a crash cut off
	// before its outcome was recorded) applied it, or a repair wrote the
	// same data with its version. Those fields, and those changed after
	// it, are not written again (their own changes decide them); the
	// others (the policy did not keep them, or they were never written)
	// are decided as usual. (A repair borrows the versions it writes, so
	// it is never judged so: the losing side shows the losing change's
	// version, the repair's, on its own data. That holds for a repair
	// requeued from the dead letters too, which has lost its item's mark
	// but keeps its origin.)
	var there []string
	if known && !w.it.repair && c.Origin.Client != repairClient {
		there = shown(*cur, &c, touched, func(f string, writer sfsync.System, fv sfsync.Version) bool {
			return writer == dest && vc.decidedAt(record, dest, f, fv)
		})
	}
	if len(there) > 0 && (len(there) == len(touched) || cur.Deleted) {
		// On a record the target deleted since, the change counts whole
		// (see shown): the fields it does not show were decided when it
		// was written, and the delete, later, decides for itself.
		w.confirmed = true
		res := e.final(it, c, dest, sfsync.StatusApplied, joinNotes("already applied: the target shows this change's version (the acknowledgement was lost, or a crash lost the outcome)", w.notes), true)
		// As a write is remembered: the fields an earlier attempt took
		// along to bring the record back whole are the source's older
		// data, at their own versions, not the change's; the fields the
		// target does not show, the source's alone.
		res.versions = w.rememberWritten(vc, &c, record, there)
		return c, res, false
	}
	if len(there) > 0 {
		// Those fields were applied: the version map learns their data
		// with the change's outcome, whatever the rest of it becomes (see
		// work.shown).
		shownData := w.claimed(&c).Clone()
		dropFields(&shownData, without(slices.Clone(touched), there))
		w.shown = &shownData
		own()
		dropFields(&c, there)
		touched = without(touched, there)
		w.notes = append(w.notes, fmt.Sprintf("not %v: the target shows this change's version on them, or a newer one", there))
	}
	if c.Op == sfsync.OpDelete && ((known && cur.Deleted) || (w.attempts > 1 && (!cur.Exists || cur.Deleted))) {
		// Nothing live to delete: the target shows the record deleted
		// (whoever deleted it: an earlier attempt whose outcome a crash
		// lost, or the target itself, whose event says so in its turn),
		// or an earlier attempt, whose acknowledgement was lost, removed
		// it. Deciding it against a tombstone would write the delete
		// again. (A record the target never had is left to the policy.)
		status, why := sfsync.StatusNoop, "the target has no live record to delete"
		if w.attempts > 1 {
			w.confirmed = true
			status, why = sfsync.StatusApplied, "applied; confirmed on retry: the record is gone (the acknowledgement was lost)"
		}
		res := e.final(it, c, dest, status, joinNotes(why, w.notes), true)
		res.versions = vc.remember(w.claimed(&c), record, touched)
		return c, res, false
	}
	policy := w.route.Policy != nil
	flows := policy && e.flowsFrom(dest, c.Object)
	// Only a delete or undelete asks the park (under its lock): the rest
	// never wait for a record-level change.
	flowsRecord := flows && (c.Op == sfsync.OpDelete || c.Op == sfsync.OpUndelete) && !e.parkedFrom(dest, record)
	parked := e.targetParkedFor(flows, dest, record, *cur)
	// The fields an earlier attempt lost are no longer in c (a retry
	// decides on the change as written), but its repair still writes
	// them, claimed at the target's versions of them: they are dated too.
	dated := touched
	if extra := without(slices.Clone(w.lostEarlier), touched); len(extra) > 0 {
		dated = slices.Concat(touched, extra)
	}
	unseen := flows && cur.Exists && !cur.Deleted && e.changesLost(dest, cmp.Or(cur.Object, c.Object), cur.Version)
	// A change of the target's record that the engine received and has not
	// decided yet (queued in a lane behind a slow write, say) is not lost:
	// the wait for it goes on, however long, until it is decided.
	waited := !w.parkedAt.IsZero() && time.Since(w.parkedAt) >= targetAheadWait
	queued := waited && flows && cur.Exists && !cur.Deleted && e.queuedFrom(dest, cmp.Or(cur.Object, c.Object), cur.ID)
	if !unseen && !queued && flows && cur.Exists && !cur.Deleted && waited &&
		!e.backfilling(dest, cmp.Or(cur.Object, c.Object)) {
		// The target's change that its record shows was waited for in
		// vain: it is not seen here, as if lost. A value the map never
		// versioned was set by it, at the record's version at the
		// latest. (Where that dates it too late, its event, when it
		// comes, is decided against this change's data, and loses.)
		// While a backfill is owed, such a value may be one of the
		// changes lost with their events, older: the backfill's row
		// decides it (see changesLost).
		unseen = true
	}
	var lostBefore sfsync.Version
	if !unseen && flows && cur.Exists && !cur.Deleted {
		// The record's version is past the changes the stream may have
		// lost, but a field may still hold a value one of them set, behind
		// a change the stream brought (see describe).
		if _, bound, ok := e.lostSpan(dest, cmp.Or(cur.Object, c.Object)); ok {
			lostBefore = sfsync.Version{Time: bound}
		}
	}
	ahead := vc.describe(&c, record, dated, cur, dest, flows, flowsRecord, policy, unseen, lostBefore, it.lostAt, parked)
	if ahead {
		if w.parkedAt.IsZero() {
			w.parkedAt = time.Now()
		}
		if time.Since(w.parkedAt) < targetAheadWait || queued {
			return c, nil, true
		}
	}
	if it.beforeDelete && known && (!cur.Exists || cur.Deleted) {
		// The loser's record is gone already (the winner's delete reached
		// it, or the loser deleted it): there is nothing left for these
		// fields to correct before the repair's delete, and writing them
		// would bring the record back. The tombstone's version cannot tell
		// whose delete it is, or whether it came after the losing change:
		// Salesforce stamps whole seconds.
		res := e.final(it, c, dest, sfsync.StatusNoop, joinNotes("the losing side's record is deleted already: the repair's delete has nothing to correct before it", w.notes), true)
		return c, res, false
	}
	if it.repair && !it.undoesDelete && c.Op == sfsync.OpUpdate && !it.lostAt.IsZero() && cur.Exists && cur.Deleted && cur.LastWriter[fieldAny] == dest && deletedSince(vc, record, dest, it.lostAt, cur.Version) {
		// The losing side deleted the record after the change this repair
		// corrects: nothing of that change is left there to correct, and
		// writing would bring the record back, undoing the delete there
		// while the delete goes on to the winner. The delete decides, and
		// its own repair brings the record back whole if it loses. (That
		// repair, a create, is meant for the tombstone.)
		res := e.final(it, c, dest, sfsync.StatusNoop, joinNotes("the losing side deleted the record since the change this repair corrects; that delete decides", w.notes), true)
		return c, res, false
	}
	if known && holds(*cur, &c, touched) {
		if w.attempts > 1 {
			// The target holds exactly what an earlier attempt wrote: that
			// attempt succeeded and only its acknowledgement was lost.
			w.confirmed = true
			res := e.final(it, c, dest, sfsync.StatusApplied, joinNotes("applied; confirmed on retry (acknowledgement was lost)", w.notes), true)
			res.versions = w.rememberWritten(vc, &c, record, touched)
			return c, res, false
		}
		// Both systems hold the data: its version counts as applied, so an
		// older change of the same source that arrives later is stale.
		res := e.final(it, c, dest, sfsync.StatusNoop, joinNotes("target already holds these values", w.notes), true)
		res.versions = w.rememberWritten(vc, &c, record, touched)
		return c, res, false
	}
	if it.repair && c.Op == sfsync.OpCreate && known && cur.Exists {
		// The target's own edits that win on their merit stand in the
		// record brought back (from its tombstone, or already back by a
		// newer change of the winner's): they lost, or would, only to its
		// delete. So does the target's own value of a field whose value
		// in the winner is a change of the winner's that lost (its repair
		// not written yet), where it wins on its merit: the target holds
		// the data that won, in its tombstone or in the record a repair
		// part brought back already. (A change that lost only to the
		// delete, which lost in turn, is judged on its merit here too.)
		for _, f := range touched {
			if e.targetEditStands(vc, w, &c, record, f, *cur, false) {
				w.kept = append(w.kept, f)
				continue
			}
			lostThere := keptValue(*cur, f) && vc.ownChangeLost(record, c.Source, f)
			if lostThere && e.targetValueWins(vc, w, &c, record, f, *cur) {
				w.kept = append(w.kept, f)
				if targetsOwnUnsynced(vc, record, dest, f, cur.Fields[f]) {
					// The target's value is its own change that the
					// engine decided already (stale against its own
					// delete, say), which the source never held: no
					// event of the target's brings it to the source
					// again, and where the source's change lost only to
					// the delete, its repair was a delete, which carries
					// no value. This repair's own repair takes it there
					// (see planRepair); kept alone, the two systems
					// parted (seed 3424).
					w.across = append(w.across, f)
				}
			}
		}
		if len(w.kept) > 0 {
			own()
			touched = w.leaveToTarget(&c, touched, "stands in the record brought back")
		}
	}
	// Without a policy every field applies (sfsync.ApplyAll); touched is
	// that decision's Keep already.
	d := sfsync.Decision{Apply: true, Keep: touched, Reason: "no conflict policy"}
	switch {
	case it.repair && c.Op == sfsync.OpCreate:
		// The repair of a delete that lost brings the record back as the
		// winner keeps it: the record was decided, and asking the policy
		// again field by field would leave out the fields the deleting
		// side owns, which it deleted with the record.
		d.Reason = "brings back the record whose delete lost"
		e.leaveOutUnsyncedKept(vc, w, &c, record, touched, *cur, &d)
	case it.resync:
		// The change it writes back won already, against the data our
		// crossing write brought here: asking the policy again would
		// compare that data with itself. Only a newer change of the
		// target itself stands against it.
		d = sfsync.ApplyAll(c, "writes back the change a crossing write of ours overwrote")
		for _, f := range touched {
			if vc.olderThanOthers(&c, record, f) {
				d.Keep = without(d.Keep, []string{f})
			}
		}
		d.Apply = len(d.Keep) > 0
	case w.route.Policy != nil && it.undoesDelete && known && cur.Exists && cur.Deleted:
		// A repair that brings back the record our delete removed with
		// the change it writes back (see item.undoesDelete): that change
		// beat the delete in the winner, and the record lives there. The
		// tombstone is our delete's, stamped by the target at our write,
		// not a delete of the loser's own: decided against it, the repair
		// lost (on a tie the delete wins), and the record stayed deleted
		// in the loser while the winner kept it. Its fields are decided as
		// for the record as it was before that delete.
		own()
		d = w.route.Policy.Decide(c, beforeDelete(*cur))
	case w.route.Policy != nil:
		// A policy is the user's code: it gets a copy to look at.
		own()
		d = w.route.Policy.Decide(c, *cur)
	}
	// A field the policy kept from the target that the target holds with
	// this change's value did not lose: both systems hold the data, as if
	// written (the record's stamp the policy went by may be our own write
	// of it, one a crash cut off from its outcome). It needs no repair,
	// and the version map claims it as applied.
	var drop, held []string
	if c.Op != sfsync.OpDelete && (w.route.Policy != nil || !d.Apply) {
		keep := make(map[string]bool, len(d.Keep))
		if d.Apply {
			for _, f := range d.Keep {
				keep[f] = true
			}
		}
		for _, f := range touched {
			if keep[f] {
				continue
			}
			drop = append(drop, f)
			if v, _ := c.Value(f); known && cur.Exists && !cur.Deleted && sameValue(v, cur.Fields[f]) {
				held = append(held, f)
			}
		}
	}
	w.held, w.dropped = held, without(slices.Clone(drop), held)
	if !d.Apply {
		for _, f := range sortedKeys(d.Dropped) {
			w.notes = append(w.notes, fmt.Sprintf("%s: %s", f, d.Dropped[f]))
		}
		if w.route.State != nil {
			w.lost = without(slices.Clone(touched), held)
			if c.Op == sfsync.OpDelete {
				// A delete touches no field; what lost is the record.
				w.lost = []string{fieldDeleted}
			}
		}
		status := sfsync.StatusConflictLost
		if len(there) > 0 {
			// What it wrote is there; the rest lost.
			status = sfsync.StatusApplied
		}
		res := e.final(it, c, dest, status, joinNotes(d.Reason, w.notes), true)
		// The change lost here, but its system holds these values as of
		// this version (until repaired): that is the field's history there,
		// and there only.
		if c.Op == sfsync.OpDelete {
			res.versions = vc.rememberLost(&c, record, touched)
		} else {
			res.versions = vc.rememberPartly(w.claimed(&c), record, held, rowNews(vc, it, &c, record, w.droppedData()))
		}
		return c, res, false
	}
	if c.Op != sfsync.OpDelete {
		if len(drop) > 0 {
			own()
			dropFields(&c, drop)
			touched = without(touched, drop)
		}
		if w.route.State != nil {
			w.lost = slices.Concat(w.dropped, w.kept)
		}
		for _, f := range sortedKeys(d.Dropped) {
			w.notes = append(w.notes, fmt.Sprintf("not %s: %s", f, d.Dropped[f]))
		}
		if len(touched) == 0 && c.Op == sfsync.OpUpdate {
			status := sfsync.StatusConflictLost
			if len(there) > 0 {
				status = sfsync.StatusApplied
			}
			res := e.final(it, c, dest, status, joinNotes("conflict policy kept no field: "+d.Reason, w.notes), true)
			res.versions = vc.rememberPartly(w.claimed(&c), record, held, w.droppedData())
			return c, res, false
		}
		if len(drop) > 0 && known && holds(*cur, &c, touched) {
			// The fields the policy kept are there already: an earlier
			// delivery wrote them (its outcome lost in a crash) or the
			// target has the same values. Writing them again could only
			// overwrite what changed there since.
			w.notes = noteFirst(w.notes, d.Reason)
			status, why := sfsync.StatusNoop, "target already holds the fields the policy kept"
			if w.attempts > 1 {
				w.confirmed = true
				status, why = sfsync.StatusApplied, "applied; confirmed on retry (acknowledgement was lost)"
			}
			res := e.final(it, c, dest, status, joinNotes(why, w.notes), true)
			res.versions = vc.rememberPartly(w.claimed(&c), record, append(slices.Clone(touched), held...), w.droppedData())
			return c, res, false
		}
	}
	if d.Reason != "" {
		w.notes = noteFirst(w.notes, d.Reason)
	}
	if c.Op == sfsync.OpCreate && known && cur.Exists && !cur.Deleted && !it.repair && vc.madeByUs(record, dest) {
		// Our write that made the record there may have been of a later
		// change of the same system, which did not carry some fields (its
		// source's record, when read, no longer held them): the target
		// never had them, and this create's values fill them.
		fill := lacking(*cur, &c, touched)
		// Nor did our write carry a field the target holds as its own
		// data of a change that lost (its repair not landed) from before
		// that write: the write brought the record back (an undelete,
		// whose echo makes the record ours there) and left the target's
		// value standing for the target's change, undecided then, to
		// decide (see targetEditStands). That change lost since, and its
		// repair left the field to this create, dead-lettered then, as
		// the winner's newer value on its way (see lostFieldsRepair).
		// Taken as applied, nothing took the winning value there, and
		// the systems parted for good (seed 9607). This create's value,
		// which the policy kept, is written. (A change of the target's
		// after that write is news of its own, decided by its own event:
		// it stands here until then.)
		stood := lostThere(vc, record, dest, *cur, touched)
		if len(fill) > 0 || len(stood) > 0 {
			write := slices.DeleteFunc(slices.Clone(touched), func(f string) bool {
				return !slices.Contains(fill, f) && !slices.Contains(stood, f)
			})
			dropFields(&c, without(slices.Clone(touched), write))
			if len(fill) > 0 {
				w.notes = append(w.notes, fmt.Sprintf("only %v: the record there was made by our own write of a later change, which did not carry them", fill))
			}
			if len(stood) > 0 {
				w.notes = append(w.notes, fmt.Sprintf("%v: our own write brought the record back there without them; %s's own values of them lost", stood, dest))
			}
			w.touched = write
			return c, nil, false
		}
		// The record lives in the target because a write of ours made it
		// there, and a create is its system's first data of the record:
		// that write was this create (its acknowledgement, or a crash,
		// lost the outcome) or a later change of the same system, which
		// carried newer data. A target without field versions or
		// idempotency keys cannot show it otherwise. What the policy kept
		// is not written again: the fields changed there since are decided
		// by their own events. What lost is repaired, as decided now: the
		// crash may have lost that repair too. (The write's echo came
		// already: no fingerprints are remembered to wait for another.)
		res := e.final(it, c, dest, sfsync.StatusApplied, joinNotes("already applied: the target's record was made by our own write, whose echo came back (the acknowledgement was lost, or a crash lost the outcome)", w.notes), true)
		res.versions = vc.rememberPartly(w.claimed(&c), record, append(slices.Clone(touched), w.held...), w.droppedData())
		return c, res, false
	}
	w.touched = touched
	return c, nil, false
}

// rowValueLosesAtItsData reports whether the value v of field in the
// snapshot row c (one version, the record's, for every field) is data of
// an older change of the source's own that the map holds at that change's
// version (one that lost, or was dead-lettered), and the target's own edit
// of the field, at its version, beats that change under the route's
// policy. The row's version only says the record changed by then: dated
// at it, the older change would beat the target's newer edit.
func (e *Engine) rowValueLosesAtItsData(vc *versionCache, w *work, c *sfsync.Change, record, field string, v any, cur sfsync.Record) bool {
	dest := w.route.To
	if w.route.Policy == nil || w.route.State == nil || cur.LastWriter[field] != dest {
		return false
	}
	tv, ok := cur.FieldVersions[field]
	if !ok {
		return false
	}
	at, who, ok := vc.dataOfValue(record, c.Source, field, v)
	if !ok || who != c.Source || !at.Before(c.Version) {
		return false
	}
	return keepsTargetEdit(w, c, field, cur.Fields[field], tv, liveHolding(c, field, v, at, c.Source))
}

// targetEditStands reports whether the target's value of field, in the
// record c brings back (an undelete, or the create of a repair whose
// delete lost), is the target's own edit that lost, or would lose, only
// to the delete: decided against the source's value of the field as an
// edit of a live record, each at the version of its data, the policy
// keeps the target's. c then leaves it there. (A record brought back
// keeps its values; they are as old as before the delete.)
//
// decided asks for an edit the engine decided already, which lost: an
// undelete's repair takes it to the source. Otherwise it asks for one not
// decided yet (its event on its way, or dead-lettered): a repair is not
// repaired in turn, and that edit, decided in its turn, takes its value
// to the source. (An edit decided already, kept here, would reach the
// source by nothing.)
func (e *Engine) targetEditStands(vc *versionCache, w *work, c *sfsync.Change, record, field string, cur sfsync.Record, decided bool) bool {
	dest := w.route.To
	if w.route.Policy == nil || w.route.State == nil || cur.LastWriter[field] != dest {
		return false
	}
	tv, ok := cur.FieldVersions[field]
	if !ok {
		return false
	}
	if !decided && !vc.changedAfterSync(record, dest, field, cur, e.receivedFrom(dest, record, cmp.Or(cur.Object, c.Object), cur.ID)) {
		return false
	}
	_, lostAt, lost, known := vc.heldVersions(record, c.Source, dest, field)
	if !known || (decided && (!lost || lostAt.Before(tv))) {
		// Nothing known of the source's data, or the target's value is
		// not a change of its that the engine decided and that lost.
		return false
	}
	return e.targetValueWins(vc, w, c, record, field, cur)
}

// targetValueWins reports whether the target's value of field in cur,
// taken as a change of the target's, wins under the route's policy over
// c's value of it at the version of the source's data of it that the map
// holds. The target's change is at its field version when cur names the
// target as the field's writer, and otherwise at the version of the
// target's own data of it that the map holds, if any.
func (e *Engine) targetValueWins(vc *versionCache, w *work, c *sfsync.Change, record, field string, cur sfsync.Record) bool {
	dest := w.route.To
	if w.route.Policy == nil || w.route.State == nil {
		return false
	}
	tv, ok := cur.FieldVersions[field]
	if cur.LastWriter[field] != dest {
		tv, ok = vc.ownDataOf(record, dest, field)
	}
	if !ok {
		return false
	}
	sv, _, _, known := vc.heldVersions(record, c.Source, dest, field)
	v, _ := c.Value(field)
	if at, _, ok := vc.dataOfValue(record, c.Source, field, v); ok {
		// The value the source holds tells its data: synced, or the
		// source's own change of it (a losing one, say), of that version,
		// whatever other data of the field is newer on another clock.
		sv, known = at, true
	} else if del, deleted := vc.ownDelete(record, c.Source); deleted && c.Op == sfsync.OpUndelete && known && del.Before(sv) {
		// An undelete restores what the record held when its source
		// deleted it: a value the map no longer knows (a repair has
		// replaced the losing change that set it) is as old as that
		// delete at the latest, not as new as the data the map holds now.
		sv, known = del, true
	}
	if !known {
		return false
	}
	return keepsTargetEdit(w, c, field, cur.Fields[field], tv, liveHolding(c, field, v, sv, c.Source))
}

// liveHolding is the record c's source holds live, as far as field goes:
// value, its data at version sv by who (unversioned where who is "").
func liveHolding(c *sfsync.Change, field string, value any, sv sfsync.Version, who sfsync.System) sfsync.Record {
	r := sfsync.Record{Object: c.Object, ID: c.RecordID, Exists: true, Version: sv, Fields: map[string]any{field: value}}
	if who != "" {
		r.FieldVersions = map[string]sfsync.Version{field: sv}
		r.LastWriter = map[string]sfsync.System{field: who}
	}
	return r
}

// lacking returns the fields of touched to which c gives a value and that
// the target's record cur shows empty with no writer: the target never set
// them (see describe).
func lacking(cur sfsync.Record, c *sfsync.Change, touched []string) []string {
	var out []string
	for _, f := range touched {
		if v, set := c.Fields[f]; !set || v == nil {
			continue
		}
		if cur.Fields[f] == nil && cur.LastWriter[f] == "" {
			out = append(out, f)
		}
	}
	return out
}

// lostThere returns the fields of touched whose value in cur, the target's
// record, is the target's own data of a change that lost, from before the
// write of ours that made the record there (see leftByOurMaking): data
// that write did not carry, and no write of ours took there.
func lostThere(vc *versionCache, record string, target sfsync.System, cur sfsync.Record, touched []string) []string {
	var out []string
	for _, f := range touched {
		if v, ok := cur.Fields[f]; ok && vc.leftByOurMaking(record, target, f, v) {
			out = append(out, f)
		}
	}
	return out
}

// keepsTargetEdit reports whether the route's policy keeps value, taken as
// the target's edit of field at version tv, against source, the record
// c's source holds.
func keepsTargetEdit(w *work, c *sfsync.Change, field string, value any, tv sfsync.Version, source sfsync.Record) bool {
	edit := sfsync.Change{Source: w.route.To, Tenant: c.Tenant, Object: c.Object, RecordID: c.RecordID,
		Op: sfsync.OpUpdate, Version: tv, Fields: map[string]any{}}
	setValue(&edit, field, value)
	d := w.route.Policy.Decide(edit, source)
	return d.Apply && slices.Contains(d.Keep, field)
}

// keptValue reports whether the target's record cur, deleted or not,
// holds a value of field.
func keptValue(cur sfsync.Record, field string) bool {
	_, ok := cur.Fields[field]
	return cur.Exists && ok
}

// targetsOwnUnsynced reports whether value, target's value of field, is
// data of target's own change that the version map holds (applied or
// lost), and not data both systems ever held: the other system never took
// it.
func targetsOwnUnsynced(vc *versionCache, record string, target sfsync.System, field string, value any) bool {
	if _, who, ok := vc.dataOfValue(record, target, field, value); !ok || who != target {
		return false
	}
	return !vc.syncedValue(record, field, value)
}

// leaveToTarget takes w.kept, the fields whose target edit stands in the
// record c brings back, out of c (w's own copy) and of touched, which it
// returns, and says why in w's notes.
func (w *work) leaveToTarget(c *sfsync.Change, touched []string, why string) []string {
	dropFields(c, w.kept)
	w.notes = append(w.notes, fmt.Sprintf("not %v: %s's own data of them %s", w.kept, w.route.To, why))
	return without(touched, w.kept)
}

// tombstoned reports whether c, the change it carries, is a change event
// of its record's data (a create or update, not a row read from
// authoritative state, nor a write of ours) whose data a later delete of
// its system leaves in that system's tombstone: an undelete restores it,
// and the version map must know it to date the value restored. (Dropped as
// superseded by that delete, the value was one the map never knew,
// dated by older data: the other system's older edit, which had lost
// only to the delete, stood against it, and its repair overwrote the
// restored value (seed 89852).)
func tombstoned(it *item, c *sfsync.Change) bool {
	return (c.Op == sfsync.OpCreate || c.Op == sfsync.OpUpdate) && !it.snapshot && !it.repair && !it.resync &&
		c.Origin.Client != repairClient
}

// eventSetAfter reports whether it is a change event re-read in place
// (see handOff) that set field, whose value the record read still holds,
// at a version newer than the target's edit at: the target's pending edit
// is older, and the event's value is decided against it here, as the
// event itself would have been. (A snapshot's value of a field has no
// version of its own: only the target's edit decides it.)
func (it *item) eventSetAfter(field string, at sfsync.Version) bool {
	return !it.eventAt.IsZero() && at.Before(it.eventAt) && slices.Contains(it.eventFields, field)
}

// deletedSince reports whether the losing side's own delete, whose
// tombstone in loser has version del, came after its change at lost that
// lost. A tombstone of whole seconds (SystemModstamp) in the second of that
// change came after it too, where no other system ever deleted the record
// (so the tombstone cannot be a delete of ours, written there, that crossed
// the change): the record was live when the change was made, and a delete
// of the losing side's own is the newer.
func deletedSince(vc *versionCache, record string, loser sfsync.System, lost, del sfsync.Version) bool {
	if lost.Before(del) {
		return true
	}
	return wholeSecond(del) && !wholeSecond(lost) && del.Time.Equal(lost.Time.Truncate(time.Second)) && !vc.deletedElsewhere(record, loser)
}

// eventSetBefore reports whether it is a change event re-read in place
// (see handOff) that set field, whose value the record read still holds,
// at a version older than the target's own edit of it in cur: the event's
// data of the field is of the event's version, not the record's.
func (it *item) eventSetBefore(field string, cur sfsync.Record, target sfsync.System) bool {
	if it.eventAt.IsZero() || cur.LastWriter[field] != target || !slices.Contains(it.eventFields, field) {
		return false
	}
	tv, ok := cur.FieldVersions[field]
	return ok && it.eventAt.Before(tv)
}

// noteFirst puts note first in notes, unless an earlier attempt's decision
// put it there already.
func noteFirst(notes []string, note string) []string {
	if len(notes) > 0 && notes[0] == note {
		return notes
	}
	return slices.Insert(notes, 0, note)
}

// decideSafely is decide, with a panic in a user's conflict policy turned
// into an error that dead-letters the change.
func (e *Engine) decideSafely(vc *versionCache, w *work, cur *sfsync.Record, known bool) (c sfsync.Change, res *result, wait bool, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: panic while deciding the change: %v", sfsync.ErrInvalid, p)
		}
	}()
	c, res, wait = e.decide(vc, w, cur, known)
	return c, res, wait, nil
}

// shown returns the fields of touched that the target shows at c's own
// version or a newer one, provided one is at c's own: c's data is there,
// and what is newer was changed after it. It returns nil when no field
// shows c's version. On a record deleted since, c counts as a whole: c's
// data at its own version on one field means c was written while the
// record lived, and the delete came after it, a later change that decides
// for itself; a field of c it does not show was decided then (the policy
// left it out, or the target held newer data), and decided again against
// the delete it would bring a part of the record back.
// A field at c's version that the target says another system wrote (the
// target itself, editing in the same instant) shows that system's data,
// not c's; so does one at c's version holding another value than c's: a
// write with c's version carried it, but not as c's data (a record brought
// back keeps the target's own values of fields c's system has no say in,
// see keepTombstoneValues).
//
// A field newer than c on the target is left to the event of the change
// that made it, unless decided says that change is the target's own and
// its event was decided already (the version map holds it, applied or
// lost): it was decided without c, and nothing else will decide the field
// against c, which the policy then does.
func shown(cur sfsync.Record, c *sfsync.Change, touched []string, decided func(field string, writer sfsync.System, fv sfsync.Version) bool) []string {
	if c.Version.IsZero() || !cur.Exists || c.Op == sfsync.OpDelete {
		return nil
	}
	var there []string
	exact := false
	for _, f := range touched {
		fv, ok := cur.FieldVersions[f]
		if !ok || fv.Before(c.Version) {
			continue
		}
		switch w, known := cur.LastWriter[f]; {
		case fv.Compare(c.Version) == 0:
			if v, _ := c.Value(f); !sameValue(v, cur.Fields[f]) {
				continue
			}
			if !known || w == c.Source {
				exact = true
			}
		case known && decided(f, w, fv):
			continue
		}
		there = append(there, f)
	}
	if !exact {
		return nil
	}
	return there
}

// holds reports whether the target record already reflects c, whose
// touched fields are touched.
func holds(cur sfsync.Record, c *sfsync.Change, touched []string) bool {
	switch c.Op {
	case sfsync.OpDelete:
		return !cur.Exists || cur.Deleted
	case sfsync.OpCreate, sfsync.OpUpdate, sfsync.OpUndelete:
		if !cur.Exists || cur.Deleted {
			return false
		}
		for _, f := range touched {
			v, _ := c.Value(f)
			if !sameValue(v, cur.Fields[f]) {
				return false
			}
		}
		return true
	}
	return false
}

func dropFields(c *sfsync.Change, fields []string) {
	for _, f := range fields {
		delete(c.Fields, f)
	}
	c.Nulled = slices.DeleteFunc(c.Nulled, func(n string) bool { return slices.Contains(fields, n) })
}

// without removes fields from the sorted list touched, in place, as
// dropFields removes them from the change touched lists.
func without(touched, fields []string) []string {
	return slices.DeleteFunc(touched, func(n string) bool { return slices.Contains(fields, n) })
}
