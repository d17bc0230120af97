package sync

import (
	"context"
	"fmt"
	"time"

	"github.com/sfsync/sfsync"
)

// The hand-off between snapshots and the stream.
//
// A record read from Salesforce (a backfill's or reconciliation's row)
// carries its SystemModstamp, which has whole seconds: the change it shows
// was made at some instant of that second. A change event carries its
// commit timestamp and commit number. The version map orders the two
// exactly only when their seconds differ: a row of a later second than
// the version applied for its record applies, an event older than the
// applied version is stale. A row of the applied event's second may hold
// that event's change, an earlier one, or a later one whose event never
// came; an event of an applied row's second may be older or newer than the
// row. Versions cannot tell, so the record is re-read by id and what it
// holds now decides: a re-read made after the applied change includes it,
// and so it is decided as just after it. A row or event whose values the
// target already holds is no news whatever the order, and needs no
// re-read; that is the common case of a backfill beside the stream (the
// row of a record is the last event's change).
//
// The rule holds for changes of Salesforce with a reconciler to re-read
// them; without one, a tie is decided as [sfsync.Version.Compare] orders
// it.

// handOff settles the order of group's changes whose version falls in the
// second of the version applied for their record (see above), re-reading
// them by id in place, and marks changes re-read so (and gap re-reads) as
// just after what was applied. current is the target's state of the group.
// An error leaves the group to be tried again, as a failed read of the
// target does.
func (e *Engine) handOff(ctx context.Context, vc *versionCache, group []*work, current map[string]sfsync.Record) error {
	if e.cfg.reconciler == nil {
		return nil
	}
	var unclear []*work
	for _, w := range group {
		if !handsOff(w) {
			continue
		}
		applied, err := appliedOf(ctx, vc, w)
		if err != nil {
			return err
		}
		if w.it.settled && (w.it.settledOver == nil || w.it.settledOver.Compare(applied) == 0) {
			w.c.Version = e.settledVersion(w.c.Version, sfsync.Version{}, applied)
			continue
		}
		if w.it.requeue != nil && w.it.snapshot && !w.it.settled {
			// A row requeued from the dead letters holds the record as it
			// was read, before whatever was written to it since (our
			// own writes among it, whose versions are on other clocks):
			// what it holds now decides.
			unclear = append(unclear, w)
			continue
		}
		if !sameSecond(w.c.Version, applied) {
			continue
		}
		if cur, known := current[w.c.RecordID]; known && holds(cur, &w.c, w.c.Touched()) {
			continue
		}
		unclear = append(unclear, w)
	}
	if len(unclear) == 0 {
		return nil
	}
	// One re-read per object, of every record whose order is unclear.
	byObject := map[string][]*work{}
	for _, w := range unclear {
		byObject[w.it.c.Object] = append(byObject[w.it.c.Object], w)
	}
	for _, object := range sortedKeys(byObject) {
		if err := e.rereadInPlace(ctx, vc, object, byObject[object]); err != nil {
			return err
		}
	}
	return nil
}

// handsOff reports whether w's order against the version map may need
// settling: a Salesforce change of a record's data with a version, not a
// repair, and not a change whose own re-read follows its write.
func handsOff(w *work) bool {
	switch w.c.Op {
	case sfsync.OpCreate, sfsync.OpUpdate, sfsync.OpDelete, sfsync.OpUndelete:
	default:
		return false
	}
	return w.c.Source.IsSalesforce() && !w.c.Version.IsZero() && !w.it.repair &&
		len(w.c.Reread) == 0 && w.it.hold == nil
}

// appliedOf returns the newest version the map holds of w's source's data
// of its record (zero for none).
func appliedOf(ctx context.Context, vc *versionCache, w *work) (sfsync.Version, error) {
	record := w.recordKey()
	held, err := vc.newestOf(ctx, []string{record}, w.c.Source)
	if err != nil {
		return sfsync.Version{}, fmt.Errorf("reading the applied version of %s: %w", record, err)
	}
	return held[record], nil
}

// rereadInPlace re-reads the records of ws, all of object, by id, and puts
// each record's state in place of its change: under the change's key and
// position, decided as a snapshot just after both the change and what was
// applied.
func (e *Engine) rereadInPlace(ctx context.Context, vc *versionCache, object string, ws []*work) error {
	ids := make([]string, 0, len(ws))
	for _, w := range ws {
		ids = append(ids, w.it.c.RecordID)
	}
	reason := fmt.Sprintf("order unclear: version in the second of the one applied (SystemModstamp has whole seconds), %d record(s)", len(ids))
	read := map[string]sfsync.Change{}
	err := e.cfg.reconciler.Reconcile(ctx, sfsync.Scope{Tenant: e.cfg.tenant, Object: object, IDs: ids, Reason: reason},
		func(ctx context.Context, c sfsync.Change) error {
			read[c.RecordID] = c
			return ctx.Err()
		})
	if err != nil {
		return fmt.Errorf("re-reading %d %s record(s) whose order against the applied version is unclear: %w", len(ids), object, err)
	}
	for _, w := range ws {
		c, ok := read[w.it.c.RecordID]
		if !ok {
			// The authority may spell the id otherwise (15 or 18
			// characters).
			for id, r := range read {
				if sfsync.SameID(id, w.it.c.RecordID) {
					c, ok = r, true
					break
				}
			}
		}
		switch {
		case !ok:
			return fmt.Errorf("%w: reconciler answered a re-read of %s/%s with nothing", sfsync.ErrInvalid, object, w.it.c.RecordID)
		case c.Op.NeedsReread():
			return fmt.Errorf("%w: reconciler answered a re-read of %s/%s with a %s change", sfsync.ErrInvalid, object, w.it.c.RecordID, c.Op)
		}
		applied, err := appliedOf(ctx, vc, w)
		if err != nil {
			return err
		}
		was := w.c.Version
		// The change's own key, position and id spelling: the outcome is
		// the change's, and the version map knows the record by its id.
		c.Key, c.Position, c.RecordID = w.it.c.Key, w.it.c.Position, w.it.c.RecordID
		if err := e.validate(&c); err != nil {
			return err
		}
		if !w.it.c.Snapshot {
			read := c.Clone()
			read.Snapshot = true
			w.it.rereadAs = &read
		}
		if err := e.transform(ctx, &c); err != nil {
			return err
		}
		c.Version = e.settledVersion(c.Version, was, applied)
		if !w.it.snapshot && w.c.Op == sfsync.OpDelete && c.Op == sfsync.OpDelete && applied.Before(was) &&
			c.Version.Time.Truncate(time.Second).Equal(was.Time.Truncate(time.Second)) {
			// A delete event whose record is still deleted, and was not
			// deleted again in a later second: the delete read is the
			// event's own, newer than what was applied, and its commit
			// time is exact. The end of its second would date it up to a
			// second late, against the other system's clock too.
			c.Version = was
		}
		if !w.it.snapshot {
			// A change event: what it set, and the record still holds,
			// is its own change.
			w.it.eventFields, w.it.eventAt = w.it.eventFields[:0], was
			for _, f := range w.c.Touched() {
				if v, ok := w.c.Value(f); ok {
					if now, held := c.Value(f); held && sameValue(v, now) {
						w.it.eventFields = append(w.it.eventFields, f)
					}
				}
			}
		}
		if !w.it.snapshot && c.Op == sfsync.OpDelete && tombstoned(w.it, &w.c) {
			// The event's change came before the delete read, and its
			// data is in the tombstone (see item.tombstoned).
			ev := w.c.Clone()
			w.it.tombstoned = &ev
		}
		w.c = c
		w.it.snapshot, w.it.settled = true, true
		w.notes = append(w.notes, fmt.Sprintf("re-read by id: version %s in the second of the applied %s", was, applied))
	}
	return nil
}

// sameSecond reports whether v and applied cannot be ordered because one
// of them is a record version of whole seconds (SystemModstamp: no commit
// number or counter) and the other falls in that second. Two versions with
// commit numbers or counters, or of different seconds, order exactly.
func sameSecond(v, applied sfsync.Version) bool {
	if applied.IsZero() || (v.Counter != 0 && applied.Counter != 0) {
		return false
	}
	vs, as := wholeSecond(v), wholeSecond(applied)
	if !vs && !as {
		return false
	}
	return v.Time.Truncate(time.Second).Equal(applied.Time.Truncate(time.Second))
}

// wholeSecond reports whether v may stand for any instant of its second:
// a record version as Salesforce reports it.
func wholeSecond(v sfsync.Version) bool {
	return v.Commit == 0 && v.Counter == 0 && v.Seq == 0 && v.Time.Equal(v.Time.Truncate(time.Second))
}

// settledVersion is the version a record re-read by id is decided at:
// read is its own (SystemModstamp), was that of the change it replaces
// (zero for none), applied the newest one applied for the record before
// the re-read. The re-read holds every change applied before it, so it is
// decided as newer than them: at its own version when that is newer than
// both in a later second; else at the end of the applied change's second,
// when that second is over (the engine's clock is past it by more than
// clockSkew): every commit of it is in what was read, and an event of that
// second arriving later is stale; else just after the applied change and
// the replaced one.
func (e *Engine) settledVersion(read, was, applied sfsync.Version) sfsync.Version {
	v := newest(read, was)
	if applied.IsZero() || (applied.Before(v) && !sameSecond(v, applied)) {
		return v
	}
	if second := applied.Time.Truncate(time.Second); wholeSecond(read) && !read.Time.Before(second) &&
		e.cfg.clock().After(second.Add(time.Second+clockSkew)) {
		return newest(v, sfsync.Version{Time: second.Add(time.Second - time.Nanosecond)})
	}
	return justAfter(newest(v, applied))
}

// clockSkew is how far the engine's clock may be behind the org's for
// settledVersion.
const clockSkew = 5 * time.Second

// justAfter is the version right after v: newer than v and than every
// change that v's own is newer than, older than every later change of
// another transaction (zero for zero). Versions with a Counter compare by
// it alone, and nothing lies between two counters: v's system's next
// change ties with it, and no later change of that system is older.
// (Seq alone would leave it equal to v.)
func justAfter(v sfsync.Version) sfsync.Version {
	if v.IsZero() {
		return v
	}
	v.Seq++
	if v.Counter != 0 {
		v.Counter++
	}
	return v
}

func newest(a, b sfsync.Version) sfsync.Version {
	if a.Before(b) {
		return b
	}
	return a
}
