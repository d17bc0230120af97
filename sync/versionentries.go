package sync

import (
	"math"
	"slices"
	"strings"
	"time"

	"github.com/sfsync/sfsync"
)

// The version cache holds a record's entries in one small slice, with the
// source system and field as ids of a name table the cache shares among
// its records, rather than as a map per source keyed by field name: the
// maps and the decoded name strings they kept alive took about 1.5 KiB per
// record of an eight-field mapping, most of the engine's live heap with a
// large cache; an entry is 48 bytes, its value's hash included. A record
// has a few dozen entries at most (each field, its lost and dead entries,
// the record-level ones, per system), so a linear scan finds one as fast
// as a map would.
//
// An entry holds no pointers (a version's time is kept as Unix
// nanoseconds): the collector does not scan the cache's entries, and an
// entry is 48 bytes where an sfsync.Version would make it 64.

// nameTable interns the source systems and field names of a version
// cache's entries. Names are never forgotten: there are as many as the
// mappings' fields (with their lost and dead forms) and systems.
// It is guarded by its cache's mutex.
type nameTable struct {
	ids   map[string]uint32
	names []string
}

func newNameTable() *nameTable { return &nameTable{ids: map[string]uint32{}} }

// id returns name's id, adding name if it is new.
func (t *nameTable) id(name string) uint32 {
	if id, ok := t.ids[name]; ok {
		return id
	}
	// A clone, so that the table does not keep the buffer a decoded
	// change's field name may share with the rest of its event.
	name = strings.Clone(name)
	id := uint32(len(t.names))
	t.names = append(t.names, name)
	t.ids[name] = id
	return id
}

// find returns name's id, if the table has it.
func (t *nameTable) find(name string) (uint32, bool) {
	id, ok := t.ids[name]
	return id, ok
}

func (t *nameTable) name(id uint32) string { return t.names[id] }

// versionEntry is one entry of a record's versions: the newest version of
// a field's data from a source system.
type versionEntry struct {
	source, field uint32 // ids in the cache's nameTable
	at            packedVersion
	hash          uint64 // of the value, for a data field; zero when unknown
}

func (e *versionEntry) version() sfsync.Version { return e.at.version() }

// packedVersion is an sfsync.Version without pointers: its time as Unix
// nanoseconds in UTC (zeroTime for the zero time), so times from 1678 to
// 2262; the location and monotonic reading are not kept, and neither
// takes part in comparing versions.
type packedVersion struct {
	nanos, commit, seq, counter int64
}

// zeroTime stands for the zero time.Time, which has no Unix nanoseconds.
const zeroTime = math.MinInt64

func packVersion(v sfsync.Version) packedVersion {
	p := packedVersion{nanos: zeroTime, commit: v.Commit, seq: v.Seq, counter: v.Counter}
	if !v.Time.IsZero() {
		p.nanos = v.Time.UnixNano()
	}
	return p
}

func (p packedVersion) version() sfsync.Version {
	v := sfsync.Version{Commit: p.commit, Seq: p.seq, Counter: p.counter}
	if p.nanos != zeroTime {
		v.Time = time.Unix(0, p.nanos).UTC()
	}
	return v
}

// recordVersions is the cache's copy of one record's version map.
type recordVersions struct {
	key     string
	names   *nameTable
	entries []versionEntry
	// echoed holds, per system, what the newest echo of our writes there
	// said its fields held (see echoContradicted). It lives in memory only:
	// after a restart a record's first decisions go without it, as before.
	echoed []hashedValue
	// superseded holds the hashes of the last values of data fields that
	// newer values replaced in the entries (see maxSuperseded): a
	// snapshot read before our write of a newer value landed repeats the
	// older one, which is no news (see holdsValue). It lives in memory
	// only, as echoed does.
	superseded []hashedValue
}

// maxSuperseded bounds the values a record keeps in superseded.
const maxSuperseded = 8

// hashedValue is a field's value as a hash of its normal form (see
// appendNormalValue), with the system it is of: in an echo, or one a newer
// value replaced.
type hashedValue struct {
	source, field uint32
	hash          uint64
}

// setEchoed replaces source's echoed values with those of c's fields.
func (rv *recordVersions) setEchoed(source uint32, c *sfsync.Change) {
	kept := rv.echoed[:0]
	for _, e := range rv.echoed {
		if e.source != source {
			kept = append(kept, e)
		}
	}
	rv.echoed = kept
	for _, f := range c.Touched() {
		v, _ := c.Value(f)
		rv.echoed = append(rv.echoed, hashedValue{source: source, field: rv.names.id(f), hash: valueHash(v)})
	}
}

// echoedValue reports whether source's newest echo carried value in field
// (see setEchoed).
func (rv *recordVersions) echoedValue(source sfsync.System, field string, value any) bool {
	sid, ok := rv.names.find(string(source))
	if !ok {
		return false
	}
	fid, ok := rv.names.find(field)
	if !ok {
		return false
	}
	for _, e := range rv.echoed {
		if e.source == sid && e.field == fid {
			return e.hash == valueHash(value)
		}
	}
	return false
}

// echoContradicted reports whether target's record cur, whose version the
// newest echo of our writes there explains only to the second, holds a
// value of a field that echo carried other than the echo's: a change of
// the target's own came after our write in the same second, and its event
// is still to come. That takes a target that stamps its own changes, ours
// too, with whole seconds on the record and a commit number in the event,
// as Salesforce does (SystemModstamp, commitNumber); an echo without a
// commit number may carry the written change's version, another system's
// clock, which says nothing of the record's second.
func (rv *recordVersions) echoContradicted(target sfsync.System, cur sfsync.Record) bool {
	echo, ok := rv.version(target, fieldEcho)
	if !ok || echo.Commit == 0 || cur.Version.Counter != 0 || !echo.Time.Truncate(time.Second).Equal(cur.Version.Time.Truncate(time.Second)) {
		return false
	}
	for _, f := range []string{fieldAny, fieldDeleted} {
		if v, ok := rv.version(target, f); ok && echo.Before(v) {
			return false // a change of the target's own, seen since, explains it
		}
	}
	sid, ok := rv.names.find(string(target))
	if !ok {
		return false
	}
	for _, e := range rv.echoed {
		if e.source != sid {
			continue
		}
		if v, held := cur.Fields[rv.names.name(e.field)]; held && valueHash(v) != e.hash {
			return true
		}
	}
	return false
}

// entryOf returns the entry of the source and field ids, or nil.
func (rv *recordVersions) entryOf(source, field uint32) *versionEntry {
	for i := range rv.entries {
		if e := &rv.entries[i]; e.field == field && e.source == source {
			return e
		}
	}
	return nil
}

// versionOf returns the version of the entry of the source and field ids.
func (rv *recordVersions) versionOf(source, field uint32) (sfsync.Version, bool) {
	if e := rv.entryOf(source, field); e != nil {
		return e.version(), true
	}
	return sfsync.Version{}, false
}

// setOf sets the entry of the source and field ids to v, with the hash of
// its value (zero when unknown).
func (rv *recordVersions) setOf(source, field uint32, v sfsync.Version, hash uint64) {
	for i := range rv.entries {
		if e := &rv.entries[i]; e.field == field && e.source == source {
			if e.hash != 0 && e.hash != hash {
				rv.supersede(source, field, e.hash)
			}
			e.at, e.hash = packVersion(v), hash
			return
		}
	}
	if len(rv.entries) == cap(rv.entries) {
		// Grow by a quarter, not twice over: most records stop at a
		// dozen or two entries, and the slack would be most of it.
		grown := make([]versionEntry, len(rv.entries), len(rv.entries)+len(rv.entries)/4+4)
		copy(grown, rv.entries)
		rv.entries = grown
	}
	rv.entries = append(rv.entries, versionEntry{source: source, field: field, at: packVersion(v), hash: hash})
}

// supersede keeps hash, a data field's value that a newer one replaces in
// the entry of source and field, among the last maxSuperseded.
func (rv *recordVersions) supersede(source, field uint32, hash uint64) {
	if strings.HasPrefix(rv.names.name(field), "\x00") {
		return // a lost or dead entry, or the record's own
	}
	if len(rv.superseded) == maxSuperseded {
		rv.superseded = append(rv.superseded[:0], rv.superseded[1:]...)
	}
	rv.superseded = append(rv.superseded, hashedValue{source: source, field: field, hash: hash})
}

func (rv *recordVersions) version(src sfsync.System, field string) (sfsync.Version, bool) {
	sid, ok := rv.names.find(string(src))
	if !ok {
		return sfsync.Version{}, false
	}
	fid, ok := rv.names.find(field)
	if !ok {
		return sfsync.Version{}, false
	}
	return rv.versionOf(sid, fid)
}

func (rv *recordVersions) set(src sfsync.System, field string, v sfsync.Version, hash uint64) {
	rv.setOf(rv.names.id(string(src)), rv.names.id(field), v, hash)
}

// source and field return the names of e.
func (rv *recordVersions) source(e *versionEntry) sfsync.System {
	return sfsync.System(rv.names.name(e.source))
}

func (rv *recordVersions) field(e *versionEntry) string { return rv.names.name(e.field) }

// newest returns the newest version of field over every source, and whose;
// equal versions go to the system whose name sorts first, so the answer
// does not depend on the order of the entries.
func (rv *recordVersions) newest(field string) (sfsync.Version, sfsync.System, bool) {
	return rv.newestExcept(field, nil)
}

// newestExcept is newest over the entries skip (when not nil) does not
// leave out, given each entry's source and version.
func (rv *recordVersions) newestExcept(field string, skip func(sfsync.System, sfsync.Version) bool) (sfsync.Version, sfsync.System, bool) {
	var best sfsync.Version
	var who sfsync.System
	found := false
	fid, ok := rv.names.find(field)
	if !ok {
		return best, who, false
	}
	for i := range rv.entries {
		e := &rv.entries[i]
		if e.field != fid {
			continue
		}
		src := rv.source(e)
		v := e.version()
		if skip != nil && skip(src, v) {
			continue
		}
		if c := v.Compare(best); !found || c > 0 || (c == 0 && src < who) {
			best, who, found = v, src, true
		}
	}
	return best, who, found
}

// newestStandingData returns the newest version of the data target holds
// of any field that another system than except wrote, and whose: for each
// field, the newest data both systems hold, or target's own change that
// lost when that is newer (as describe places a field's data); among
// those, the newest whose writer is not except, with newest's order and
// tie rule.
func (rv *recordVersions) newestStandingData(target, except sfsync.System) (sfsync.Version, sfsync.System, bool) {
	var best sfsync.Version
	var who sfsync.System
	found := false
	var done []uint32
	for i := range rv.entries {
		e := &rv.entries[i]
		if slices.Contains(done, e.field) {
			continue
		}
		done = append(done, e.field)
		f := rv.field(e)
		if strings.HasPrefix(f, "\x00") {
			continue // record-level entries, and lost or dead data
		}
		v, src, ok := rv.newest(f)
		if own, held := rv.version(target, lostPrefix+f); held && (!ok || v.Before(own)) {
			v, src, ok = own, target, true
		}
		if !ok || src == except {
			continue
		}
		if c := v.Compare(best); !found || c > 0 || (c == 0 && src < who) {
			best, who, found = v, src, true
		}
	}
	return best, who, found
}

// newestData returns the newest version of any data field that target
// holds over every source, and whose, with newest's order and tie rule:
// synced data, and target's own changes that lost (until repaired). A
// lost change of another system's is data only that system holds.
func (rv *recordVersions) newestData(target sfsync.System) (sfsync.Version, sfsync.System, bool) {
	var best sfsync.Version
	var who sfsync.System
	found := false
	for i := range rv.entries {
		e := &rv.entries[i]
		f := rv.field(e)
		src := rv.source(e)
		switch {
		case f == fieldAny, f == fieldDeleted, f == fieldEcho, f == fieldMade, f == fieldDeleteLost, f == fieldUnmapped:
			continue // record-level entries
		case strings.HasPrefix(f, "\x00") && src != target, strings.HasPrefix(f, repairedPrefix):
			continue
		}
		v := e.version()
		if c := v.Compare(best); !found || c > 0 || (c == 0 && src < who) {
			best, who, found = v, src, true
		}
	}
	return best, who, found
}
