package sync

import (
	"slices"
	"strings"
	"time"

	"github.com/sfsync/sfsync"
)

// Value hashes. The version map keeps, with each field's version, a hash
// of the value it versions (sfsync.AppliedVersion.ValueHash). Salesforce's
// changes made while its events were lost (past retention) reach the
// engine only as a backfill's snapshot of each record, with one version
// for the whole record: a value the map has versioned is no news there,
// one it never versioned was set by a lost change (see decide and
// versionCache.describe).

// valueHash is the FNV-1a hash of v's normal form (see appendNormalValue),
// never zero (zero is an unknown hash in the version map). It is kept
// durably with version map entries: the form must not change.
func valueHash(v any) uint64 {
	const offset, prime = 14695981039346656037, 1099511628211
	h := uint64(offset)
	if s, ok := v.(string); ok {
		// The normal form of a string is 's' and its bytes: hashed as
		// they are, without building it.
		h = (h ^ 's') * prime
		for i := 0; i < len(s); i++ {
			h = (h ^ uint64(s[i])) * prime
		}
	} else {
		var buf [64]byte
		for _, b := range appendNormalValue(buf[:0], v) {
			h = (h ^ uint64(b)) * prime
		}
	}
	if h == 0 {
		h = 1
	}
	return h
}

// dataHash is the hash of c's value of the data field an entry named
// field versions (a field, or its lost or dead entry), zero for entries of
// the record as a whole and fields c does not carry.
func dataHash(c *sfsync.Change, field string) uint64 {
	name := strings.TrimPrefix(strings.TrimPrefix(field, lostPrefix), deadPrefix)
	if name == fieldAny || strings.HasPrefix(name, "\x00") {
		return 0
	}
	v, ok := c.Value(name)
	if !ok {
		return 0
	}
	return valueHash(v)
}

// holdsValue reports whether v, sys's value of field, is one that the map
// has versioned as synced data, which both systems held (the newest, or
// one a newer value replaced since this process has run: see
// recordVersions.superseded), as sys's own change that lost, or as a
// change that was dead-lettered; known is false when the map has no value
// of it. A change that lost is data of its own system's alone: the other
// system never took it, and holding the same value there is news of its
// own (that system set it), not that change's data. Nor does sys hold it
// once its repair landed (see versionCache.repaired): holding it again is
// news of sys's own.
func (rv *recordVersions) holdsValue(sys sfsync.System, field string, v any) (seen, known bool) {
	return rv.holdsValueOf(sys, field, v, true)
}

// holdsValueOf is holdsValue, where a dead-lettered change's value counts
// as seen only when dead says so: a backfill's row that carries it
// carries data the other system never took (see rowKnowsValue). A dead
// letter keeps a lost entry of its change too (the other system does not
// hold its data): without dead, that one does not count either.
func (rv *recordVersions) holdsValueOf(sys sfsync.System, field string, v any, dead bool) (seen, known bool) {
	const none = ^uint32(0)
	sid, sysKnown := rv.names.find(string(sys))
	ids := [3]uint32{none, none, none} // the field, its lost and its dead entries
	for i, name := range [...]string{field, lostPrefix + field, deadPrefix + field} {
		if id, ok := rv.names.find(name); ok {
			ids[i] = id
		}
	}
	h := valueHash(v)
	for i := range rv.entries {
		e := &rv.entries[i]
		if e.hash == 0 || !slices.Contains(ids[:], e.field) {
			continue
		}
		known = true
		if e.hash != h {
			continue
		}
		if !dead && e.field == ids[2] {
			continue
		}
		if e.field == ids[1] && (!sysKnown || e.source != sid) {
			continue // another system's change that lost: sys never held it
		}
		if e.field == ids[1] && rv.lostRepaired(sys, field, e.version()) {
			continue // repaired: sys took the winner's data since
		}
		if !dead && e.field == ids[1] {
			if dv, ok := rv.versionOf(e.source, ids[2]); ok && dv.Compare(e.version()) == 0 {
				continue // the dead letter's own lost entry
			}
		}
		return true, true
	}
	if id, ok := rv.names.find(field); ok && slices.ContainsFunc(rv.superseded, func(o hashedValue) bool { return o.field == id && o.hash == h }) {
		return true, true
	}
	return false, known
}

// syncedValue reports whether the map versions v as field's data that
// both systems held (not a change that lost or was dead-lettered).
func (vc *versionCache) syncedValue(record, field string, v any) bool {
	vc.mu.Lock()
	defer vc.mu.Unlock()
	rv := vc.get(record)
	id, ok := rv.names.find(field)
	if !ok {
		return false
	}
	h := valueHash(v)
	for i := range rv.entries {
		if e := &rv.entries[i]; e.field == id && e.hash == h {
			return true
		}
	}
	return false
}

// knowsAllValues reports whether the map has versioned c's value of every
// field in touched.
func (vc *versionCache) knowsAllValues(record string, c *sfsync.Change, touched []string) bool {
	vc.mu.Lock()
	defer vc.mu.Unlock()
	rv := vc.get(record)
	for _, f := range touched {
		v, _ := c.Value(f)
		if seen, _ := rv.holdsValueOf(c.Source, f, v, false); !seen {
			return false
		}
	}
	return true
}

// rowKnowsValue reports whether v, a backfill's or reconcile's row's value
// of field, read from sys, is no news: the map versions it as synced data,
// or as sys's own change that lost (see holdsValue). A value known only as
// a dead-lettered change's is news: the other system never took it, and
// the dead letter, requeued, would find the row's outcome under its own
// key (a row delivered again has the same key) and be its duplicate.
func (vc *versionCache) rowKnowsValue(record string, sys sfsync.System, field string, v any) (seen, known bool) {
	vc.mu.Lock()
	defer vc.mu.Unlock()
	return vc.get(record).holdsValueOf(sys, field, v, false)
}

// knowsValue is recordVersions.holdsValue for the cached record.
func (vc *versionCache) knowsValue(record string, sys sfsync.System, field string, v any) (seen, known bool) {
	vc.mu.Lock()
	defer vc.mu.Unlock()
	return vc.get(record).holdsValue(sys, field, v)
}

// beforePin reports whether the record's version of field, when it has
// one, is before the pin.
func beforePin(versions map[string]sfsync.Version, field string, pin time.Time) bool {
	v, ok := versions[field]
	return ok && v.Time.Before(pin)
}

// rowAfterPin reports whether c is a backfill's row read after its stream
// was pinned, and returns the pin's version. The row has its record's
// version, set by a change after the pin, whose event the stream brings
// and which decides what it changed. What else the row carries was set
// before the pin: it is decided at the pin's version, so that an edit of
// the other system's made since wins over it.
func rowAfterPin(it *item, c *sfsync.Change) (sfsync.Version, bool) {
	if !it.snapshot || it.pinned.IsZero() || (c.Op != sfsync.OpUpdate && c.Op != sfsync.OpCreate) {
		return sfsync.Version{}, false
	}
	pin := sfsync.Version{Time: it.pinned}
	return pin, pin.Before(c.Version)
}

// rowNews returns the fields of lost, those a change that lost its
// conflict set, that are news: for a backfill's row, those whose values the
// map never versioned. A row repeats its record's values synced long
// before with the record's version: remembered as the source's change that
// lost at that version, they would look newer than they are, and win a tie
// with the other system's later edit of them.
func rowNews(vc *versionCache, it *item, c *sfsync.Change, record string, lost []string) []string {
	if !it.snapshot || it.pinned.IsZero() || len(lost) == 0 {
		return lost
	}
	var news []string
	for _, f := range lost {
		v, _ := c.Value(f)
		if seen, _ := vc.rowKnowsValue(record, c.Source, f, v); !seen {
			news = append(news, f)
		}
	}
	return news
}

// rowOfSyncedValues reports whether c is a backfill's row that carries no
// value of touched the engine has not synced before: it tells of no change
// lost with the source's events, and brings nothing back that the target
// deleted since. (Its version, its record's last change or the pin, may
// be our own write's.)
func rowOfSyncedValues(vc *versionCache, it *item, c *sfsync.Change, record string, touched []string) bool {
	return it.snapshot && !it.pinned.IsZero() && (c.Op == sfsync.OpUpdate || c.Op == sfsync.OpCreate) &&
		len(touched) > 0 && vc.knowsAllValues(record, c, touched)
}
