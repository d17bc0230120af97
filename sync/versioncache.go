package sync

import (
	"container/list"
	"context"
	"fmt"
	"slices"
	"strings"
	stdsync "sync"
	"time"

	"github.com/sfsync/sfsync"
)

// Names the version map reserves for the record as a whole; field names of
// Salesforce and of mappings never start with a NUL byte.
const (
	// fieldAny holds the newest change of the record that was not a delete.
	fieldAny = ""
	// fieldDeleted holds the newest delete: a tombstone that keeps an older
	// create or update from bringing the record back.
	fieldDeleted = "\x00deleted"
	// fieldEcho holds the newest echo of our own writes the system sent:
	// it explains the system's record version, and says the record lived
	// there then, but its version is the written change's (another
	// system's clock, for a system that keeps the versions written), and
	// it is not the system's own data: no change of the system is stale
	// against it.
	fieldEcho = "\x00echo"
	// fieldMade holds the newest echo of a write of ours that created the
	// record in the system, or brought it back: the record lives there
	// because of our write (see madeByUs).
	fieldMade = "\x00made"
	// fieldUnmapped holds the newest change of the system that changed no
	// mapped field (a save of nothing, or of fields the sync does not
	// hold): it explains the system's record version, and says the record
	// lived there then, but it changed no data: a delete or undelete is
	// not decided against it, and nothing is stale against it.
	fieldUnmapped = "\x00unmapped"
	// fieldDeleteLost holds the newest delete of the system's that lost
	// its conflict: the record is brought back there, and the delete
	// makes no older data of the system's stale (see liveAgain).
	fieldDeleteLost = "\x00deleteLost"
	// lostPrefix names the entry of a field whose change lost its
	// conflict: its system holds that data (until repaired), the other
	// does not, so it describes the field only in its own system.
	lostPrefix = "\x00lost:"
	// deadPrefix names the entry of a field whose change was
	// dead-lettered: like a lost entry, its system holds that data and
	// the other does not, but nothing decided it yet; its requeue will
	// (see changedAfterSync).
	deadPrefix = "\x00dead:"
	// repairedPrefix names the entry of a field that holds the version of
	// its system's newest change that lost whose repair landed: the
	// system took the winner's data of the field, or held it already. The
	// field's lost entry, at that version or older, is data the system
	// holds no more (see holdsValue). It is an entry of its own, not the
	// lost entry changed: the losing change's outcome, with its lost
	// entry, is committed after its repair's.
	repairedPrefix = "\x00repaired:"
)

// versionCache is the engine's cache of the durable version map
// ([sfsync.VersionStore]): per record, source system and field, the newest
// version whose data both systems hold (applied, already there, or our own
// echo). It keeps a change that arrives late, is redelivered, retried,
// requeued or re-read from overwriting newer data of the same source, and
// gives the conflict policy per-field writers and tombstones where the
// target cannot report them.
//
// The cache is bounded: the least recently used records are forgotten, but
// never one whose newest entries are not committed yet (the store would
// answer with older ones). It is shared by the workers: the changes of one
// record from different systems may arrive under different ids (a
// Salesforce id, a link), and so in different lanes.
type versionCache struct {
	mu      stdsync.Mutex
	limit   int
	records map[string]*list.Element
	lru     list.List
	store   sfsync.VersionStore
	names   *nameTable
	// unsaved reports whether a record has entries on their way to the store.
	unsaved func(record string) bool
}

func newVersionCache(limit int, store sfsync.VersionStore, unsaved func(string) bool) *versionCache {
	return &versionCache{limit: max(limit, 16), records: map[string]*list.Element{}, store: store, names: newNameTable(), unsaved: unsaved}
}

// newestOf returns, per record, the newest version the map holds of sys's
// data, in any field; a record without one is absent.
func (vc *versionCache) newestOf(ctx context.Context, records []string, sys sfsync.System) (map[string]sfsync.Version, error) {
	if err := vc.load(ctx, records); err != nil {
		return nil, err
	}
	vc.mu.Lock()
	defer vc.mu.Unlock()
	out := make(map[string]sfsync.Version, len(records))
	sid, known := vc.names.find(string(sys))
	if !known {
		return out, nil
	}
	for _, key := range records {
		el, ok := vc.records[key]
		if !ok {
			continue
		}
		for _, e := range el.Value.(*recordVersions).entries {
			if e.source != sid {
				continue
			}
			if cur, ok := out[key]; !ok || cur.Before(e.version()) {
				out[key] = e.version()
			}
		}
	}
	return out, nil
}

// load makes sure the versions of records are cached, reading the ones that
// are not from the store in one call.
func (vc *versionCache) load(ctx context.Context, records []string) error {
	var missing []string
	vc.mu.Lock()
	for _, r := range records {
		if _, ok := vc.records[r]; !ok && !slices.Contains(missing, r) {
			missing = append(missing, r)
		}
	}
	vc.mu.Unlock()
	if len(missing) == 0 {
		return nil
	}
	entries, err := vc.store.AppliedVersions(ctx, missing)
	if err != nil {
		return fmt.Errorf("reading applied versions of %d records: %w", len(missing), err)
	}
	vc.mu.Lock()
	defer vc.mu.Unlock()
	fresh := map[string]*recordVersions{}
	for _, r := range missing {
		// Another worker may have loaded, and moved, it meanwhile.
		if _, ok := vc.records[r]; !ok {
			fresh[r] = vc.add(r)
		}
	}
	for _, av := range entries {
		if rv, ok := fresh[av.Record]; ok {
			rv.set(av.Source, av.Field, av.Version, av.ValueHash)
		}
	}
	return nil
}

func (vc *versionCache) add(key string) *recordVersions {
	rv := &recordVersions{key: key, names: vc.names}
	vc.records[key] = vc.lru.PushFront(rv)
	for tries := vc.lru.Len(); vc.lru.Len() > vc.limit && tries > 0; tries-- {
		old := vc.lru.Back()
		k := old.Value.(*recordVersions).key
		if vc.unsaved(k) {
			vc.lru.MoveToFront(old)
			continue
		}
		vc.lru.Remove(old)
		delete(vc.records, k)
	}
	return rv
}

// get returns the cached versions of key; load must have been called, and
// vc.mu is held.
func (vc *versionCache) get(key string) *recordVersions {
	el, ok := vc.records[key]
	if !ok {
		// Not loaded (a store error was tolerated): decide on what the
		// target reports, and remember from here on.
		return vc.add(key)
	}
	vc.lru.MoveToFront(el)
	return el.Value.(*recordVersions)
}

// staleFields returns the fields of c for which newer data from c's source
// is already held, and whether the change as a whole is older than what is
// held: a delete older than a later change or delete, or a create or update
// older than a delete of the same source. record is c's record key and
// touched c.Touched(), which the caller has at hand.
func (vc *versionCache) staleFields(c *sfsync.Change, record string, touched []string, cur sfsync.Record) (stale []string, whole bool) {
	if c.Version.IsZero() {
		if c.Origin.Client != repairClient {
			return nil, false
		}
		// A repair that clears fields its system never set carries no
		// version (see planRepair): any data of that system for a field
		// is newer than that absence (a repair requeued late).
		vc.mu.Lock()
		defer vc.mu.Unlock()
		rv := vc.get(record)
		for _, f := range touched {
			if _, set := rv.ownData(c.Source, f); set || cur.LastWriter[f] == c.Source {
				stale = append(stale, f)
			}
		}
		return stale, len(stale) > 0 && len(stale) == len(touched)
	}
	vc.mu.Lock()
	defer vc.mu.Unlock()
	rv := vc.get(record)
	// A repair writes its system's data to the system that lost to it:
	// that system's own change that lost in its turn never reached the
	// target, and the repair is what brings the winner's value there. Only
	// the data applied there makes a repair stale.
	repair := c.Origin.Client == repairClient
	at := c.Version
	newer := func(field string) bool {
		own, ok := rv.ownData(c.Source, field)
		if repair {
			own, ok = rv.version(c.Source, field)
		}
		if ok && at.Before(own) {
			return true
		}
		if field == fieldAny || field == fieldDeleted {
			return false
		}
		if cur.LastWriter[field] == c.Source && !rv.carriedAlong(c.Source, field, cur.Fields[field]) {
			if v, ok := cur.FieldVersions[field]; ok && at.Before(v) {
				return true
			}
		}
		return false
	}
	if c.Op == sfsync.OpDelete {
		if secondOnly(at) {
			// A delete dated by its tombstone as read carries only the
			// second (a record-level version, as Salesforce's REST API
			// shows it): it is the record's last change, not older than
			// any data of its system from that same second.
			at = sfsync.Version{Time: at.Time.Truncate(time.Second).Add(time.Second - 1)}
		}
		return nil, newer(fieldAny) || newer(fieldDeleted)
	}
	if newer(fieldDeleted) && !rv.liveAgain(c.Source) {
		return touched, true
	}
	for _, f := range touched {
		if newer(f) {
			stale = append(stale, f)
		}
	}
	return stale, len(stale) > 0 && len(stale) == len(touched)
}

// carriedAlong reports whether value, which the target shows in field as
// written by sys (a target that keeps the versions written stamps every
// field of our write with the write's system and version), is another
// system's data that our write carried along, not sys's: the map holds no
// data of sys's for the field, and versions value as another system's. A
// record our write of sys's change brought back keeps the target's own
// values from its tombstone (see keepTombstoneValues): they are the
// target's data, of their own versions, and no change of sys's is older
// than them for being older than that write. Where the change's outcome
// was lost (a crash), the map does not know that; an older change of
// sys's, redelivered, would be dropped as stale against them, and the
// repair that takes the target's values to sys (lost with the outcome)
// would never be made again (seed 102518).
func (rv *recordVersions) carriedAlong(sys sfsync.System, field string, value any) bool {
	if _, ok := rv.version(sys, field); ok {
		return false
	}
	fid, ok := rv.names.find(field)
	if !ok {
		return false
	}
	sid, known := rv.names.find(string(sys))
	h := valueHash(value)
	for i := range rv.entries {
		if e := &rv.entries[i]; e.field == fid && (!known || e.source != sid) && e.hash != 0 && e.hash == h {
			return true
		}
	}
	return false
}

// lived returns the newest version at which sys showed the record live:
// its own change, or the echo of our write there.
func (rv *recordVersions) lived(sys sfsync.System) (sfsync.Version, bool) {
	v, ok := rv.version(sys, fieldAny)
	for _, f := range [...]string{fieldEcho, fieldUnmapped} {
		if e, eok := rv.version(sys, f); eok && (!ok || v.Before(e)) {
			v, ok = e, true
		}
	}
	return v, ok
}

// newestStandingDelete returns the newest delete of the record in the map
// that may describe a tombstone in target, and whose. It leaves out a
// system's delete that a write of ours undid since (it made the record
// there again: see madeByUs): that system holds the record once more, and
// its delete describes no tombstone elsewhere: a tombstone in another
// system is that system's own doing, or another delete's. It leaves out,
// too, a delete that lost where target had the record: it was never
// applied there, and target kept the record; a tombstone there now is
// target's own later delete, or another's. (A delete that lost only because
// target never had the record still stands: an older change of the
// deleter's must not make the record there.)
func (rv *recordVersions) newestStandingDelete(target sfsync.System) (sfsync.Version, sfsync.System, bool) {
	_, targetHad := rv.lived(target)
	return rv.newestExcept(fieldDeleted, func(src sfsync.System, del sfsync.Version) bool {
		if made, ok := rv.version(src, fieldMade); ok && del.Before(made) {
			return true
		}
		lost, ok := rv.version(src, fieldDeleteLost)
		return ok && !lost.Before(del) && targetHad && src != target
	})
}

// ownDelete returns the version of sys's newest delete of the record.
func (vc *versionCache) ownDelete(record string, sys sfsync.System) (sfsync.Version, bool) {
	vc.mu.Lock()
	defer vc.mu.Unlock()
	return vc.get(record).version(sys, fieldDeleted)
}

// syncedSinceDelete reports whether value, target's value of field, is
// the newest data of field the map holds (both systems held it), target's
// own, at a version newer than source's newest delete of the record: the
// source took it after its delete, so a value its undelete restores (as
// of that delete) is older.
func (vc *versionCache) syncedSinceDelete(record string, source, target sfsync.System, field string, value any) bool {
	del, deleted := vc.ownDelete(record, source)
	if !deleted {
		return false
	}
	at, who, ok := vc.syncedDataOf(record, field, value)
	return ok && who == target && del.Before(at)
}

// beforeOwnDelete reports whether v, a version of sys's, is older than
// sys's newest delete of the record, and the record has not lived there
// since: a change of sys's at v is stale against that delete.
func (vc *versionCache) beforeOwnDelete(record string, sys sfsync.System, v sfsync.Version) bool {
	vc.mu.Lock()
	defer vc.mu.Unlock()
	rv := vc.get(record)
	del, deleted := rv.version(sys, fieldDeleted)
	return deleted && v.Before(del) && !rv.liveAgain(sys)
}

// liveAgain reports whether sys changed the record after its newest delete
// of it (an undelete): the record lives there again with its data from
// before the delete, so an older change of sys is judged field by field,
// not by the tombstone.
func (rv *recordVersions) liveAgain(sys sfsync.System) bool {
	del, deleted := rv.version(sys, fieldDeleted)
	if !deleted {
		return false
	}
	if alive, ok := rv.version(sys, fieldAny); ok && del.Before(alive) {
		return true
	}
	// A write of ours brought the record back there (its delete lost):
	// its echo came.
	if made, ok := rv.version(sys, fieldMade); ok && del.Before(made) {
		return true
	}
	// The delete lost: the record is on its way back there, and the
	// system's data from before the delete is judged field by field.
	lost, ok := rv.version(sys, fieldDeleteLost)
	return ok && !lost.Before(del)
}

// describe completes what the target reported of a record with what the
// version map knows: a tombstone newer than the record's last change
// (the target may only say the record is absent), and, for fields the
// target does not version, the version and system of the newest data.
//
// A target that versions only whole records (Salesforce's SystemModstamp)
// says that something changed at cur.Version, not what. When the engine
// has seen the target's own change at that version, the map knows which
// fields it touched and is exact for the others; until then (ahead), it
// cannot tell, and the record's version stands for every field.
//
// flows says whether the target's changes of the record reach the engine
// at all: only then is there an event to wait for. flowsRecord says so for
// a delete or undelete, which waits only when no change of the target's
// for the record is parked. record is c's record key and touched
// c.Touched().
//
// The fields' versions and writers, and ahead, are for a conflict policy:
// without one (policy false) only the tombstone is filled in, and ahead is
// false.
//
// lostAt is set for a repair: the version of the target's change that lost
// its conflict. The target holds that change's data (or its own later
// data) in the fields it touched, whatever the map holds from other
// systems with versions of another clock; so the target's own entry
// describes those fields.
//
// unseen says that the target's changes of the record up to cur's version
// never reach the engine (their events expired before it read them): it
// does not wait for them, and takes a field whose value in cur the map
// has never versioned as set by one of them, at cur's version.
//
// lostBefore, when not zero, says that the target's changes of the record
// before it may have been lost so, though cur's version is past them: a
// field whose newest data the map holds from before lostBefore, and whose
// value in cur the map has never versioned, was set by one of them, at
// lostBefore at the latest.
func (vc *versionCache) describe(c *sfsync.Change, record string, touched []string, cur *sfsync.Record, target sfsync.System, flows, flowsRecord, policy, unseen bool, lostBefore, lostAt sfsync.Version, parked *targetParked) (ahead bool) {
	vc.mu.Lock()
	defer vc.mu.Unlock()
	rv := vc.get(record)
	if del, deleter, ok := rv.newestStandingDelete(target); ok {
		// Only the target's own later change says that the record lived
		// there again after the delete. Another system's (on another
		// clock) may have lost against the delete, and brought nothing
		// back; one that won brought the record back, and the target
		// shows it.
		alive, _, hasAlive := rv.newest(fieldAny)
		if target != "" {
			alive, hasAlive = rv.lived(target)
		}
		if (!cur.Exists || cur.Deleted) && (!hasAlive || alive.Before(del)) {
			cur.Exists, cur.Deleted = true, true
			// The record-level writer of a tombstone is its deleter: a
			// system's own later change supersedes its own delete. Its
			// version is the delete's: a target that keeps its record's
			// last version in the tombstone shows the change our write of
			// the delete removed (which the delete was decided against,
			// and may be newer on the target's clock), not the delete.
			if _, known := cur.LastWriter[fieldAny]; !known {
				if cur.LastWriter == nil {
					cur.LastWriter = map[string]sfsync.System{}
				}
				cur.LastWriter[fieldAny] = deleter
				cur.Version = del
			} else if cur.Version.Before(del) {
				cur.Version = del
			}
		}
	}
	if !policy {
		return false
	}
	if !cur.Exists && flows && target != "" {
		if _, existed := rv.lived(target); existed {
			// The target had the record (the engine saw a change of it
			// there) and has it no more, with no delete in the map: its
			// delete's event is on its way, and decides who wins.
			return true
		}
	}
	if cur.Exists && cur.Deleted && target != "" {
		// A tombstone the map has no delete for was made by the target
		// itself (its delete's event is not decided yet).
		if _, known := cur.LastWriter[fieldAny]; !known {
			if cur.LastWriter == nil {
				cur.LastWriter = map[string]sfsync.System{}
			}
			cur.LastWriter[fieldAny] = target
		}
	}
	explained := rv.explains(target, cur.Version) || parked.explains(cur.Version)
	if cur.Exists && !cur.Deleted && target != "" && parked.livedAt(cur.Version) {
		// The record's last change there is the target's own, received
		// and parked (an undelete whose write is retried, say): its writer
		// decides a tie for a delete or undelete decided against it, as
		// it does in the other direction.
		if _, known := cur.LastWriter[fieldAny]; !known {
			if cur.LastWriter == nil {
				cur.LastWriter = map[string]sfsync.System{}
			}
			cur.LastWriter[fieldAny] = target
		}
	}
	if explained && cur.Exists && !cur.Deleted && len(cur.FieldVersions) == 0 && rv.echoContradicted(target, *cur) {
		// Our echo's second is the record's, but not its values: the
		// target's own change in that second is what it shows.
		explained = false
	}
	if explained && cur.Exists && !cur.Deleted && len(cur.FieldVersions) == 0 && target != "" {
		// A target that versions only whole records stamps our own writes
		// too: its record version may be the time it took a write of
		// another system's older change. Every change behind it has been
		// seen, so the record's last change, for a delete or undelete
		// decided against it, is the newest data the map holds, by whom
		// it was made; or, where the target deleted the record and changed
		// it since (an undelete), the target's own newest change if that
		// is newer: the undelete restores data, which the map keeps at its
		// older versions (see applied), and our later write of older data
		// of another system does not make the record older.
		if _, known := cur.LastWriter[fieldAny]; !known {
			v, who, ok := rv.newestData(target)
			del, deleted := rv.version(target, fieldDeleted)
			if own, held := rv.version(target, fieldAny); deleted && held && del.Before(own) && (!ok || v.Before(own)) {
				v, who, ok = own, target, true
			}
			if own, held := rv.version(target, fieldAny); held && ok && who != target && rv.echoedBefore(target, own) {
				// As for a field (below): the newest data by version may
				// be another system's, on another clock, that the target
				// took before its own change came, after the echo of our
				// newest write there. The target's stream orders them.
				v, who = own, target
			}
			if ok && who == c.Source && (c.Op == sfsync.OpDelete || c.Op == sfsync.OpUndelete) && v.Before(c.Version) {
				// The newest data there is the deleter's own, older than
				// its delete on its own clock: the delete was made after
				// it, and beats it. What it may tie with, or lose to, is
				// the other system's data there, which it is decided
				// against, as that system's change is against the
				// deleter's tombstone in the other direction.
				if ov, owho, found := rv.newestStandingData(target, c.Source); found {
					v, who = ov, owho
				}
			}
			if ok {
				cur.Version = v
				if cur.LastWriter == nil {
					cur.LastWriter = map[string]sfsync.System{}
				}
				cur.LastWriter[fieldAny] = who
			}
		}
	}
	// unseenBy is the latest version at which a change of the target's
	// that the engine never sees may have set a field: the record's
	// version when such changes made it, else the end of the span whose
	// changes may have been lost, behind later changes that came.
	var unseenBy sfsync.Version
	switch {
	case unseen && !explained:
		unseenBy = cur.Version
	case !unseen:
		unseenBy = lostBefore
	}
	unversioned := false
	for _, f := range touched {
		if _, ok := cur.FieldVersions[f]; ok {
			continue
		}
		unversioned = true
		if _, ok := cur.LastWriter[f]; ok {
			continue
		}
		v, who, ok := rv.newest(f)
		if own, held := rv.ownData(target, f); held && !lostAt.IsZero() && !own.Before(lostAt) {
			v, who, ok = own, target, true
		}
		if own, held := rv.version(target, lostPrefix+f); held && (!ok || v.Before(own)) {
			// The target's own change that lost holds there (until
			// repaired), newer than what was written to it.
			v, who, ok = own, target, true
		}
		if own, held := rv.ownData(target, f); held && ok && who != target && rv.echoedBefore(target, own) {
			// Data of another system's written there has a version on
			// that system's clock, which cannot be ordered against the
			// target's: the target's own stream can, and a change of its
			// (applied, or lost) after the echo of our newest write there
			// came after every write of ours.
			v, who = own, target
		}
		if pv, held := parked.field(f); held && (!ok || v.Before(pv)) {
			// The target's own change of the field, received and parked:
			// its data there is of that change's version.
			v, who, ok = pv, target, true
		}
		if !unseenBy.IsZero() && cur.Exists && !cur.Deleted && (!ok || v.Before(unseenBy)) {
			// The target changed the record after the map's newest data,
			// in changes the engine will never see: a value the map has
			// versioned for the field is no news (it was synced, or is a
			// change the map knows of), another was set by one of those
			// changes, at unseenBy at the latest (or by a later change
			// not decided yet, which is newer still).
			// (A value the newest parked change of the target set is that
			// change's data, at its version.)
			if val, held := cur.Fields[f]; held && !parked.holds(f, val) {
				if seen, known := rv.holdsValue(target, f, val); known && !seen {
					v, who, ok = unseenBy, target, true
				}
			}
		}
		if !ok || (v.Before(cur.Version) && !explained && !flows) {
			// Nothing better known: the target's own value, which makes a
			// tie decide the same way in both directions. (A target whose
			// changes reach the engine says which fields its unseen
			// change set in that change's event: until then, after the
			// wait, the map's version of the field stands; if that change
			// set it, its event shows the crossing and is written back
			// in its turn. One whose changes never come could have set
			// any field at its record's version.)
			// A field the target shows empty that no change of the
			// target's ever set, though every change of its reaches the
			// engine, was never filled: it has no writer, and the policy
			// takes it as lacking (a Salesforce record shows every field,
			// null where never set).
			val, held := cur.Fields[f]
			if held && val == nil && !ok && flows && !unseen {
				continue
			}
			if held && target != "" {
				if cur.LastWriter == nil {
					cur.LastWriter = map[string]sfsync.System{}
				}
				cur.LastWriter[f] = target
			}
			continue
		}
		if cur.FieldVersions == nil {
			cur.FieldVersions = map[string]sfsync.Version{}
		}
		if cur.LastWriter == nil {
			cur.LastWriter = map[string]sfsync.System{}
		}
		cur.FieldVersions[f], cur.LastWriter[f] = v, who
	}
	// A delete or undelete is decided against the record's last change,
	// and so against its writer, which only the target's own event of it
	// tells: wait for it as for a field's.
	// The event is on its way only when the target's change is not here
	// already, parked (flowsRecord false): it may wait for this very
	// change, and waiting for each other would let both time out.
	recordLevel := flowsRecord && (c.Op == sfsync.OpDelete || c.Op == sfsync.OpUndelete)
	return (unversioned || recordLevel) && flows && !explained && !unseen && cur.Exists && !cur.Deleted
}

// secondOnly reports whether v orders nothing finer than its time: no
// commit, sequence or counter (a version read from a record).
func secondOnly(v sfsync.Version) bool {
	return v.Commit == 0 && v.Seq == 0 && v.Counter == 0
}

// explainsRecord reports whether the map explains target's record version
// at: the engine has decided target's change of the record at that
// version (a delete, say), and so every earlier one.
func (vc *versionCache) explainsRecord(record string, target sfsync.System, at sfsync.Version) bool {
	vc.mu.Lock()
	defer vc.mu.Unlock()
	return vc.get(record).explains(target, at)
}

// heldVersions returns the version of the data of field that source holds
// (the newest that both systems hold, or source's own that lost, whichever
// is newer; known is false when the map holds neither) and the version of
// target's own change of it that lost, newest (lost false for none).
func (vc *versionCache) heldVersions(record string, source, target sfsync.System, field string) (held, lostAt sfsync.Version, lost, known bool) {
	vc.mu.Lock()
	defer vc.mu.Unlock()
	rv := vc.get(record)
	lostAt, lost = rv.version(target, lostPrefix+field)
	held, _, known = rv.newest(field)
	if own, ok := rv.version(source, lostPrefix+field); ok && (!known || held.Before(own)) {
		held, known = own, true
	}
	return held, lostAt, lost, known
}

// echoedBefore reports whether the echo of our newest write to the record
// in target, as target stamped it, is older than v, a version of target's
// own: every write of ours there landed before v's change.
func (rv *recordVersions) echoedBefore(target sfsync.System, v sfsync.Version) bool {
	echo, ok := rv.version(target, fieldEcho)
	return ok && echo.Before(v)
}

// explains reports whether the newest change of target the engine has seen
// for the record is at least as new as the target's record version. Record
// versions may be truncated to the second (SystemModstamp), change
// versions not.
func (rv *recordVersions) explains(target sfsync.System, at sfsync.Version) bool {
	return rv.explainedBy(target, at, fieldAny, fieldDeleted, fieldEcho, fieldUnmapped)
}

// explainsValues is explains without the target's deletes: a delete
// changes no value, and one the engine knows only from a read of the
// tombstone (a repair wrote it on) says nothing of the target's changes
// before it.
func (rv *recordVersions) explainsValues(target sfsync.System, at sfsync.Version) bool {
	return rv.explainedBy(target, at, fieldAny, fieldEcho, fieldUnmapped)
}

// explainedBy reports whether the newest of target's entries of kinds is
// at least as new as at (see explains).
func (rv *recordVersions) explainedBy(target sfsync.System, at sfsync.Version, kinds ...string) bool {
	if target == "" || at.IsZero() {
		return true
	}
	var newest sfsync.Version
	seen := false
	for _, f := range kinds {
		if v, ok := rv.version(target, f); ok {
			seen = true
			if newest.Before(v) {
				newest = v
			}
		}
	}
	if !seen {
		return false
	}
	if at.Counter != 0 && newest.Counter != 0 {
		return newest.Counter >= at.Counter
	}
	return !newest.Time.Before(at.Time.Truncate(time.Second))
}

// explains reports whether the parked changes reach the target's record
// version at, as recordVersions.explains does for changes seen. A nil p
// explains nothing.
func (p *targetParked) explains(at sfsync.Version) bool {
	if p == nil || p.newest.IsZero() || at.IsZero() {
		return false
	}
	if at.Counter != 0 && p.newest.Counter != 0 {
		return p.newest.Counter >= at.Counter
	}
	return !p.newest.Time.Before(at.Time.Truncate(time.Second))
}

// livedAt reports whether a parked change that leaves the record live
// reaches the target's record version at, as explains does.
func (p *targetParked) livedAt(at sfsync.Version) bool {
	if p == nil || p.lived.IsZero() || at.IsZero() {
		return false
	}
	if at.Counter != 0 && p.lived.Counter != 0 {
		return p.lived.Counter >= at.Counter
	}
	return !p.lived.Time.Before(at.Time.Truncate(time.Second))
}

// field returns the newest version of a parked change that set field.
func (p *targetParked) field(f string) (sfsync.Version, bool) {
	if p == nil {
		return sfsync.Version{}, false
	}
	v, ok := p.fields[f]
	return v, ok
}

// holds reports whether the newest parked change of field set it to v.
func (p *targetParked) holds(f string, v any) bool {
	if p == nil {
		return false
	}
	h, ok := p.hashes[f]
	return ok && h == valueHash(v)
}

// remember records that both systems hold c's data, and returns the map
// entries that moved, for the durable commit. record is c's record key and
// touched c.Touched().
func (vc *versionCache) remember(c *sfsync.Change, record string, touched []string) []sfsync.AppliedVersion {
	return vc.note(c, record, touched)
}

// rememberSeen records that c's system changed the record at c's version,
// which explains that system's record version, without claiming c's fields:
// for an echo of our own write they are our data, whose versions the map
// has under the system they came from; a skipped or stale change carries
// none that count.
func (vc *versionCache) rememberSeen(c *sfsync.Change, record string) []sfsync.AppliedVersion {
	return vc.note(c, record, nil)
}

// deletedElsewhere reports whether the map holds a delete of the record
// by a system other than sys.
func (vc *versionCache) deletedElsewhere(record string, sys sfsync.System) bool {
	vc.mu.Lock()
	defer vc.mu.Unlock()
	rv := vc.get(record)
	_, _, ok := rv.newestExcept(fieldDeleted, func(src sfsync.System, _ sfsync.Version) bool { return src == sys })
	return ok
}

// rememberUnmapped records c, a change of no mapped field, under its
// system's fieldUnmapped (see there), and returns the entry if it moved.
func (vc *versionCache) rememberUnmapped(c *sfsync.Change, record string) []sfsync.AppliedVersion {
	if c.Version.IsZero() || c.RecordID == "" {
		return nil
	}
	vc.mu.Lock()
	defer vc.mu.Unlock()
	rv := vc.get(record)
	if v, ok := rv.version(c.Source, fieldUnmapped); ok && !v.Before(c.Version) {
		return nil
	}
	rv.set(c.Source, fieldUnmapped, c.Version, 0)
	return []sfsync.AppliedVersion{{Record: record, Source: c.Source, Field: fieldUnmapped, Version: c.Version}}
}

// rememberEcho records the echo of our own write under the echoing
// system's fieldEcho: it explains that system's record version, but it is
// neither that system's own change (its version may be the written
// change's, on another system's clock: the system's own later changes are
// not stale against it) nor a delete (the tombstone is in the map already
// under the system whose delete we wrote; one under the echoing system
// would name it the deleter, turning a delete the policy lets stand into
// the target's own).
func (vc *versionCache) rememberEcho(c *sfsync.Change, record string) []sfsync.AppliedVersion {
	return vc.rememberEchoAfter(c, record, sfsync.Version{})
}

// rememberEchoAfter is rememberEcho, where parkedDel is the newest delete
// of the echoing system's that waits in the park, undecided (zero for
// none): received before the echo, it came before it in the system's own
// stream, as a delete decided already did.
func (vc *versionCache) rememberEchoAfter(c *sfsync.Change, record string, parkedDel sfsync.Version) []sfsync.AppliedVersion {
	if c.Op == sfsync.OpDelete || c.Op == sfsync.OpEvent || c.Op.NeedsReread() || c.Version.IsZero() || c.RecordID == "" {
		return nil
	}
	vc.mu.Lock()
	defer vc.mu.Unlock()
	rv := vc.get(record)
	sid, echo := vc.names.id(string(c.Source)), vc.names.id(fieldEcho)
	var out []sfsync.AppliedVersion
	if v, ok := rv.versionOf(sid, echo); !ok || v.Before(c.Version) {
		rv.setOf(sid, echo, c.Version, 0)
		rv.setEchoed(sid, c)
		out = append(out, sfsync.AppliedVersion{Record: record, Source: c.Source, Field: fieldEcho, Version: c.Version})
	}
	if c.Op == sfsync.OpCreate || c.Op == sfsync.OpUndelete {
		made := c.Version
		if del, ok := rv.version(c.Source, fieldDeleted); ok && !del.Before(made) {
			// The echo came after the system's delete in its own stream:
			// our write brought the record back after it, whatever the
			// written change's version (another system's clock) says.
			made = justAfter(del)
		}
		if !parkedDel.IsZero() && !parkedDel.Before(made) {
			// The system's delete came before the echo in its stream too,
			// but waits in the park: decided later, it must not seem to
			// come after our write that brought the record back.
			made = justAfter(parkedDel)
		}
		if v, ok := rv.version(c.Source, fieldMade); !ok || v.Before(made) {
			rv.set(c.Source, fieldMade, made, 0)
			out = append(out, sfsync.AppliedVersion{Record: record, Source: c.Source, Field: fieldMade, Version: made})
		}
	}
	return append(out, rv.echoConfirmsDead(record, c)...)
}

// echoConfirmsDead records, for each field the echo c of our own write to
// c.Source carries, that both systems hold the data of another system's
// dead-lettered change of it when the echo carries that change's value and
// nothing of that system's settled the field since: the write landed (the
// last attempt's acknowledgement was lost, and the echo came after the
// change was dead-lettered), and c.Source holds that data, at that
// change's version, on its system's clock. Without it the field has no
// data in the map, and describe takes the value for c.Source's own,
// dated at its record's version, which would beat, or tie, the source
// system's own later edit of it. rv is locked.
func (rv *recordVersions) echoConfirmsDead(record string, c *sfsync.Change) []sfsync.AppliedVersion {
	echoSid, ok := rv.names.find(string(c.Source))
	if !ok || !slices.ContainsFunc(rv.entries, func(e versionEntry) bool {
		return e.source != echoSid && strings.HasPrefix(rv.names.name(e.field), deadPrefix)
	}) {
		// Almost every echo: no other system's change of the record is
		// dead-lettered, and its fields need not be listed.
		return nil
	}
	var out []sfsync.AppliedVersion
	for _, f := range c.Touched() {
		deadFid, ok := rv.names.find(deadPrefix + f)
		if !ok {
			continue
		}
		v, _ := c.Value(f)
		hash := valueHash(v)
		for i := range rv.entries {
			e := &rv.entries[i]
			if e.field != deadFid || e.source == echoSid || e.hash != hash {
				continue
			}
			sys, dead := rv.source(e), e.version()
			if held, ok := rv.version(sys, f); ok && !held.Before(dead) {
				continue // decided since (applied, or confirmed already)
			}
			if lost, ok := rv.version(sys, lostPrefix+f); ok && dead.Before(lost) {
				continue // a later change of sys's lost since
			}
			rv.set(sys, f, dead, hash)
			out = append(out, sfsync.AppliedVersion{Record: record, Source: sys, Field: f, Version: dead, ValueHash: hash})
			break
		}
	}
	return out
}

// madeByUs reports whether the record lives in target because a write of
// ours made it there (created it, or brought it back): the echo of that
// write came back, and target has not deleted the record since.
func (vc *versionCache) madeByUs(record string, target sfsync.System) bool {
	vc.mu.Lock()
	defer vc.mu.Unlock()
	rv := vc.get(record)
	made, ok := rv.version(target, fieldMade)
	if !ok {
		return false
	}
	del, deleted := rv.version(target, fieldDeleted)
	return !deleted || del.Before(made)
}

// carriedFirst reports whether our write made the record in loser while
// the map holds no data of winner's of field: winner's first value of it,
// its create's, was carried there by that write, and no event of winner's
// has been decided with it (the create's outcome was lost, or it was
// dead-lettered).
func (vc *versionCache) carriedFirst(record string, winner, loser sfsync.System, field string) bool {
	vc.mu.Lock()
	defer vc.mu.Unlock()
	rv := vc.get(record)
	made, ok := rv.version(loser, fieldMade)
	if !ok {
		return false
	}
	if del, deleted := rv.version(loser, fieldDeleted); deleted && !del.Before(made) {
		return false
	}
	_, decided := rv.version(winner, field)
	return !decided
}

// echoedValue reports whether the newest echo of our writes to record
// that sys sent carried value in field: a write of ours took that value
// there, whatever outcome the write has yet.
func (vc *versionCache) echoedValue(record string, sys sfsync.System, field string, value any) bool {
	vc.mu.Lock()
	defer vc.mu.Unlock()
	return vc.get(record).echoedValue(sys, field, value)
}

// hasData reports whether the map holds data of field for record that
// sys held: data both systems hold, of any system's, or sys's own change
// of it that lost or was dead-lettered, which sys alone holds (see
// rememberLost and rememberDead). Such a change set the field in sys,
// whatever value it left there (an empty one included).
func (vc *versionCache) hasData(record string, sys sfsync.System, field string) bool {
	vc.mu.Lock()
	defer vc.mu.Unlock()
	rv := vc.get(record)
	if _, _, ok := rv.newest(field); ok {
		return true
	}
	_, own := rv.ownData(sys, field)
	return own
}

// syncedDataOf returns the version of the newest data of field that the
// map holds, and whose, when its value is v.
func (vc *versionCache) syncedDataOf(record, field string, v any) (sfsync.Version, sfsync.System, bool) {
	vc.mu.Lock()
	defer vc.mu.Unlock()
	rv := vc.get(record)
	at, who, ok := rv.newest(field)
	if !ok {
		return sfsync.Version{}, "", false
	}
	id, _ := rv.names.find(field)
	sid, _ := rv.names.find(string(who))
	for i := range rv.entries {
		if e := &rv.entries[i]; e.field == id && e.source == sid && e.version().Compare(at) == 0 {
			if e.hash != 0 && e.hash != valueHash(v) {
				return sfsync.Version{}, "", false
			}
			return at, who, true
		}
	}
	return sfsync.Version{}, "", false
}

// dataOfValue returns the version of the data of field that sys's record
// shows as v, and whose: the newest data the map holds, when its value is
// v (syncedDataOf); or else sys's own change that set v, applied or lost
// (the newer), which sys holds though the other system may not (a change
// that lost, until its repair lands: see repaired). A system that versions
// only whole records shows no field's version: its record's would make
// every field look as new as its newest change.
func (vc *versionCache) dataOfValue(record string, sys sfsync.System, field string, v any) (sfsync.Version, sfsync.System, bool) {
	if at, who, ok := vc.syncedDataOf(record, field, v); ok {
		return at, who, true
	}
	vc.mu.Lock()
	defer vc.mu.Unlock()
	rv := vc.get(record)
	sid, ok := rv.names.find(string(sys))
	if !ok {
		return sfsync.Version{}, "", false
	}
	hash := valueHash(v)
	var at sfsync.Version
	for _, name := range [...]string{field, lostPrefix + field} {
		fid, ok := rv.names.find(name)
		if !ok {
			continue
		}
		for i := range rv.entries {
			if e := &rv.entries[i]; e.field == fid && e.source == sid && e.hash == hash && at.Before(e.version()) {
				if name != field && rv.lostRepaired(sys, field, e.version()) {
					continue // sys took the winner's data since
				}
				at = e.version()
			}
		}
	}
	if at.IsZero() {
		return sfsync.Version{}, "", false
	}
	return at, sys, true
}

// rememberLost records that c lost its conflict: its system holds its data
// of the fields it touched, under their lost entries, and the record
// changed there at c's version.
func (vc *versionCache) rememberLost(c *sfsync.Change, record string, touched []string) []sfsync.AppliedVersion {
	if c.Op == sfsync.OpDelete {
		return vc.note(c, record, []string{fieldDeleteLost})
	}
	lost := make([]string, len(touched))
	for i, f := range touched {
		lost[i] = lostPrefix + f
	}
	return vc.note(c, record, lost)
}

// rememberDead is rememberLost for a change that was dead-lettered: its
// fields get dead entries besides their lost ones.
func (vc *versionCache) rememberDead(c *sfsync.Change, record string, touched []string) []sfsync.AppliedVersion {
	if c.Op == sfsync.OpDelete {
		return vc.note(c, record, nil)
	}
	entries := make([]string, 0, 2*len(touched))
	for _, f := range touched {
		entries = append(entries, lostPrefix+f, deadPrefix+f)
	}
	return vc.note(c, record, entries)
}

// rememberPartly is remember for a change the policy kept in part: both
// systems hold its data of touched, and its own system alone its data of
// lost (see rememberLost).
func (vc *versionCache) rememberPartly(c *sfsync.Change, record string, touched, lost []string) []sfsync.AppliedVersion {
	if len(lost) == 0 || c.Op == sfsync.OpDelete {
		return vc.note(c, record, touched)
	}
	fields := make([]string, 0, len(touched)+len(lost))
	fields = append(fields, touched...)
	for _, f := range lost {
		fields = append(fields, lostPrefix+f)
	}
	return vc.note(c, record, fields)
}

// rememberData records that both systems hold d's data, made by d.sys at
// d.version, whose value has hash (zero when unknown), and returns the map
// entry if it moved.
func (vc *versionCache) rememberData(record string, d fieldData, hash uint64) []sfsync.AppliedVersion {
	if d.version.IsZero() || d.sys == "" {
		return nil
	}
	vc.mu.Lock()
	defer vc.mu.Unlock()
	rv := vc.get(record)
	if v, ok := rv.version(d.sys, d.field); ok && !v.Before(d.version) {
		return nil
	}
	rv.set(d.sys, d.field, d.version, hash)
	return []sfsync.AppliedVersion{{Record: record, Source: d.sys, Field: d.field, Version: d.version, ValueHash: hash}}
}

// repaired records that target took the winner's data of fields from a
// repair of target's change that lost at lostAt (or held it already), and
// returns the entries that moved: target's lost entries of them from that
// change, or older ones, stand for data it holds no more. A backfill's row
// that shows such a value again tells of a later change of target's own,
// whose event was lost: news, not the change that lost, whose repair is
// done. Before, the value stayed "synced before, no news" for good, and
// the row's value stood in target against the winner's data in the other
// system (seed 100506). Until the process ends the value counts as
// superseded, as a synced value a newer one replaced does: a row read
// before the repair landed repeats it. A lost entry newer than lostAt is
// a later change's, which its own repair settles.
func (vc *versionCache) repaired(record string, target sfsync.System, fields []string, lostAt sfsync.Version) []sfsync.AppliedVersion {
	if lostAt.IsZero() || len(fields) == 0 {
		return nil
	}
	vc.mu.Lock()
	defer vc.mu.Unlock()
	rv := vc.get(record)
	sid, ok := rv.names.find(string(target))
	if !ok {
		return nil
	}
	var out []sfsync.AppliedVersion
	for _, f := range fields {
		lid, ok := rv.names.find(lostPrefix + f)
		if !ok {
			continue
		}
		e := rv.entryOf(sid, lid)
		if e == nil || lostAt.Before(e.version()) {
			continue
		}
		rid := vc.names.id(repairedPrefix + f)
		if v, ok := rv.versionOf(sid, rid); ok && !v.Before(lostAt) {
			continue
		}
		if e.hash != 0 {
			rv.supersede(sid, vc.names.id(f), e.hash)
		}
		rv.setOf(sid, rid, lostAt, 0)
		out = append(out, sfsync.AppliedVersion{Record: record, Source: target, Field: repairedPrefix + f, Version: lostAt})
	}
	return out
}

// lostRepaired reports whether the repair of sys's change of field that
// lost at at, or of a later one, landed (see versionCache.repaired): sys
// holds that change's data no more.
func (rv *recordVersions) lostRepaired(sys sfsync.System, field string, at sfsync.Version) bool {
	v, ok := rv.version(sys, repairedPrefix+field)
	return ok && !v.Before(at)
}

// ownData returns the version of the data of field that sys itself holds
// as the map knows it: its own change's, or its change's that lost.
func (rv *recordVersions) ownData(sys sfsync.System, field string) (sfsync.Version, bool) {
	v, ok := rv.version(sys, field)
	if lv, lok := rv.version(sys, lostPrefix+field); lok && (!ok || v.Before(lv)) {
		return lv, true
	}
	return v, ok
}

// note moves the record's entries of c's system to c's version, and those
// of the fields in touched.
func (vc *versionCache) note(c *sfsync.Change, key string, touched []string) []sfsync.AppliedVersion {
	if c.Version.IsZero() || c.RecordID == "" || c.Op == sfsync.OpEvent || c.Op.NeedsReread() {
		return nil
	}
	vc.mu.Lock()
	defer vc.mu.Unlock()
	rv := vc.get(key)
	sid := vc.names.id(string(c.Source))
	var moved []sfsync.AppliedVersion
	bump := func(field string) {
		fid := vc.names.id(field)
		if v, ok := rv.versionOf(sid, fid); !ok || v.Before(c.Version) {
			hash := dataHash(c, field)
			rv.setOf(sid, fid, c.Version, hash)
			if moved == nil { // room for every field at once
				moved = make([]sfsync.AppliedVersion, 0, 1+len(touched))
			}
			moved = append(moved, sfsync.AppliedVersion{Record: key, Source: c.Source, Field: field, Version: c.Version, ValueHash: hash})
		}
	}
	if c.Op == sfsync.OpDelete {
		bump(fieldDeleted)
		if slices.Contains(touched, fieldDeleteLost) {
			bump(fieldDeleteLost)
		}
		return moved
	}
	if c.Origin.Client != repairClient {
		// A repair is our write of the winner's data to the loser, not a
		// change of the winner's record: its claim is the winner's
		// version of the fields it carries, which may be the winner's
		// record version where a change the engine never sees set them
		// (see describe). As the winner's change of the record, it would
		// explain that record version, and a value of another field that
		// no change seen set would be taken for the map's older data of
		// it: an older edit of the loser's beat it (seed 100846).
		bump(fieldAny)
	}
	for _, f := range touched {
		bump(f)
	}
	return moved
}

// ownChangeLost reports whether sys's newest change of field lost its
// conflict and no later change of sys's was applied: sys holds data of
// field that the other system does not, and that lost (until repaired).
func (vc *versionCache) ownChangeLost(record string, sys sfsync.System, field string) bool {
	vc.mu.Lock()
	defer vc.mu.Unlock()
	rv := vc.get(record)
	lost, ok := rv.version(sys, lostPrefix+field)
	if !ok {
		return false
	}
	own, applied := rv.version(sys, field)
	return !applied || own.Before(lost)
}

// ownDataOf is recordVersions.ownData for the cached record.
func (vc *versionCache) ownDataOf(record string, sys sfsync.System, field string) (sfsync.Version, bool) {
	vc.mu.Lock()
	defer vc.mu.Unlock()
	return vc.get(record).ownData(sys, field)
}

// olderThanOthers reports whether c is older than data from another system
// held for field.
func (vc *versionCache) olderThanOthers(c *sfsync.Change, record, field string) bool {
	if c.Version.IsZero() {
		return false
	}
	vc.mu.Lock()
	defer vc.mu.Unlock()
	rv := vc.get(record)
	fid, ok := vc.names.find(field)
	if !ok {
		return false
	}
	for _, e := range rv.entries {
		if e.field == fid && rv.source(&e) != c.Source && c.Version.Before(e.version()) {
			return true
		}
	}
	return false
}

// delivered reports whether the map holds data of field from sys at least
// as new as v: the engine has already handed sys's value at v on, so no
// event of sys will bring it again.
func (vc *versionCache) delivered(record string, sys sfsync.System, field string, v sfsync.Version) bool {
	vc.mu.Lock()
	defer vc.mu.Unlock()
	got, ok := vc.get(record).version(sys, field)
	return ok && !got.Before(v)
}

// changedAfterSync reports whether target shows its own edit of field
// (cur's field version and writer) newer than the newest of target's data
// of field the map holds (or with none held for field): an edit of the
// target the engine has not decided yet. An edit that was decided and lost
// counts as decided (its lost entry): the target holds data that lost, and
// the winner's data is what it needs. Without any entry of the target
// for the record, nothing in the map says its changes of it pass through
// the engine (data it held before syncing began): it reports false, unless
// received (when not nil) says a change of the target's record was
// received and waits undecided (in the park, behind a change of the other
// system's, or in a lane): its changes do pass, and none was decided yet.
// (received is asked without the cache's lock held.)
func (vc *versionCache) changedAfterSync(record string, target sfsync.System, field string, cur sfsync.Record, received func() bool) bool {
	fv, ok := cur.FieldVersions[field]
	if !ok || cur.LastWriter[field] != target {
		return false
	}
	changed, flows := vc.changedSinceSynced(record, target, field, fv)
	if !flows {
		return received != nil && received()
	}
	return changed
}

// changedSinceSynced is changedAfterSync's look at the map, for target's
// edit of field at fv; flows says whether the map holds any entry of
// target for the record.
func (vc *versionCache) changedSinceSynced(record string, target sfsync.System, field string, fv sfsync.Version) (changed, flows bool) {
	vc.mu.Lock()
	defer vc.mu.Unlock()
	rv := vc.get(record)
	if _, flows := rv.lived(target); !flows {
		return false, false
	}
	synced, ok := rv.ownData(target, field)
	if dead, held := rv.version(target, deadPrefix+field); held && ok && !dead.Before(synced) {
		// The target's newest change of the field was dead-lettered:
		// nothing decided it yet (a lost entry of its own version says
		// only that the other system does not hold it), and its requeue
		// will, unless a later decision of the field (applied, at a
		// version of its own) settled it since.
		if applied, aok := rv.version(target, field); !aok || applied.Before(dead) {
			return true, true
		}
	}
	return !ok || synced.Before(fv), true
}

// changedSince returns the fields for which a change of sys's applied
// data newer than from's version of the field (any, where from has none),
// and whether that is all of them: for a resync, whose source is
// sys but whose data and version are another system's, sys's changes
// since the data the resynced change was decided against supersede it.
func (vc *versionCache) changedSince(record string, sys sfsync.System, touched []string, from map[string]sfsync.Version) (changed []string, whole bool) {
	vc.mu.Lock()
	defer vc.mu.Unlock()
	rv := vc.get(record)
	for _, f := range touched {
		// A change of sys's that lost (to the resynced change, or to
		// another) supersedes nothing: only data sys's changes applied.
		own, ok := rv.version(sys, f)
		if !ok {
			continue
		}
		if base, known := from[f]; !known || base.Before(own) {
			changed = append(changed, f)
		}
	}
	return changed, len(changed) > 0 && len(changed) == len(touched)
}

// appliedOf returns the version of the newest change of sys's whose data
// of field was applied (both systems held it), if any.
func (vc *versionCache) appliedOf(record string, sys sfsync.System, field string) (sfsync.Version, bool) {
	vc.mu.Lock()
	defer vc.mu.Unlock()
	return vc.get(record).version(sys, field)
}

// decidedAt reports whether the version map holds sys's change of field at
// v or later, applied or lost: its event was decided.
func (vc *versionCache) decidedAt(record string, sys sfsync.System, field string, v sfsync.Version) bool {
	vc.mu.Lock()
	defer vc.mu.Unlock()
	own, ok := vc.get(record).ownData(sys, field)
	return ok && !own.Before(v)
}

// loserChangedSince returns the fields of touched whose value in r, a
// repair of r.Source's data to loser, the loser's own change made after
// its change that lost (at lostAt, on the loser's clock) has replaced
// where the repair takes it from: the version map holds the loser's data
// of the field as applied (both systems held it) at a version newer than
// lostAt, the loser's record cur still holds that value, and r's differs.
// The repair was planned from the winner's record as it was when the
// change lost; the loser's later change won since and reached the winner,
// which holds the repair's value no more: writing it would undo that
// change in the loser alone (seed 89260: Salesforce's delete lost, its
// repair waited in a lane behind rate-limited writes while the record was
// undeleted and edited there, and the edit, applied to the ERP, was then
// overwritten in Salesforce by the ERP's value from before it).
//
// A field whose value in r is the loser's own data (fieldsAt names the
// loser as its system, at that data's version: the winner held it as
// synced from the loser) is replaced by the loser's applied data newer
// than that, whenever the loser made it: it is the same system's newer
// data, which the repair's older value must not overwrite. Its change may
// be older than the one that lost, yet have reached the winner only after
// (seed 4925: Salesforce's last name n30, set while its events were lost
// past retention, stood in its tombstone; its delete lost to the ERP's
// record, which held Salesforce's synced n5, and the repair waited while
// the ERP's own update brought the record back in Salesforce with n30 and
// took n30 to the ERP, dated at the tombstone's second, before the
// delete's commit in it. The repair then wrote n5 over n30 in Salesforce.)
func (vc *versionCache) loserChangedSince(record string, r *sfsync.Change, loser sfsync.System, touched []string, lostAt sfsync.Version, fieldsAt []fieldData, cur sfsync.Record) []string {
	if lostAt.IsZero() || !cur.Exists || cur.Deleted {
		return nil
	}
	vc.mu.Lock()
	defer vc.mu.Unlock()
	return vc.get(record).replacedData(loser, r, touched, cur, func(field string, v sfsync.Version) bool {
		if lostAt.Before(v) {
			return true
		}
		for _, d := range fieldsAt {
			if d.field == field && d.sys == loser && d.version.Before(v) {
				return true
			}
		}
		return false
	})
}

// repairSuperseded returns the fields of touched whose value in r, a repair
// of r.Source's data, the winner's newer data has replaced where it was
// going: the version map holds r.Source's data of the field as applied
// with another value, and the loser's record cur holds that value. The
// repair's value is older than that data (the map moves only forward), and
// writing it would undo it.
//
// Unless the repair's value is r.Source's own data that never was applied:
// its change that lost, at a version newer than the applied data's, and
// still held there (its lost entry, not repaired since). That is the
// winner's data the repair takes across, newer than the applied data the
// loser holds, not older: an undelete of the loser's keeps the winner's
// edit that lost only to the loser's delete, and its repair writes it to
// the loser (seed 3561: the ERP's Email of 18s lost to Salesforce's
// delete and stood in the ERP once Salesforce undeleted the record; the
// repair, dead-lettered and requeued, was taken for stale against the ERP's
// Email of 4s that Salesforce still held, and Salesforce kept that).
func (vc *versionCache) repairSuperseded(record string, r *sfsync.Change, touched []string, cur sfsync.Record) []string {
	if !cur.Exists || cur.Deleted {
		return nil
	}
	vc.mu.Lock()
	defer vc.mu.Unlock()
	rv := vc.get(record)
	return slices.DeleteFunc(rv.replacedData(r.Source, r, touched, cur, nil), func(f string) bool {
		v, _ := r.Value(f)
		return rv.holdsNewerLost(r.Source, f, v)
	})
}

// holdsNewerLost is recordVersions.holdsNewerLost for the cached record.
func (vc *versionCache) holdsNewerLost(record string, sys sfsync.System, field string, value any) bool {
	vc.mu.Lock()
	defer vc.mu.Unlock()
	return vc.get(record).holdsNewerLost(sys, field, value)
}

// leftByOurMaking reports whether sys holds value in field as its own
// data of a change that lost (see holdsNewerLost) from before the write
// of ours that made the record there, or brought it back (see madeByUs):
// that write did not carry the field, and left sys's value standing. A
// change of sys's after that write is news of sys's own since, which its
// own event decides.
func (vc *versionCache) leftByOurMaking(record string, sys sfsync.System, field string, value any) bool {
	vc.mu.Lock()
	defer vc.mu.Unlock()
	rv := vc.get(record)
	if !rv.holdsNewerLost(sys, field, value) {
		return false
	}
	made, ok := rv.version(sys, fieldMade)
	if !ok {
		return false
	}
	lost, ok := rv.version(sys, lostPrefix+field)
	return ok && lost.Before(made)
}

// holdsNewerLost reports whether sys holds value in field as its own data
// of a change that lost (or was dead-lettered), newer than sys's applied
// data of the field, and not repaired since: sys's newest data of the
// field, which the other system does not hold.
func (rv *recordVersions) holdsNewerLost(sys sfsync.System, field string, value any) bool {
	sid, ok := rv.names.find(string(sys))
	if !ok {
		return false
	}
	lid, ok := rv.names.find(lostPrefix + field)
	if !ok {
		return false
	}
	lost := rv.entryOf(sid, lid)
	if lost == nil || lost.hash == 0 || lost.hash != valueHash(value) {
		return false
	}
	at := lost.version()
	if applied, ok := rv.version(sys, field); ok && !applied.Before(at) {
		return false
	}
	return !rv.lostRepaired(sys, field, at)
}

// replacedData returns the fields of touched whose value in r differs
// from sys's applied data of them that cur, the record r is written to,
// still holds (only data whose version newer accepts for its field, when
// newer is set): r's value is not that data, which stands there.
func (rv *recordVersions) replacedData(sys sfsync.System, r *sfsync.Change, touched []string, cur sfsync.Record, newer func(field string, v sfsync.Version) bool) []string {
	sid, ok := rv.names.find(string(sys))
	if !ok {
		return nil
	}
	var out []string
	for _, f := range touched {
		fid, ok := rv.names.find(f)
		if !ok {
			continue
		}
		e := rv.entryOf(sid, fid)
		if e == nil || e.hash == 0 || (newer != nil && !newer(f, e.version())) {
			continue
		}
		if held, holds := cur.Fields[f]; !holds || valueHash(held) != e.hash {
			continue
		}
		if v, _ := r.Value(f); valueHash(v) != e.hash {
			out = append(out, f)
		}
	}
	return out
}
