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
		// From before the read until the echo, a write of ours may cross
		// a change of the target (see crossings); marks of changes not
		// written this attempt are taken back when it ends.
		e.markWrites(r, pending)
		current, readErr := e.readState(ctx, r, pending)
		if readErr == nil {
			readErr = e.handOff(ctx, vc, pending, current)
		}
		read := asRead(r, current) // decide completes current in place
		for _, w := range pending {
			if w.mark != nil {
				rec := current[w.c.RecordID]
				e.crossing.readAs(w.mark, &rec)
			}
		}
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
			// So do the fields it kept from the target: the version map
			// keeps them as the source's own data at the change's
			// version, whatever this attempt decides (see carryDecided).
			earlier, earlierDropped, earlierHeld := w.lost, w.dropped, w.held
			w.lost, w.lostEarlier = nil, earlier
			notes := len(w.notes)
			c, res, wait, perr := e.decideSafely(vc, w, &cur, known)
			for _, f := range earlier {
				if !slices.Contains(w.lost, f) {
					w.lost = append(w.lost, f)
				}
			}
			e.carryDecided(vc, w, res, earlierDropped, earlierHeld)
			if perr != nil {
				e.emit(*e.deadLetter(w.it, w.c, r.To, perr, attempt))
				continue
			}
			if res == nil && !wait && w.failedWrite != nil {
				res, wait = e.afterFailedWrite(vc, w, c, cur)
			} else if res != nil && w.failedWrite != nil {
				// The failed write's mark stays until its echo or its
				// expiry: it may have landed, later than anything read
				// since, and a change of the target's committed before
				// it still crosses it (see crossings).
				w.failedWrite = nil
			}
			// The change as decided, before it brings a deleted record back
			// (with fields taken along, or kept from the tombstone): what
			// a crossing write of ours may have overwritten in its own
			// system is its own data, an update's as an update.
			decided := c
			whole := false
			if res == nil && !wait && (cur.Deleted || !cur.Exists) && (c.Op == sfsync.OpUpdate || w.requeuedRecordRepair(&c)) {
				// Brought back whole, it writes more fields than decided;
				// the fields it leaves out lost, and the repair needs them.
				var resurrectWaits bool
				if c, whole, resurrectWaits = e.resurrect(ctx, vc, w, c, cur); whole {
					w.touched = c.Touched()
				} else if resurrectWaits {
					// Nothing of this attempt's decision stands.
					wait, w.lost, w.dropped, w.held = true, earlier, earlierDropped, earlierHeld
				}
			}
			if res == nil && !wait && cur.Deleted && c.Op == sfsync.OpCreate && !whole {
				// A create carries its own fields whole, but not those the
				// policy kept from the target.
				c = c.Clone()
				if attempt == 1 {
					// (A retry writes the create as the earlier attempt
					// built it: the fields that attempt brought along,
					// from the source or the tombstone, stay borrowed.)
					w.borrowed, w.borrowedAt, w.unheld = w.borrowed[:0], w.borrowedAt[:0], w.unheld[:0]
				}
				if w.it.repair {
					e.keepAbsentFromWinner(w, &c, cur)
				}
				if e.keepTombstoneValues(w, &c, cur); len(w.borrowed) > 0 {
					w.touched = c.Touched()
				}
				if w.it.repair {
					// The target's own edits that stand in the record a
					// repair brings back (see decide) are its data alone:
					// the winner never took them, and the version map does
					// not hold them as data both systems hold.
					for _, f := range w.kept {
						if slices.Contains(w.borrowed, f) && !slices.Contains(w.unheld, f) {
							w.unheld = append(w.unheld, f)
						}
					}
				}
			}
			if wait {
				// Waiting decides nothing: the decision made after the
				// wait gives its reasons itself.
				w.notes = w.notes[:notes]
			}
			e.planRepair(w, c, cur, res == nil && !wait)
			if res == nil || res.outcome.Status == sfsync.StatusApplied || res.outcome.Status == sfsync.StatusNoop {
				e.planResync(w, decided, cur)
			}
			if wait {
				waiting = append(waiting, w)
				continue
			}
			if res != nil {
				res.versions = append(res.versions, w.rememberShown(vc)...)
				res.versions = append(res.versions, w.rememberTombstoned(vc)...)
				if w.confirmed {
					e.rememberWrites(ctx, r, &c)
				}
				e.emit(*res)
				continue
			}
			dest, err := e.toDestination(r, c)
			if err != nil {
				e.emit(*e.deadLetter(w.it, w.c, r.To, err, attempt))
				continue
			}
			if v, ok := w.claim(&c); ok {
				// A repair is decided with the losing change's version at
				// least, but its data is the winner's, of the winner's
				// version (see planRepair); a backfill's row holds data
				// from before its pin (see item.pinned). The target
				// versions it so.
				dest.Version = v
			}
			if w.mark != nil {
				e.crossing.writing(w.mark, &c, &cur)
			}
			w.c = c
			toWrite = append(toWrite, w)
			out = append(out, dest)
		}
		if len(toWrite) > 0 {
			err := e.writeDecided(ctx, r, out, toWrite, read)
			for _, w := range toWrite {
				if w.mark != nil {
					e.crossing.sent(w.mark)
				}
			}
			applied := make([]*work, 0, len(toWrite))
			for i, w := range toWrite {
				werr := sfsync.ErrorAt(err, i)
				if werr == nil {
					// Its echo takes the mark back.
					w.mark = nil
				}
				switch {
				case werr == nil:
					applied = append(applied, w)
				case sfsync.IsPermanent(werr):
					e.emit(*e.writeFailed(vc, w, fmt.Errorf("writing to %s: %w", r.To, werr), attempt))
				default:
					w.lastErr = werr
					retry = append(retry, w)
					if w.mark != nil {
						// It may have taken effect: its echo would say so.
						w.failedWrite, w.mark = w.mark, nil
					}
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
		e.unmarkWrites(r, pending)
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

// writeFailed dead-letters a change the target refused. Its system holds
// its data all the same, and the target does not: the version map keeps
// it as a change that lost (see rememberLost), so that the changes decided
// against that system meanwhile are compared with it, and the record
// version it explains; its fields are not claimed in the target, so that
// the change, requeued, is not compared with itself there.
func (e *Engine) writeFailed(vc *versionCache, w *work, err error, attempts int) *result {
	dropResync(w)
	res := e.deadLetter(w.it, w.c, w.route.To, err, attempts)
	// At the version its data is claimed at: a repair's is the winner's
	// own (see claim), never the losing change's, which is another
	// system's clock and would make the winner's later changes look older.
	//
	// Only the change's own data is dead-lettered: the fields a create
	// that brings a record back took along (from the source's record, or
	// kept from the target's tombstone) are other data, at versions of
	// their own, as rememberWritten has them. Claimed at the change's
	// version, they would make the source's value look as new as the change.
	touched := w.c.Touched()
	if len(w.borrowed) > 0 {
		touched = without(touched, w.borrowed)
	}
	res.versions = append(vc.rememberDead(w.claimed(&w.c), w.recordKey(), touched), w.rememberTombstoned(vc)...)
	// What the policy decided stands: the source holds its data of the
	// fields it kept from the target (and both hold those the target had
	// already), as of the change's version. A later change of the
	// target's is decided against them (see carryDecided).
	if w.c.Op != sfsync.OpDelete && len(w.dropped)+len(w.held) > 0 {
		res.versions = append(res.versions, vc.rememberPartly(w.claimed(&w.c), w.recordKey(), w.held, w.droppedData())...)
	}
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

// carryDecided adds to w's decision the fields an earlier attempt's
// policy kept from the target (dropped), or found there already (held),
// that this attempt no longer decides: it decides on the change as that
// attempt wrote it, without them. They stay decided: the source holds
// its data of the dropped ones as of the change's version, which a later
// change of the target's is decided against (see describe); dropped
// from the map, they would meet that change at the source's record
// version, which a change of other fields may have moved. res, when not
// nil, is this attempt's final result, whose map entries take them at
// once; a write takes them from w (see applied).
func (e *Engine) carryDecided(vc *versionCache, w *work, res *result, dropped, held []string) {
	if len(dropped) == 0 && len(held) == 0 {
		return
	}
	touched := w.c.Touched()
	// Those this attempt decides, or decided so already, are its own.
	undecided := func(fields []string) []string {
		return slices.DeleteFunc(slices.Clone(fields), func(f string) bool {
			return slices.Contains(touched, f) || slices.Contains(w.dropped, f) || slices.Contains(w.held, f)
		})
	}
	addDropped, addHeld := undecided(dropped), undecided(held)
	if len(addDropped) == 0 && len(addHeld) == 0 {
		return
	}
	w.dropped, w.held = slices.Concat(w.dropped, addDropped), slices.Concat(w.held, addHeld)
	if res != nil && (res.outcome.Status == sfsync.StatusApplied || res.outcome.Status == sfsync.StatusNoop || res.outcome.Status == sfsync.StatusConflictLost) {
		res.versions = append(res.versions, vc.rememberPartly(w.claimed(&w.c), w.recordKey(), addHeld, addDropped)...)
	}
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
		touched := w.touched // as decided
		if w.c.Op == sfsync.OpUndelete {
			// The restored values are as old as before the delete: the
			// undelete changed the record, not them.
			touched = nil
		}
		if len(w.held) > 0 {
			touched = append(slices.Clone(touched), w.held...)
		}
		// Appended, not concatenated: the written change's entries are
		// the whole of it on the common path, with no copy.
		versions := append(append(w.rememberWritten(vc, &w.c, w.recordKey(), touched), w.rememberShown(vc)...), w.rememberTombstoned(vc)...)
		reason := appliedReason(w.c.Op, w.touched, r.To, w.attempts, w.notes)
		e.emit(result{it: w.it, outcome: e.outcome(w.it, w.c, r.To, sfsync.StatusApplied, reason, w.attempts), claim: true, versions: versions})
	}
}

// rememberWritten records in the version map that both systems hold c's
// data of touched (and that the fields w dropped lost), as written by w:
// fields a resurrecting create borrowed are not claimed at its version
// but at their own, where known (see work.borrowed), and so are the fields
// of a repair that brings a record back whole (see item.fieldsAt). It
// serves a write and a retry that finds the write in the target.
func (w *work) rememberWritten(vc *versionCache, c *sfsync.Change, record string, touched []string) []sfsync.AppliedVersion {
	var repaired []sfsync.AppliedVersion
	if w.it.repair {
		// The loser holds the winner's data of touched now: its change
		// that lost them is repaired.
		repaired = vc.repaired(record, w.route.To, touched, w.it.lostAt)
	}
	if len(w.borrowed) > 0 {
		touched = without(slices.Clone(touched), w.borrowed)
	}
	var own []fieldData
	for _, d := range w.it.fieldsAt {
		if slices.Contains(touched, d.field) {
			own = append(own, d)
		}
	}
	if len(own) > 0 {
		touched = slices.DeleteFunc(slices.Clone(touched), func(f string) bool {
			return slices.ContainsFunc(own, func(d fieldData) bool { return d.field == f })
		})
	}
	versions := vc.rememberPartly(w.claimed(c), record, touched, w.droppedData())
	for _, b := range slices.Concat(w.borrowedAt, own) {
		if slices.Contains(w.unheld, b.field) {
			continue
		}
		// Both systems hold the data now, of its own version.
		versions = append(versions, vc.rememberData(record, b, dataHash(c, b.field))...)
	}
	return append(versions, repaired...)
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
