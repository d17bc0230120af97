package sync

import (
	"container/list"

	"github.com/sfsync/sfsync"
)

// laneState remembers, per record and source system, the version of the
// newest data each field received from that source, so that a change which
// arrives late cannot overwrite newer data from the same source. Versions
// of different systems are not comparable by order of arrival; deciding
// between them is the conflict policy's job.
//
// It is bounded: the least recently used records are forgotten. Targets
// that report per-field versions and writers (Record.FieldVersions and
// Record.LastWriter) extend the protection past what the lane remembers,
// across restarts.
type laneState struct {
	limit   int
	records map[string]*list.Element
	lru     list.List
}

type recordVersions struct {
	key string
	// fields maps source system, then field, to the newest version applied.
	// The empty field name holds the record's newest version of any field.
	fields map[sfsync.System]map[string]sfsync.Version
}

func newLaneState(limit int) *laneState {
	return &laneState{limit: max(limit, 16), records: map[string]*list.Element{}}
}

func (ls *laneState) get(key string) *recordVersions {
	el, ok := ls.records[key]
	if !ok {
		return nil
	}
	ls.lru.MoveToFront(el)
	return el.Value.(*recordVersions)
}

// staleFields returns the fields of c for which newer data from c's source
// was already applied; for a delete, a non-empty result means the record
// itself changed after the delete was made.
func (ls *laneState) staleFields(c *sfsync.Change, cur sfsync.Record) []string {
	if c.Version.IsZero() {
		return nil
	}
	var known map[string]sfsync.Version
	if rv := ls.get(c.RecordKey()); rv != nil {
		known = rv.fields[c.Source]
	}
	newer := func(field string) bool {
		if v, ok := known[field]; ok && c.Version.Before(v) {
			return true
		}
		if field == "" {
			return false
		}
		if cur.LastWriter[field] == c.Source {
			if v, ok := cur.FieldVersions[field]; ok && c.Version.Before(v) {
				return true
			}
		}
		return false
	}
	if c.Op == sfsync.OpDelete {
		if newer("") {
			return []string{"(record)"}
		}
		return nil
	}
	var stale []string
	for _, f := range c.Touched() {
		if newer(f) {
			stale = append(stale, f)
		}
	}
	return stale
}

// remember records that c's data was applied.
func (ls *laneState) remember(c *sfsync.Change) {
	if c.Version.IsZero() || c.RecordID == "" {
		return
	}
	key := c.RecordKey()
	rv := ls.get(key)
	if rv == nil {
		rv = &recordVersions{key: key, fields: map[sfsync.System]map[string]sfsync.Version{}}
		ls.records[key] = ls.lru.PushFront(rv)
		for ls.lru.Len() > ls.limit {
			old := ls.lru.Back()
			ls.lru.Remove(old)
			delete(ls.records, old.Value.(*recordVersions).key)
		}
	}
	m := rv.fields[c.Source]
	if m == nil {
		m = map[string]sfsync.Version{}
		rv.fields[c.Source] = m
	}
	bump := func(field string) {
		if v, ok := m[field]; !ok || v.Before(c.Version) {
			m[field] = c.Version
		}
	}
	bump("")
	for _, f := range c.Touched() {
		bump(f)
	}
}
