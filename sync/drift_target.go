package sync

import (
	"context"
	"fmt"
	"slices"
	stdsync "sync"
	"time"

	"github.com/sfsync/sfsync"
)

// The target side of a drift check (CompareTarget).
//
// The target's versions are compared with what the version map holds of
// each record, from every system: a target that stores the version of the
// change written to it (synctest.System and pgmirror do, per field and
// for the record) shows, after the engine wrote, versions the map holds;
// one of its own edits shows a version of its own. So a record of the
// target differs from what the engine made of it when
//
//   - a field's version (or, for a lister without field versions, the
//     record's) is newer than every version the map holds of that field
//     (of the record): the target changed it and no event told;
//   - it is deleted where the map's newest entry of the record is not a
//     delete, or live where it is: deleted or brought back there;
//   - it is missing while Salesforce lists it live and the map holds data
//     of it (a full pass only: a windowed listing leaves out what did not
//     change).
//
// Each such record is brought to Salesforce's state, read again by id,
// under a key of its own (driftKey): the emission of the same Salesforce
// version before (a backfill's, a reconciliation's) has an outcome under
// the reconciler's key, and a new emission under it would be a duplicate.
// Where the target's changes of the object reach the engine (a two-way
// route), the target's un-announced change is instead sent as the
// target's change, as its missed event would have been, and the conflict
// policy decides it against Salesforce like any other.

// held is what the version map holds of one record, for a drift check.
type held struct {
	// any: the map holds some entry of the record.
	any bool
	// salesforce: it holds Salesforce data of the record (not only a
	// delete), and sfNewest is the newest Salesforce version of any entry.
	salesforce bool
	sfNewest   sfsync.Version
	// deleted: the newest record-level entry is a delete.
	deleted bool
	// changed: the target's record, when one was given, shows a change
	// the map does not hold (see changedThere).
	changed bool
}

// heldOf returns what the map holds of each record of keys, loading what
// the cache does not have; recs, when not nil, are the target's records
// of keys, in the target's names, which canonical turns into Salesforce's
// ("" for a field not mapped), each compared with it. It builds nothing
// per record or field: a full pass compares every record of the object.
func (vc *versionCache) heldOf(ctx context.Context, keys []string, recs []sfsync.Record, canonical func(string) string) (map[string]held, error) {
	if err := vc.load(ctx, keys); err != nil {
		return nil, err
	}
	vc.mu.Lock()
	defer vc.mu.Unlock()
	out := make(map[string]held, len(keys))
	for i, key := range keys {
		el, ok := vc.records[key]
		if !ok {
			continue
		}
		rv := el.Value.(*recordVersions)
		var h held
		var alive, del, newest sfsync.Version
		for j := range rv.entries {
			e := &rv.entries[j]
			src, f, v := rv.source(e), rv.field(e), e.version()
			h.any = true
			if newest.Before(v) {
				newest = v
			}
			if src.IsSalesforce() {
				if f != fieldDeleted {
					h.salesforce = true
				}
				if h.sfNewest.Before(v) {
					h.sfNewest = v
				}
			}
			switch f {
			case fieldAny, fieldEcho, fieldMade, fieldDeleteLost, fieldUnmapped:
				if alive.Before(v) {
					alive = v
				}
			case fieldDeleted:
				if del.Before(v) {
					del = v
				}
			}
		}
		h.deleted = !del.IsZero() && !del.Before(alive)
		if recs != nil {
			h.changed = changedThere(rv, &recs[i], canonical, h.deleted, newest)
		}
		out[key] = h
	}
	return out, nil
}

// changedThere reports whether the target's record rec shows a change
// the map (rv, whose newest entry is newest and whose record is deleted
// or not) does not hold: a field version, or the record's when the lister
// gives none, newer than every version held of it (of the record, for a
// field none is held of), or a deleted state other than the map's.
func changedThere(rv *recordVersions, rec *sfsync.Record, canonical func(string) string, deleted bool, newest sfsync.Version) bool {
	if rec.Deleted != deleted {
		return true
	}
	if rec.Deleted {
		return false // its fields are no one's data now
	}
	if len(rec.FieldVersions) == 0 {
		return newest.Before(rec.Version)
	}
	for name, v := range rec.FieldVersions {
		f := canonical(name)
		if f == "" {
			continue // not synced: no one's concern
		}
		ref, found := sfsync.Version{}, false
		if fid, ok := rv.names.find(f); ok {
			for _, e := range rv.entries {
				if e.field == fid && (!found || ref.Before(e.version())) {
					ref, found = e.version(), true
				}
			}
		}
		if !found {
			ref = newest
		}
		if ref.Before(v) {
			return true
		}
	}
	return false
}

// targetSide is the target of a drift check: the system the route for
// Salesforce changes of the object writes to, as the target's lister and
// state reader know the object.
type targetSide struct {
	lister VersionLister
	route  *Route
	// mapping translates the target's names; nil when it uses
	// Salesforce's.
	mapping *Mapping
	// entity is the object's name in the target.
	entity string
	// twoWay: the target's changes of the object reach the engine, and
	// its un-announced changes are sent as its own.
	twoWay bool
	// link is the mapping's LinkField, and sf lists Salesforce's records
	// with it, when the mapping links records (see drift_link.go).
	link string
	sf   LinkVersionLister
}

func (e *Engine) targetSide(object string, lister VersionLister) (*targetSide, error) {
	r := e.route(&sfsync.Change{Source: sfsync.Salesforce, Object: object})
	if r == nil {
		return nil, fmt.Errorf("sync: drift check of %s: no route takes Salesforce changes of it, so there is no target to compare; add one with WithRoute: %w", object, sfsync.ErrInvalid)
	}
	t := &targetSide{lister: lister, route: r, entity: object, mapping: e.destMapping(r, object)}
	if t.mapping != nil {
		t.entity = t.mapping.externalName()
	}
	// Two-way: the target's changes of the object reach the engine and
	// go on to another system (a route from the target to itself, the
	// catch-all of a one-sink engine, is no way back).
	back := e.route(&sfsync.Change{Source: r.To, Object: object})
	t.twoWay = e.flowsFrom(r.To, object) && back != nil && back.To != r.To
	if t.twoWay && r.State == nil {
		return nil, fmt.Errorf("sync: drift check of %s: the route to %s has no state reader to read the changes found there: %w", object, r.To, sfsync.ErrInvalid)
	}
	return t, nil
}

// canonical returns the Salesforce name of the target's field name, or
// "" for a field the mapping does not name.
func (t *targetSide) canonical(name string) string {
	if t.mapping == nil {
		return name
	}
	if f, ok := t.mapping.byExt[name]; ok {
		return f.Salesforce
	}
	return ""
}

// targetFound is a record of the target found to differ, with what was
// found (for its drift key) and what the map held when it was compared.
type targetFound struct {
	// id is the record's id in the target and in the version map.
	id string
	// sfID is the Salesforce id it is re-read by: id, unless the mapping
	// links records; "" while not known (see locate).
	sfID string
	// gone: Salesforce no longer lists the linked record; it is deleted
	// in the target without a re-read (deleteGone).
	gone bool
	// state: the target's version and deleted state, or "missing@" and
	// the Salesforce version the map held (which a repair moves on, so a
	// record lost again after its repair is news).
	state string
	held  held
	// create: the record is to be (re)created in the target: it is
	// missing or deleted there.
	create bool
}

// targetState names what the target shows of a record, for its drift key.
func targetState(rec sfsync.Record) string {
	s := rec.Version.String()
	if rec.Deleted {
		s += ":deleted"
	}
	for _, f := range sortedKeys(rec.FieldVersions) {
		if v := rec.FieldVersions[f]; rec.Version.Before(v) {
			// A lister whose record version does not move with its fields'.
			s += ":" + f + "=" + v.String()
		}
	}
	return s
}

// driftKey is the idempotency key of a drift repair: the reconciler's key
// of the Salesforce version read, and what the target showed. A repair of
// the same difference found again is a duplicate; a new difference, or a
// new version, is news.
func driftKey(readKey, state string) string { return "drift:" + readKey + ":target=" + state }

// emitter pushes changes through the pipeline and waits for their outcomes.
type emitter struct {
	e      *Engine
	object string
	out    *outstanding
	mu     stdsync.Mutex
	failed []string
}

func (e *Engine) newEmitter(object string) *emitter {
	return &emitter{e: e, object: object, out: newOutstanding()}
}

func (m *emitter) push(it *item) error {
	m.out.add()
	it.done = func(o sfsync.Outcome) {
		if o.Status == sfsync.StatusDeadLettered {
			m.mu.Lock()
			m.failed = append(m.failed, o.Key)
			m.mu.Unlock()
		}
		m.out.done()
	}
	if !m.e.push(it) {
		m.out.done()
		return fmt.Errorf("sync: engine stopped during the drift check of %s: %w", m.object, sfsync.ErrClosed)
	}
	return nil
}

// wait returns once every change pushed has an outcome, with an error
// naming the dead-lettered ones.
func (m *emitter) wait(ctx context.Context) error {
	select {
	case <-m.out.zero():
	case <-ctx.Done():
		return ctx.Err()
	case <-m.e.finished:
		return fmt.Errorf("sync: engine stopped before the drift check of %s finished: %w", m.object, sfsync.ErrClosed)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.failed) > 0 {
		return &deadLettered{object: m.object, n: len(m.failed), first: m.failed[0]}
	}
	return nil
}

// repairFromSalesforce re-reads found, all of object, from Salesforce
// through the reconciler and sends each as it is there to the target,
// under its drift key. Each is read by id and decided as holding every
// Salesforce change applied before it, unless one was applied after the
// comparison (then the usual snapshot rules order it). A linked record
// gone from Salesforce is deleted without a re-read.
func (e *Engine) repairFromSalesforce(ctx context.Context, em *emitter, t *targetSide, object string, found []targetFound) error {
	byID := make(map[string]*targetFound, len(found))
	ids := make([]string, 0, len(found))
	for i := range found {
		if found[i].gone {
			if err := e.deleteGone(em, t, object, found[i]); err != nil {
				return err
			}
			continue
		}
		byID[found[i].sfID] = &found[i]
		ids = append(ids, found[i].sfID)
	}
	if len(ids) == 0 {
		return nil
	}
	scope := sfsync.Scope{Tenant: e.cfg.tenant, Object: object, IDs: ids, Reason: "drift check: the target differs"}
	err := e.cfg.reconciler.Reconcile(ctx, scope, func(ctx context.Context, c sfsync.Change) error {
		f, ok := byID[c.RecordID]
		if !ok {
			for id, g := range byID {
				if sfsync.SameID(id, c.RecordID) {
					f, ok = g, true
					c.RecordID = id
					break
				}
			}
		}
		if !ok || c.Op.NeedsReread() {
			return fmt.Errorf("%w: reconciler answered a re-read of %d %s record(s) with %s", sfsync.ErrInvalid, len(ids), object, c)
		}
		c.Key = driftKey(c.Key, f.state)
		switch {
		case c.Op == sfsync.OpDelete && c.Version.IsZero():
			// Gone from Salesforce (purged): no version says when, and
			// the delete must still be the newest change the map holds.
			c.Version = justAfter(f.held.sfNewest)
			if f.id != f.sfID {
				// Nor is its link left to read: the delete carries it.
				c.Fields = map[string]any{t.link: f.id}
			}
		case c.Op != sfsync.OpDelete && f.create:
			// An update would leave a record deleted in the target deleted:
			// bring it back whole.
			c.Op = sfsync.OpCreate
		}
		over := f.held.sfNewest
		return em.push(&item{c: c, snapshot: true, settled: true, settledOver: &over})
	})
	if err != nil {
		return fmt.Errorf("sync: drift check of %s: re-reading %d record(s) that differ in the target: %w", object, len(ids), err)
	}
	return nil
}

// sendTargetChanges reads found from the target and sends each as the
// target's own change, at the target's version, under its drift key: the
// event that never came. The conflict policy decides it against
// Salesforce.
func (e *Engine) sendTargetChanges(ctx context.Context, em *emitter, t *targetSide, object string, found []targetFound) error {
	ids := make([]string, len(found))
	for i, f := range found {
		ids[i] = f.id
	}
	recs, err := t.route.State.Read(ctx, t.entity, ids)
	if err != nil {
		return fmt.Errorf("sync: drift check of %s: reading %d record(s) that changed in %s: %w", object, len(ids), t.route.To, err)
	}
	for _, f := range found {
		rec, ok := recs[f.id]
		if !ok {
			continue // gone since it was listed: its delete is for another pass
		}
		c := sfsync.Change{
			Source: t.route.To, Object: t.entity, RecordID: f.id, Version: rec.Version,
			Key:    "drift:" + string(t.route.To) + ":" + t.entity + ":" + f.id + ":" + targetState(rec),
			Origin: sfsync.Origin{Transaction: "drift check"},
		}
		switch {
		case rec.Deleted:
			c.Op = sfsync.OpDelete
		default:
			c.Op = sfsync.OpUpdate
			if f.create {
				c.Op = sfsync.OpCreate
			}
			c.Fields = map[string]any{}
			for _, name := range sortedKeys(rec.Fields) {
				if t.mapping != nil {
					if _, mapped := t.mapping.byExt[name]; !mapped {
						continue
					}
				}
				setValue(&c, name, rec.Fields[name])
			}
		}
		if err := em.push(&item{c: c, snapshot: c.Op == sfsync.OpUpdate}); err != nil {
			return err
		}
	}
	return nil
}

// compareTarget lists the target's versions and sends every record that
// differs through the pipeline; sf is what Salesforce's side listed.
func (e *Engine) compareTarget(ctx context.Context, t *targetSide, object string, since time.Time, sf *sfListing, report *DriftReport) error {
	full := since.IsZero()
	em := e.newEmitter(object)
	// unresolved are linked records to repair from Salesforce whose
	// Salesforce ids a windowed listing did not give.
	var fromSF, fromTarget, unresolved []targetFound
	// toSF queues f, located (targetSide.locate), for a repair from
	// Salesforce.
	toSF := func(f targetFound) {
		if f.sfID == "" && !f.gone {
			unresolved = append(unresolved, f)
		} else {
			fromSF = append(fromSF, f)
		}
	}
	seen := map[string]bool{}
	flush := func(all bool) error {
		for len(fromSF) >= driftBatch || (all && len(fromSF) > 0) {
			n := min(len(fromSF), driftBatch)
			batch := fromSF[:n:n]
			fromSF = fromSF[n:]
			if err := e.repairFromSalesforce(ctx, em, t, object, batch); err != nil {
				return err
			}
		}
		for len(fromTarget) >= driftBatch || (all && len(fromTarget) > 0) {
			n := min(len(fromTarget), driftBatch)
			batch := fromTarget[:n:n]
			fromTarget = fromTarget[n:]
			if err := e.sendTargetChanges(ctx, em, t, object, batch); err != nil {
				return err
			}
		}
		return nil
	}
	var batch []sfsync.Record
	classify := func() error {
		if len(batch) == 0 {
			return nil
		}
		keys := make([]string, len(batch))
		for i, r := range batch {
			keys[i] = object + "/" + r.ID
		}
		hs, err := e.versions.heldOf(ctx, keys, batch, t.canonical)
		if err != nil {
			return fmt.Errorf("sync: drift check of %s: reading the version map: %w", object, err)
		}
		for i, rec := range batch {
			h := hs[keys[i]]
			// Built only for a record found to differ: most are not.
			found := func() targetFound { return targetFound{id: rec.ID, state: targetState(rec), held: h} }
			listed := sf.listed(rec.ID)
			var f targetFound
			switch {
			case !h.any:
				// Never synced: Salesforce's side tells, on a full pass,
				// whether it has the record.
				if !full || listed || rec.Deleted {
					continue
				}
				if !t.twoWay {
					report.TargetOnly++
					continue
				}
				f = found()
				f.create = true
				fromTarget = append(fromTarget, f)
			case full && !listed && !rec.Deleted && h.salesforce && !h.deleted:
				// Synced from Salesforce, which no longer lists it: deleted
				// and purged there where no event told, unless made or
				// linked there while the listing ran (a linked record is
				// not re-read to tell).
				if t.link != "" && !goneBefore(h, sf.began) {
					continue
				}
				report.Drifted++
				f = found()
				t.locate(&f, sf, full)
				toSF(f)
				continue
			case !h.changed:
				continue
			case t.twoWay:
				f = found()
				f.create = h.deleted && !rec.Deleted
				fromTarget = append(fromTarget, f)
			default:
				// Whatever Salesforce holds now decides; a live record
				// comes back whole where the target deleted it.
				f = found()
				f.create = rec.Deleted
				if t.locate(&f, sf, full); f.gone && !goneBefore(h, sf.began) {
					continue
				}
				toSF(f)
			}
			report.TargetDrifted++
		}
		batch = batch[:0]
		return flush(false)
	}
	for rec, err := range t.lister.Versions(ctx, t.entity, since) {
		if err != nil {
			return fmt.Errorf("sync: drift check of %s: listing the versions %s holds: %w", object, t.route.To, err)
		}
		report.TargetChecked++
		if full {
			seen[rec.ID] = true
		}
		if batch = append(batch, rec); len(batch) == driftBatch {
			if err := classify(); err != nil {
				return err
			}
		}
	}
	if err := classify(); err != nil {
		return err
	}
	if full {
		// Live in Salesforce, synced, and missing in the target.
		var missing []string
		for id, live := range sf.live {
			if live && !seen[id] {
				missing = append(missing, id)
			}
		}
		slices.Sort(missing)
		for len(missing) > 0 {
			n := min(len(missing), driftBatch)
			ids := missing[:n]
			missing = missing[n:]
			keys := make([]string, n)
			for i, id := range ids {
				keys[i] = object + "/" + id
			}
			hs, err := e.versions.heldOf(ctx, keys, nil, nil)
			if err != nil {
				return fmt.Errorf("sync: drift check of %s: reading the version map: %w", object, err)
			}
			for i, id := range ids {
				h, ok := hs[keys[i]]
				if !ok || !h.salesforce || h.deleted {
					// Never synced, or deleted as far as the engine knows:
					// Salesforce's side of the check decides it.
					continue
				}
				report.TargetDrifted++
				f := targetFound{id: id, state: "missing@" + h.sfNewest.String(), held: h, create: true}
				t.locate(&f, sf, full)
				toSF(f)
			}
			if err := flush(false); err != nil {
				return err
			}
		}
	}
	if len(unresolved) > 0 {
		found, err := e.resolveLinks(ctx, t, object, unresolved, report)
		if err != nil {
			return err
		}
		fromSF = append(fromSF, found...)
	}
	if err := flush(true); err != nil {
		return err
	}
	return em.wait(ctx)
}
