package sync

import (
	"time"

	"github.com/sfsync/sfsync"
)

// work is one change in canonical shape, between preparation and outcome.
type work struct {
	it       *item
	c        sfsync.Change
	route    *Route
	attempts int
	lastErr  error
	// confirmed: a retry found the target already holding the write.
	confirmed bool
	// parkedAt is when the change started waiting for the target's change
	// event (see decide).
	parkedAt time.Time
	// parkedAs is what the park tells of this change to the other
	// direction's decisions (see targetParked), taken when it was parked;
	// guarded by the engine's parkMu.
	parkedAs *parkedChange
	// parkedVersion, parkedLives, parkedEnds, parkedDeletes and
	// parkedRepair are the change's version, livesOn, deletesOrRestores,
	// whether it is its system's own delete and whether it is a repair,
	// taken when it was parked: the other
	// direction's decisions read them (see parkedOf) while the park may be
	// writing the change, and with it w.c. Guarded by the engine's parkMu.
	parkedVersion           sfsync.Version
	parkedLives, parkedEnds bool
	parkedRepair            bool
	parkedDeletes           bool
	// lostEarlier lists the fields an earlier attempt of the change lost:
	// this attempt's repair still writes them, so its decision dates the
	// target's data of them too (see decide).
	lostEarlier []string
	// lost lists the fields the conflict policy kept from the target (all
	// of them when nothing was written), and repair the change that brings
	// the losing side to the winner's state (see planRepair).
	lost []string
	// dropped lists the fields the policy kept from the target in the last
	// decision, whatever the route can repair: the version map keeps them
	// as this change's system's own data (see rememberLost).
	dropped []string
	// held lists the fields the policy kept from the target that the
	// target holds with this change's value: the version map claims them
	// as applied (see decide).
	held []string
	// kept lists the fields a record brought back (an undelete, or a
	// repair's create) leaves to the target: its own edits of them lost,
	// or would lose, only to the delete (see targetEditStands). They lost
	// here; an undelete's repair takes them to the source.
	kept []string
	// across lists the fields of kept, for a repair that brings a record
	// back, whose target value nothing else takes to the source: the
	// repair's own repair does (see decide and planRepair).
	across []string
	repair *sfsync.Change
	// repairParts are the parts of the repair whose data is older than
	// repair's, written before it (see planRepair).
	repairParts []repairPart
	// repairClaim is the version the version map takes repair's data at,
	// when not its own (see planRepair).
	repairClaim *sfsync.Version
	// repairFieldsAt is, for a repair that brings a record back whole, the
	// version of each field's data in the winner's record (see
	// item.fieldsAt).
	repairFieldsAt []fieldData
	repairLostAt   sfsync.Version
	holdsForRepair bool
	// borrowed lists the fields a resurrecting create took from the
	// source's record, or from the target's tombstone, not from the
	// change: their data is older than the change's version, and the
	// version map does not claim them at it.
	borrowed []string
	// borrowedAt holds, for the borrowed fields whose record showed them,
	// the version of their data and its system: the version map holds
	// them so once written.
	borrowedAt []fieldData
	// unheld lists the borrowed fields whose target's data the source
	// does not hold (it holds its own change that lost to it): written
	// back into the target, they are claimed at no version, and the
	// target's data reaches the source by its own change or a repair.
	unheld []string
	// shown holds the fields of the change that the target showed applied
	// (see shown), with their data, when the rest was decided anew: the
	// version map learns them with the change's outcome, which a crash
	// had lost with their first write's.
	shown *sfsync.Change
	// resynced lists the fields of repair that resync a crossing write
	// (see planResync); resyncFrom holds, for each, the version of the
	// winner's own data the resynced change was decided against, where
	// the winner had any.
	resynced   []string
	resyncFrom map[string]sfsync.Version
	// resyncUndoes marks a resync whose change a delete of ours removed
	// with the record: the resync brings the record back there.
	resyncUndoes bool
	// mark stands for the write to the target until its echo (see
	// crossings); failedWrite for a write that failed retryably, and may
	// have taken effect, until the retry decides (see afterFailedWrite).
	mark, failedWrite *openWrite
	// echoAwaited: a retry waited for the echo of a failed write once
	// (see afterFailedWrite).
	echoAwaited bool
	notes       []string
	// notesRoom backs notes, which rarely grow past two.
	notesRoom [2]string
	// touched lists the fields of c as decide left it to be written.
	touched []string
	// record caches the record key of c (see recordKey).
	record, recordObject, recordID string
}

// recordKey is w.c.RecordKey(), built once per record: the version map
// and the park look it up several times per change.
func (w *work) recordKey() string {
	if w.record == "" || w.recordObject != w.c.Object || w.recordID != w.c.RecordID {
		w.record, w.recordObject, w.recordID = recordKeyOf(w.it, &w.c), w.c.Object, w.c.RecordID
	}
	return w.record
}

// recordKeyOf is c.RecordKey(), taken from it when c names the record it
// arrived as (no mapping or link renamed it).
func recordKeyOf(it *item, c *sfsync.Change) string {
	if it != nil && c.Object == it.c.Object && c.RecordID == it.c.RecordID {
		return it.recordKey()
	}
	return c.RecordKey()
}

// fieldData is the version of one field's data and the system that made
// it.
type fieldData struct {
	field   string
	sys     sfsync.System
	version sfsync.Version
}

// borrow records that w's change took field along from rec, a record of
// the system its data is taken from (made by that system where rec does
// not say who wrote it).
func (w *work) borrow(field string, rec sfsync.Record, from sfsync.System) {
	w.borrowed = append(w.borrowed, field)
	if v, ok := rec.FieldVersions[field]; ok {
		who := rec.LastWriter[field]
		if who == "" {
			who = from
		}
		w.borrowedAt = append(w.borrowedAt, fieldData{field: field, sys: who, version: v})
	}
}

// rememberShown records in the version map the data of the fields the
// target showed applied (see shown), and returns the entries that moved.
func (w *work) rememberShown(vc *versionCache) []sfsync.AppliedVersion {
	if w.shown == nil {
		return nil
	}
	return vc.remember(w.shown, w.recordKey(), w.shown.Touched())
}

// rememberTombstoned records, with the outcome of a change event read as
// its record's delete (see item.tombstoned), the event's own data as its
// system's that the other system does not hold (see rememberLost), and
// returns the entries that moved.
func (w *work) rememberTombstoned(vc *versionCache) []sfsync.AppliedVersion {
	t := w.it.tombstoned
	if t == nil {
		return nil
	}
	return vc.rememberLost(t, w.recordKey(), t.Touched())
}
