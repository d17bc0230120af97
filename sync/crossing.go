package sync

import (
	"context"
	"slices"
	stdsync "sync"
	"sync/atomic"
	"time"

	"github.com/sfsync/sfsync"
)

// Crossing writes. A target that takes writes without a condition
// (Salesforce's sObject Collections) may take our write of another
// system's change just after one of its own users changed the same field:
// the write was decided on the record as it was before that change, and
// overwrites it. The user's change then reaches the other system (its
// event comes before our write's echo) and wins there, while the target
// keeps our write: the two systems differ, and no further event would
// bring them together.
//
// The target's own change stream, in commit order, shows the crossing: a
// change of the target that arrives while a write of ours to the same
// field of the record has no echo yet committed before that write landed,
// and, when the write's read did not show it (see sawChange), after that
// read. Once such a change is applied to the other system, a resync writes
// its data back to the target, as a repair (see planResync). Where our
// write did not overwrite it after all (the write failed, or landed
// first), the target holds that data and the resync is a no-op.
//
// A delete crosses the same way: Salesforce takes no condition on a
// delete, and ours removes the record with whatever its users changed in
// it after the decision's read. A delete's mark covers the whole record,
// and only the target's delete event answers it. A change of the target
// that crossed it and wins in the other system brings the record back
// there from the target's tombstone (see resurrect), and its resync
// brings it back in the target.
//
// The same marks tell the retry of a write that failed retryably whether
// the write took effect all the same: its echo arrived (see
// afterFailedWrite). A write that failed retryably keeps its mark until
// its echo or its expiry, whatever its retry decides: it may have landed,
// after everything the retry read. (Where it did not, a resync it causes
// is a no-op.) The marks live in memory: a restart forgets them, and a
// crossing at a crash is left to drift detection.

// crossingWindow bounds how long a write waits for its echo as a mark: an
// echo that never comes (a write that changed nothing, or a target whose
// echoes are not recognised) must not mark the record for ever.
const crossingWindow = 30 * time.Second

// maxCrossings bounds the records marked; expired marks go first.
const maxCrossings = 10_000

type crossingKey struct {
	record string
	sys    sfsync.System
}

// openWrite is a write of ours, from before its read until its echo.
type openWrite struct {
	fields []string
	// deletes marks a delete: it removes the record with whatever the
	// target changed in it, so any change of the target crosses it, and
	// only the target's delete event is its echo.
	deletes bool
	// read is what sawChange needs of the record as the write's decision
	// read it; its done is false until then.
	read readStamp
	at   time.Time
	// made is set when the write is about to be sent (see writing): no
	// echo answers it before that. An echo arriving during the decision's
	// read is of an earlier write (one made before a restart, whose mark
	// this engine never had).
	made bool
	// echoed is set when the write's echo arrived: it took effect.
	echoed bool
	// closed says, under the crossings' lock, that the write's call to the
	// sink returned (see sent), or that the write is not made after all
	// (see end). returned is made only for a change that waits for it (see
	// landed), and closed with it: most writes cross nothing.
	returned chan struct{}
	closed   bool
	// expect is what the write changes, once decided (see writing): the
	// values its echo carries. Until then, any echo of one of fields
	// answers it.
	expect []expectedValue
	// few holds fields for a change of up to four fields: every written
	// change is marked, and the mark and its names are then one
	// allocation.
	few [4]string
}

// expectedValue is a field's value that a write's echo carries.
type expectedValue struct {
	field string
	value any
}

// crossings holds, per record and system, our writes to that system whose
// echo has not arrived.
type crossings struct {
	mu    stdsync.Mutex
	marks map[crossingKey][]*openWrite
	// marked is len(marks), read without the lock: an engine whose writes
	// never echo (a one-way sync) takes no lock per change.
	marked atomic.Int64
}

// start marks the write of c to record in sys, whose echo will come.
func (x *crossings) start(record string, sys sfsync.System, c *sfsync.Change) *openWrite {
	w := &openWrite{deletes: c.Op == sfsync.OpDelete}
	w.fields = w.few[:0]
	for f := range c.Fields {
		w.fields = append(w.fields, f)
	}
	for _, f := range c.Nulled {
		if _, set := c.Fields[f]; !set {
			w.fields = append(w.fields, f)
		}
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.marks == nil {
		x.marks = make(map[crossingKey][]*openWrite)
	}
	now := time.Now()
	if len(x.marks) >= maxCrossings {
		for k, ws := range x.marks {
			if ws = slices.DeleteFunc(ws, func(w *openWrite) bool { return now.Sub(w.at) >= crossingWindow }); len(ws) == 0 {
				delete(x.marks, k)
			} else {
				x.marks[k] = ws
			}
		}
	}
	w.at = now
	k := crossingKey{record, sys}
	x.marks[k] = append(x.marks[k], w)
	x.marked.Store(int64(len(x.marks)))
	return w
}

// readStamp is what a read of a record says about the changes it saw.
type readStamp struct {
	done, exists, fieldVersions bool
	version                     sfsync.Version
}

// readAs records what the write's decision read.
func (x *crossings) readAs(w *openWrite, rec *sfsync.Record) {
	x.mu.Lock()
	w.read = readStamp{done: true, exists: rec.Exists, fieldVersions: len(rec.FieldVersions) > 0, version: rec.Version}
	x.mu.Unlock()
}

// writing records what the write of c, decided against cur, changes in
// the target: the fields whose values differ from cur's (every field set,
// for a record cur does not hold live). An echo answers the write only if
// it carries them all: another write of ours to the record, of some of
// its fields, echoes with those alone, or with its own values of them.
// (A target that stores a value in a form of its own leaves the mark
// unanswered: it expires, and a retry waits no longer for it.)
func (x *crossings) writing(w *openWrite, c *sfsync.Change, cur *sfsync.Record) {
	live := cur.Exists && !cur.Deleted
	var expect []expectedValue
	add := func(f string, v any) {
		if (live && sameValue(v, cur.Fields[f])) || (!live && v == nil) {
			return
		}
		if expect == nil {
			expect = make([]expectedValue, 0, len(c.Fields)+len(c.Nulled))
		}
		expect = append(expect, expectedValue{f, v})
	}
	for f, v := range c.Fields {
		add(f, v)
	}
	for _, f := range c.Nulled {
		if _, set := c.Fields[f]; !set {
			add(f, nil)
		}
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	w.made = true
	if len(expect) > 0 {
		w.expect = expect
	}
}

// answers reports whether the echo c, whose fields are fields, answers w.
func (w *openWrite) answers(c *sfsync.Change, fields []string) bool {
	if !w.made {
		return false
	}
	if w.deletes || c.Op == sfsync.OpDelete {
		return w.deletes && c.Op == sfsync.OpDelete
	}
	if w.expect == nil {
		return slices.ContainsFunc(fields, func(f string) bool { return slices.Contains(w.fields, f) })
	}
	for _, want := range w.expect {
		if v, ok := c.Value(want.field); !ok || !sameValue(v, want.value) {
			return false
		}
	}
	return true
}

// sent records that the write's call to the sink returned: a change of
// the target that crossed it is decided once it has (see landed).
func (x *crossings) sent(w *openWrite) {
	x.mu.Lock()
	defer x.mu.Unlock()
	w.release()
}

// release marks w returned, once, and wakes its waiters. The crossings'
// lock is held.
func (w *openWrite) release() {
	if !w.closed {
		w.closed = true
		if w.returned != nil {
			close(w.returned)
		}
	}
}

// landed waits, up to targetAheadWait, until the writes' calls to the
// sink returned, and reports whether they all did. A change of the target
// that crossed a write still on its way (a slow request) is decided before
// that write lands otherwise: its resync would find the target holding the
// change, and write nothing, and the write then overwrites it (a delete
// removes it with the record).
func (x *crossings) landed(ctx context.Context, writes []*openWrite) bool {
	var waits []chan struct{}
	x.mu.Lock()
	for _, w := range writes {
		if w.closed {
			continue
		}
		if w.returned == nil {
			w.returned = make(chan struct{})
		}
		waits = append(waits, w.returned)
	}
	x.mu.Unlock()
	if len(waits) == 0 {
		return true
	}
	timeout := time.NewTimer(targetAheadWait)
	defer timeout.Stop()
	for _, returned := range waits {
		select {
		case <-returned:
		case <-timeout.C:
			return false
		case <-ctx.Done():
			return false
		}
	}
	return true
}

// end takes back the mark of a write that failed, or was not made.
func (x *crossings) end(record string, sys sfsync.System, w *openWrite) {
	x.mu.Lock()
	defer x.mu.Unlock()
	w.release()
	k := crossingKey{record, sys}
	ws := slices.DeleteFunc(x.marks[k], func(o *openWrite) bool { return o == w })
	if len(ws) == 0 {
		delete(x.marks, k)
	} else {
		x.marks[k] = ws
	}
	x.marked.Store(int64(len(x.marks)))
}

// echoed takes back the oldest mark of record's writes to c's system that
// the echo c answers.
func (x *crossings) echoed(record string, c *sfsync.Change) {
	if x.marked.Load() == 0 {
		return
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	k := crossingKey{record, c.Source}
	ws := x.marks[k]
	if len(ws) == 0 {
		return
	}
	fields := c.Touched()
	for i, w := range ws {
		if w.answers(c, fields) {
			w.echoed = true
			ws = slices.Delete(ws, i, i+1)
			break
		}
	}
	if len(ws) == 0 {
		delete(x.marks, k)
	} else {
		x.marks[k] = ws
	}
	x.marked.Store(int64(len(x.marks)))
}

// open returns the writes of ours to c's system of record, not echoed
// yet, that write one of c's fields: c, arriving now, committed before
// those writes landed.
func (x *crossings) open(record string, c *sfsync.Change) []*openWrite {
	if x.marked.Load() == 0 {
		return nil
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	ws := x.marks[crossingKey{record, c.Source}]
	if len(ws) == 0 {
		return nil
	}
	fields := c.Touched()
	var out []*openWrite
	now := time.Now()
	for _, w := range ws {
		if now.Sub(w.at) < crossingWindow && (w.deletes || slices.ContainsFunc(fields, func(f string) bool { return slices.Contains(w.fields, f) })) {
			out = append(out, w)
		}
	}
	return out
}

// crossed returns the fields of c that one of the writes overwrote: it
// writes the field (a delete, every field), and its decision read the
// record without c (see readWithout).
func (x *crossings) crossed(c *sfsync.Change, writes []*openWrite) []string {
	x.mu.Lock()
	defer x.mu.Unlock()
	var out []string
	for _, f := range c.Touched() {
		for _, w := range writes {
			if (w.deletes || slices.Contains(w.fields, f)) && w.read.done && w.readWithout(c) {
				out = append(out, f)
				break
			}
		}
	}
	return out
}

// deleteCrossed reports whether one of the writes is a delete of ours that
// removed the record with c in it: c committed before it landed, and its
// decision read the record without c.
func (x *crossings) deleteCrossed(c *sfsync.Change, writes []*openWrite) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, w := range writes {
		if w.deletes && w.read.done && w.readWithout(c) {
			return true
		}
	}
	return false
}

// readWithout reports whether the write's decision read the record
// without c, a change of the target that arrived before the write's echo.
// A create of a record the read did not find was made after that read,
// whatever the versions say. On a target that keeps field versions, a
// delete's read whose record is older than c did not show c: applied, c
// would have set its fields' versions. (Field versions do not tell the
// other way, see sawChange.) Taken for a change the delete saw, c would
// stay deleted with the record, though it is newer than the delete's
// decision knew.
func (w *openWrite) readWithout(c *sfsync.Change) bool {
	switch {
	case c.Op == sfsync.OpCreate && !w.read.exists:
		return true
	case w.deletes && w.read.fieldVersions && w.read.exists && !w.read.version.IsZero() && w.read.version.Before(c.Version):
		return true
	}
	return !sawChange(w.read, c.Version)
}

// sawChange reports whether a read of a record shows a change of field at
// v. Only a target that stamps its own commit time on the record
// (Salesforce's SystemModstamp) can tell: a change of it at v committed
// after the read when v is past the read's version. A change in the same
// second (SystemModstamp has no more) is taken as unseen: the resync it
// causes is a no-op where the target holds its data, and where it does
// not, the change has just won in the other system, which the target is
// then brought to agree with. Field versions do not tell: the engine writes them, with
// the versions of the changes it writes, which may be older than the
// target's own change they overwrite.
func sawChange(read readStamp, v sfsync.Version) bool {
	if !read.exists || read.fieldVersions || read.version.IsZero() || v.Time.IsZero() {
		return true
	}
	return v.Time.Before(read.version.Time.Truncate(time.Second))
}

// planResync adds to w's repair the resync of the fields of c, decided to
// be written to w's target (or held there already), that a write of ours
// may have overwritten in c's own system (see above). cur is the target's
// record as the decision read it.
func (e *Engine) planResync(w *work, c sfsync.Change, cur sfsync.Record) {
	if len(w.it.crossing) == 0 || w.it.repair || (c.Op != sfsync.OpUpdate && c.Op != sfsync.OpCreate) {
		return
	}
	var fields []string
	for _, f := range e.crossing.crossed(&c, w.it.crossing) {
		if !slices.Contains(w.lost, f) {
			fields = append(fields, f)
		}
	}
	if len(fields) == 0 {
		return
	}
	winner, loser := w.route.To, c.Source
	probe := sfsync.Change{Source: winner, Object: c.Object}
	if back := e.route(&probe); back == nil || back.To != loser {
		return
	}
	r := w.repair
	if r == nil {
		r = &sfsync.Change{
			Source: winner, Tenant: c.Tenant, Object: c.Object, RecordID: c.RecordID, Op: sfsync.OpUpdate,
			Key: "repair:" + w.it.c.Key, Origin: sfsync.Origin{Client: repairClient}, Fields: map[string]any{},
			Version: c.Version,
		}
		if winner.IsSalesforce() && r.Tenant == "" {
			r.Tenant = e.cfg.tenant
		}
		w.repair, w.repairLostAt = r, c.Version
		if w.it.hold == nil {
			w.it.hold = new([]result)
			w.holdsForRepair = true
		}
	} else if r.Op != sfsync.OpUpdate {
		return
	}
	for _, f := range fields {
		v, _ := c.Value(f)
		setValue(r, f, v)
	}
	if r.Version.Before(c.Version) {
		r.Version = c.Version
	}
	// The resynced data is c's, at c's version: the repair is claimed at
	// its own version again.
	w.repairClaim = nil
	w.resynced = fields
	w.resyncUndoes = e.crossing.deleteCrossed(&c, w.it.crossing)
	// The repair's source is the winner, its data and version c's, on
	// c's clock: whether the winner has changed a field again since is
	// told on the winner's own clock, from the data c was decided against.
	//
	// That data is what the record read for the decision holds, as well
	// as what the version map holds as applied: the winner's own change
	// there may have no outcome yet. The crossing write is one (its
	// acknowledgement lost, its retry still to come, seed 5429): it wrote
	// the winner's change to the loser, and its outcome, recorded after
	// this decision, puts that change in the map as applied. Known from
	// the map alone, it would then look like a change of the winner's
	// made since, and the resync would be dropped as stale, though it is
	// the very data c beat: the loser would keep it for good.
	w.resyncFrom = nil
	record := c.RecordKey()
	for _, f := range fields {
		v, ok := e.versions.appliedOf(record, winner, f)
		if read, own := winnersReadData(cur, winner, f); own && (!ok || v.Before(read)) {
			v, ok = read, true
		}
		if ok {
			if w.resyncFrom == nil {
				w.resyncFrom = make(map[string]sfsync.Version, len(fields))
			}
			w.resyncFrom[f] = v
		}
	}
}

// winnersReadData returns the version of winner's own data of field in
// cur, winner's live record as a decision read it, where cur names winner
// as the field's writer: a version on winner's own clock. (A value our
// write took there may carry another system's version.)
func winnersReadData(cur sfsync.Record, winner sfsync.System, field string) (sfsync.Version, bool) {
	if !cur.Exists || cur.Deleted {
		return sfsync.Version{}, false
	}
	who, ok := cur.LastWriter[field]
	if !ok {
		if _, versioned := cur.FieldVersions[field]; versioned {
			return sfsync.Version{}, false
		}
		// A field as old as the record: the record's writer wrote it.
		who = cur.LastWriter[""]
	}
	if who != winner {
		return sfsync.Version{}, false
	}
	return cur.FieldVersion(field), true
}

// dropResync takes back the resync planned for a change that was not
// applied after all: its system keeps what it holds.
func dropResync(w *work) {
	if len(w.resynced) == 0 || w.repair == nil {
		return
	}
	dropFields(w.repair, w.resynced)
	w.resynced, w.resyncFrom, w.resyncUndoes = nil, nil, false
	if len(w.repair.Touched()) == 0 {
		w.repair = nil
	}
}

// markWrites marks the changes of a group about to be read and written to
// a system whose changes come back.
func (e *Engine) markWrites(r *Route, group []*work) {
	for _, w := range group {
		if w.c.Op == sfsync.OpEvent || !e.flowsFrom(r.To, w.c.Object) {
			continue
		}
		w.mark = e.crossing.start(w.recordKey(), r.To, &w.c)
	}
}

// unmarkWrites takes back the marks of changes that were not written: no
// echo will come of them.
func (e *Engine) unmarkWrites(r *Route, group []*work) {
	for _, w := range group {
		if w.mark != nil {
			e.crossing.end(w.recordKey(), r.To, w.mark)
			w.mark = nil
		}
	}
}

// tookEffect reports whether the write's echo has arrived.
func (x *crossings) tookEffect(w *openWrite) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	return w.echoed
}

// afterFailedWrite decides the retry of a write that failed retryably, and
// that may have taken effect all the same (a timeout whose response was
// lost), on a target whose changes come back: its echo, in the target's
// own stream, says that it did. On a target that keeps no field versions,
// a re-read cannot tell once the target changed the record since (the
// values differ either way); writing again would apply the change twice.
// When the echo arrived during the retry's backoff, the change is applied.
// Without it, the retry waits for the echo (parked, as for a target's
// change event) while the target shows the record changed since the
// write's read, up to targetAheadWait after the failed write, once per
// change: a write that landed has its echo on the way. After that, or when
// the record is as the write's read found it, it is written again.
func (e *Engine) afterFailedWrite(vc *versionCache, w *work, c sfsync.Change, cur sfsync.Record) (_ *result, wait bool) {
	failed := w.failedWrite
	if e.crossing.tookEffect(failed) {
		w.failedWrite = nil
		w.confirmed = true
		res := e.final(w.it, c, w.route.To, sfsync.StatusApplied, joinNotes("applied; confirmed by its echo (the acknowledgement was lost)", w.notes), true)
		res.versions = vc.remember(w.claimed(&c), w.recordKey(), c.Touched())
		return res, false
	}
	if !w.echoAwaited && e.crossing.changedSinceRead(failed, cur) && time.Since(failed.at) < targetAheadWait {
		return nil, true
	}
	w.echoAwaited = true
	w.failedWrite = nil
	// The failed write's mark stays: it may have landed all the same.
	return nil, false
}

// changedSinceRead reports whether cur, the record as read again, differs
// from what the write's read found of it: its version moved.
func (x *crossings) changedSinceRead(w *openWrite, cur sfsync.Record) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	return w.read.done && (cur.Exists != w.read.exists || cur.Version.Compare(w.read.version) != 0)
}
