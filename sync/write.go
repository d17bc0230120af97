package sync

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sfsync/sfsync"
)

// write decides and writes one route's group of changes, retrying the
// retryable failures with backoff. Each attempt re-reads the target, so a
// write whose acknowledgement was lost is recognised as done instead of
// applied twice, and a conflict error is decided again on fresh state.
//
// It returns the changes that wait for the target's change event (see
// decide): they are parked, and the lane goes on with other records.
func (e *Engine) write(ctx context.Context, vc *versionCache, group []*work) (parked []*work) {
	if len(group) == 0 {
		return nil
	}
	r := group[0].route
	bo := e.cfg.newBackOff()
	pending := group
	retryingNow := false
	defer func() {
		if retryingNow {
			e.retried(r.To)
		}
	}()
	for attempt := 1; len(pending) > 0; attempt++ {
		current, readErr := e.readState(ctx, r, pending)
		// Sized for the whole group: most of it is written.
		toWrite := make([]*work, 0, len(pending))
		out := make([]sfsync.Change, 0, len(pending))
		var retry, waiting []*work
		for _, w := range pending {
			w.attempts = attempt
			if readErr != nil {
				w.lastErr = readErr
				retry = append(retry, w)
				continue
			}
			cur, known := current[w.c.RecordID]
			// A retry decides on the change as the earlier attempt wrote
			// it, already without the fields that lost there: they lost
			// all the same, and still need their repair.
			earlier := w.lost
			w.lost = nil
			c, res, wait, perr := e.decideSafely(vc, w, &cur, known)
			for _, f := range earlier {
				if !slices.Contains(w.lost, f) {
					w.lost = append(w.lost, f)
				}
			}
			if perr != nil {
				e.emit(*e.deadLetter(w.it, w.c, r.To, perr, attempt))
				continue
			}
			e.planRepair(w, c, cur)
			if wait {
				waiting = append(waiting, w)
				continue
			}
			if res != nil {
				if w.confirmed {
					e.rememberWrites(ctx, r, &c)
				}
				e.emit(*res)
				continue
			}
			if (cur.Deleted || !cur.Exists) && c.Op == sfsync.OpUpdate {
				c = e.resurrect(ctx, vc, w, c, cur)
				w.touched = c.Touched()
			}
			dest, err := e.toDestination(r, c)
			if err != nil {
				e.emit(*e.deadLetter(w.it, w.c, r.To, err, attempt))
				continue
			}
			w.c = c
			toWrite = append(toWrite, w)
			out = append(out, dest)
		}
		if len(toWrite) > 0 {
			err := r.Sink.Write(ctx, out)
			applied := make([]*work, 0, len(toWrite))
			for i, w := range toWrite {
				werr := sfsync.ErrorAt(err, i)
				switch {
				case werr == nil:
					applied = append(applied, w)
				case sfsync.IsPermanent(werr):
					e.emit(*e.writeFailed(vc, w, fmt.Errorf("writing to %s: %w", r.To, werr), attempt))
				default:
					w.lastErr = werr
					retry = append(retry, w)
				}
			}
			if len(retry) == 0 && retryingNow {
				// Cleared before the outcomes go out, so that whoever
				// waits for them sees the destination healthy again.
				e.retried(r.To)
				retryingNow = false
			}
			e.applied(ctx, vc, r, applied)
		}
		for _, w := range waiting {
			// Waiting uses up no attempt.
			w.attempts--
		}
		parked = append(parked, waiting...)
		pending = retry
		if len(pending) == 0 {
			return parked
		}
		wait := bo.NextBackOff()
		if ctx.Err() != nil {
			// Shutting down: leave the changes without an outcome; the
			// source redelivers them from the last checkpoint.
			return parked
		}
		if wait < 0 {
			if retryingNow {
				e.retried(r.To)
				retryingNow = false
			}
			for _, w := range pending {
				err := fmt.Errorf("writing to %s failed %d times, giving up: %w", r.To, w.attempts, w.lastErr)
				e.emit(*e.writeFailed(vc, w, err, w.attempts))
			}
			return parked
		}
		for _, w := range pending {
			wait = max(wait, sfsync.RetryAfter(w.lastErr))
		}
		e.stats.retries.Add(int64(len(pending)))
		e.retrying(r.To, pending[0].lastErr, !retryingNow)
		retryingNow = true
		e.log.Debug("sfsync: retrying writes", "to", r.To, "changes", len(pending), "wait", wait, "err", pending[0].lastErr)
		if !sleep(ctx, wait) {
			return parked
		}
	}
	return parked
}

// writeFailed dead-letters a change the target refused. The version map
// records that its source changed the record at its version, which
// explains that system's record version to the changes decided against it
// meanwhile; it claims none of its fields, so that the change, requeued,
// is not compared with itself.
func (e *Engine) writeFailed(vc *versionCache, w *work, err error, attempts int) *result {
	res := e.deadLetter(w.it, w.c, w.route.To, err, attempts)
	res.versions = vc.rememberSeen(&w.c, w.recordKey())
	return res
}

// readState reads the current target records of a group, in canonical shape.
func (e *Engine) readState(ctx context.Context, r *Route, group []*work) (map[string]sfsync.Record, error) {
	if r.State == nil {
		return nil, nil
	}
	byObject := map[string][]string{}
	for _, w := range group {
		if w.c.Op != sfsync.OpEvent && !slices.Contains(byObject[w.c.Object], w.c.RecordID) {
			byObject[w.c.Object] = append(byObject[w.c.Object], w.c.RecordID)
		}
	}
	current := map[string]sfsync.Record{}
	for _, object := range sortedKeys(byObject) {
		m := e.destMapping(r, object)
		name := object
		if m != nil {
			name = m.externalName()
		}
		recs, err := r.State.Read(ctx, name, byObject[object])
		if err != nil {
			return nil, fmt.Errorf("reading current %s records from %s: %w", name, r.To, err)
		}
		for id, rec := range recs {
			if m != nil {
				if rec, err = m.recordToCanonical(rec); err != nil {
					return nil, err
				}
			}
			current[id] = rec
		}
	}
	return current, nil
}

// destMapping is the mapping to apply when writing object to r's system.
func (e *Engine) destMapping(r *Route, object string) *Mapping {
	if r.To.IsSalesforce() {
		return nil
	}
	m := e.maps.bySF[object]
	if m == nil || (m.System != "" && m.System != r.To) {
		return nil
	}
	return m
}

func (e *Engine) toDestination(r *Route, c sfsync.Change) (out sfsync.Change, err error) {
	if c.Op == sfsync.OpEvent {
		return c, nil
	}
	defer func() {
		// A user's converter that panics dead-letters the change.
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: panic while converting the change for %s: %v", sfsync.ErrInvalid, r.To, p)
		}
	}()
	if m := e.destMapping(r, c.Object); m != nil {
		return m.toExternal(c)
	}
	return c, nil
}

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
	stale, whole := vc.staleFields(&c, record, touched, *cur)
	if whole {
		what := fmt.Sprintf("fields %v", stale)
		if c.Op == sfsync.OpDelete {
			what = "the record"
		}
		res := e.final(it, c, dest, sfsync.StatusStale,
			fmt.Sprintf("older than data already applied from %s (%s)", c.Source, what), true)
		res.versions = vc.rememberSeen(&c, record)
		return c, res, false
	}
	if len(stale) > 0 {
		own()
		dropFields(&c, stale)
		touched = without(touched, stale)
		w.notes = append(w.notes, fmt.Sprintf("not %v: newer data from %s already applied", stale, c.Source))
	}
	if w.it.snapshot && known && cur.Exists && !cur.Deleted && c.Op == sfsync.OpUpdate {
		// A snapshot carries one version, the record's, for every field:
		// a field the target already holds is not news, and taking it as
		// changed at that version would let it win over a newer edit of
		// the other side that it never saw.
		var same, pending []string
		for _, f := range touched {
			if v, _ := c.Value(f); sameValue(v, cur.Fields[f]) {
				same = append(same, f)
			} else if vc.changedAfterSync(c.RecordKey(), dest, f, *cur) {
				pending = append(pending, f)
			}
		}
		if len(pending) > 0 {
			// The target changed these fields after the engine last
			// synced its data of them: that change's event decides them
			// against this system's value, with its own version, which
			// the snapshot's record version would wrongly beat.
			own()
			dropFields(&c, pending)
			touched = without(touched, pending)
			w.notes = append(w.notes, fmt.Sprintf("not %v: %s changed them since they were last synced; that change decides", pending, dest))
		}
		if len(same) > 0 {
			own()
			dropFields(&c, same)
			touched = without(touched, same)
			if len(touched) == 0 {
				res := e.final(it, c, dest, sfsync.StatusNoop, joinNotes("target already holds these values", w.notes), true)
				res.versions = vc.rememberSeen(&c, record)
				return c, res, false
			}
			if len(same) > 0 {
				w.notes = append(w.notes, fmt.Sprintf("not %v: the target holds them already", same))
			}
		}
	}
	if c.Op == sfsync.OpUndelete && known && cur.Exists {
		// An undelete carries every value the record had, at its own
		// version; a field the target changed since it was last synced,
		// whose edit is not decided yet, is left to that edit, as for a
		// snapshot. (Nor does the version map take the restored values as
		// changed at the undelete: see applied.)
		var pending []string
		for _, f := range touched {
			if v, _ := c.Value(f); !sameValue(v, cur.Fields[f]) && vc.changedAfterSync(record, dest, f, *cur) {
				pending = append(pending, f)
			}
		}
		if len(pending) > 0 {
			own()
			dropFields(&c, pending)
			touched = without(touched, pending)
			w.notes = append(w.notes, fmt.Sprintf("not %v: %s changed them since they were last synced; that change decides", pending, dest))
		}
	}
	if known && !w.it.repair && landed(*cur, &c, touched) {
		// The target versions its fields, and this change's are there: an
		// earlier attempt (this engine's, or one a crash cut off before its
		// outcome was recorded) applied it, and the fields that differ now
		// were changed after it. Writing again would apply it twice. (A
		// repair borrows the versions it writes, so it is never judged so.)
		w.confirmed = true
		res := e.final(it, c, dest, sfsync.StatusApplied, joinNotes("already applied: the target shows this change's version (the acknowledgement was lost, or a crash lost the outcome)", w.notes), true)
		res.versions = vc.remember(&c, record, touched)
		return c, res, false
	}
	policy := w.route.Policy != nil
	if ahead := vc.describe(&c, record, touched, cur, dest, policy && e.flowsFrom(dest, c.Object), policy, it.lostAt); ahead {
		if w.parkedAt.IsZero() {
			w.parkedAt = time.Now()
		}
		if time.Since(w.parkedAt) < targetAheadWait {
			return c, nil, true
		}
	}
	if known && holds(*cur, &c, touched) {
		if w.attempts > 1 {
			// The target holds exactly what an earlier attempt wrote: that
			// attempt succeeded and only its acknowledgement was lost.
			w.confirmed = true
			res := e.final(it, c, dest, sfsync.StatusApplied, joinNotes("applied; confirmed on retry (acknowledgement was lost)", w.notes), true)
			res.versions = vc.remember(&c, record, touched)
			return c, res, false
		}
		// Both systems hold the data: its version counts as applied, so an
		// older change of the same source that arrives later is stale.
		res := e.final(it, c, dest, sfsync.StatusNoop, joinNotes("target already holds these values", w.notes), true)
		res.versions = vc.remember(&c, record, touched)
		return c, res, false
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
	case w.route.Policy != nil:
		// A policy is the user's code: it gets a copy to look at.
		own()
		d = w.route.Policy.Decide(c, *cur)
	}
	if !d.Apply {
		for _, f := range sortedKeys(d.Dropped) {
			w.notes = append(w.notes, fmt.Sprintf("%s: %s", f, d.Dropped[f]))
		}
		if w.route.State != nil {
			w.lost = touched
			if c.Op == sfsync.OpDelete {
				// A delete touches no field; what lost is the record.
				w.lost = []string{fieldDeleted}
			}
		}
		res := e.final(it, c, dest, sfsync.StatusConflictLost, joinNotes(d.Reason, w.notes), true)
		// The change lost here, but its system holds these values as of
		// this version (until repaired): that is the field's history there.
		res.versions = vc.remember(&c, record, touched)
		return c, res, false
	}
	if c.Op != sfsync.OpDelete {
		var drop []string
		if w.route.Policy != nil {
			keep := make(map[string]bool, len(d.Keep))
			for _, f := range d.Keep {
				keep[f] = true
			}
			for _, f := range touched {
				if !keep[f] {
					drop = append(drop, f)
				}
			}
		}
		if len(drop) > 0 {
			own()
			dropFields(&c, drop)
			touched = without(touched, drop)
		}
		if w.route.State != nil {
			w.lost = drop
		}
		for _, f := range sortedKeys(d.Dropped) {
			w.notes = append(w.notes, fmt.Sprintf("not %s: %s", f, d.Dropped[f]))
		}
		if len(touched) == 0 && c.Op == sfsync.OpUpdate {
			res := e.final(it, c, dest, sfsync.StatusConflictLost, joinNotes("conflict policy kept no field: "+d.Reason, w.notes), true)
			res.versions = vc.rememberSeen(&c, record)
			return c, res, false
		}
		if len(drop) > 0 && known && holds(*cur, &c, touched) {
			// The fields the policy kept are there already: an earlier
			// delivery wrote them (its outcome lost in a crash) or the
			// target has the same values. Writing them again could only
			// overwrite what changed there since.
			w.notes = slices.Insert(w.notes, 0, d.Reason)
			status, why := sfsync.StatusNoop, "target already holds the fields the policy kept"
			if w.attempts > 1 {
				w.confirmed = true
				status, why = sfsync.StatusApplied, "applied; confirmed on retry (acknowledgement was lost)"
			}
			res := e.final(it, c, dest, status, joinNotes(why, w.notes), true)
			res.versions = vc.remember(&c, record, touched)
			return c, res, false
		}
	}
	if d.Reason != "" {
		w.notes = slices.Insert(w.notes, 0, d.Reason)
	}
	w.touched = touched
	return c, nil, false
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

// landed reports whether a target that versions its fields shows c's own
// version on at least one field c sets and nothing older on the others:
// c was applied, whatever changed since.
func landed(cur sfsync.Record, c *sfsync.Change, touched []string) bool {
	if c.Version.IsZero() || !cur.Exists || c.Op == sfsync.OpDelete {
		return false
	}
	exact := 0
	for _, f := range touched {
		fv, ok := cur.FieldVersions[f]
		if !ok || fv.Before(c.Version) {
			return false
		}
		if fv.Compare(c.Version) == 0 {
			exact++
		}
	}
	return exact > 0
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

// applied records successful writes: outcomes, ordering state, and the
// fingerprints that recognise their echoes.
func (e *Engine) applied(ctx context.Context, vc *versionCache, r *Route, ws []*work) {
	if len(ws) == 0 {
		return
	}
	written := make([]*sfsync.Change, len(ws))
	for i, w := range ws {
		written[i] = &w.c
	}
	e.rememberWrites(ctx, r, written...)
	for _, w := range ws {
		// Fields a resurrecting create borrowed are not claimed at its
		// version (see work.borrowed).
		touched := w.touched // as decided
		switch {
		case w.c.Op == sfsync.OpUndelete:
			// The restored values are as old as before the delete: the
			// undelete changed the record, not them.
			touched = nil
		case len(w.borrowed) > 0:
			touched = without(slices.Clone(touched), w.borrowed)
		}
		versions := vc.remember(&w.c, w.recordKey(), touched)
		reason := appliedReason(w.c.Op, w.touched, r.To, w.attempts, w.notes)
		e.emit(result{it: w.it, outcome: e.outcome(w.it, w.c, r.To, sfsync.StatusApplied, reason, w.attempts), claim: true, versions: versions})
	}
}

// appliedReason is the reason of a written change's outcome: "wrote
// [fields] to dest" ("op written to dest" for a delete or an event), the
// attempts when more than one, then the notes. It is built in one piece:
// every applied change has one.
func appliedReason(op sfsync.Op, touched []string, dest sfsync.System, attempts int, notes []string) string {
	var num [20]byte
	n := len(dest) + 32
	for _, f := range touched {
		n += len(f) + 1
	}
	for _, note := range notes {
		n += len(note) + 2
	}
	var b strings.Builder
	b.Grow(n)
	if op == sfsync.OpDelete || op == sfsync.OpEvent {
		b.WriteString(string(op))
		b.WriteString(" written to ")
	} else {
		b.WriteString("wrote [")
		for i, f := range touched {
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(f)
		}
		b.WriteString("] to ")
	}
	b.WriteString(string(dest))
	if attempts > 1 {
		b.WriteString(" after ")
		b.Write(strconv.AppendInt(num[:0], int64(attempts), 10))
		b.WriteString(" attempts")
	}
	for _, note := range notes {
		b.WriteString("; ")
		b.WriteString(note)
	}
	return b.String()
}

// rememberWrites stores the fingerprints that recognise the echoes of
// written changes, where the destination cannot tell our writes by origin.
func (e *Engine) rememberWrites(ctx context.Context, r *Route, written ...*sfsync.Change) {
	if e.provesOrigin(r.To) {
		return
	}
	var fps []string
	for _, c := range written {
		// Where the engine reads no changes of the object from that system,
		// there is no echo to recognise.
		if c.Op != sfsync.OpEvent && e.flowsFrom(r.To, c.Object) {
			if fps == nil { // room for every field of the group at once
				n := 0
				for _, w := range written {
					n += 1 + len(w.Fields) + len(w.Nulled)
				}
				fps = make([]string, 0, n)
			}
			eachFingerprint(r.To, c, e.cfg.ignoredFields, func(_, fp string) { fps = append(fps, fp) })
		}
	}
	if len(fps) == 0 {
		return
	}
	if err := e.st.echoes.RememberWrites(ctx, fps, e.cfg.echoTTL); err != nil {
		e.log.Warn("sfsync: remembering write fingerprints failed; echoes of these writes will be decided by origin and no-op checks", "err", err)
	}
}

// How long a change waits, at most, for the change event that explains a
// target's newer record version, and how often it looks again.
const (
	targetAheadWait = 2 * time.Second
	targetAheadPoll = 20 * time.Millisecond
)

var errNoReconciler = errors.New("sync: a re-read is needed but the engine has no reconciler; add one with WithReconciler")
