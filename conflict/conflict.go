package conflict

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sfsync/sfsync"
)

// RecordLevel is the key of [sfsync.Record].LastWriter that names the
// system of the record's last change as a whole, the one Record.Version
// is: for a deleted record, the system that deleted it. Field names are
// never empty, so it cannot clash with a field.
const RecordLevel = ""

// SalesforceWins applies every change that comes from Salesforce. A change
// from any other system only creates what the target does not have yet: it
// never overwrites a field the target holds. See [SystemWins] for deletes
// and for a system's own earlier changes.
func SalesforceWins() sfsync.ConflictPolicy { return SystemWins(sfsync.Salesforce) }

// ExternalWins applies every change that comes from an external system; a
// Salesforce change only creates what the target does not have yet. See
// [SystemWins] for deletes and for a system's own earlier changes.
func ExternalWins() sfsync.ConflictPolicy {
	return winner{name: "external systems", wins: func(s sfsync.System) bool { return !s.IsSalesforce() }}
}

// SystemWins applies every change from s; changes from other systems only
// fill fields the target does not hold. A null field counts as held only
// when the record names its writer (someone emptied it): Salesforce shows
// every field of a record, null where it was never filled.
//
// Whatever system wins, a system's own later change always supersedes its
// own earlier one: a field or record whose last writer (Record.LastWriter,
// [RecordLevel] for the record) is the change's own system and whose
// version is newer is not overwritten by that change.
//
// A deleted record with a version is a tombstone. A create, update or
// undelete against it is decided as follows: if the deleter
// (LastWriter[[RecordLevel]]) is the change's own system, the change
// brings the record back only when it is newer than the delete; if the
// deleter is another system, the policy decides, so the winner's change
// brings the record back and the winner's delete stands against the
// other's change; where the policy favours neither, or the deleter is not
// known, the change must again be newer than the delete.
func SystemWins(s sfsync.System) sfsync.ConflictPolicy {
	return winner{name: string(s), wins: func(from sfsync.System) bool { return from == s }}
}

type winner struct {
	name string
	wins func(sfsync.System) bool
}

func (w winner) Decide(in sfsync.Change, cur sfsync.Record) sfsync.Decision {
	if tombstone(cur) && in.Op != sfsync.OpDelete {
		if d, decided := w.onTombstone(in, cur); decided {
			return d
		}
	}
	if in.Op == sfsync.OpDelete || in.Op == sfsync.OpUndelete {
		if live(cur) && ownNewer(in, cur, RecordLevel) {
			return sfsync.Reject(fmt.Sprintf("%s wins, but %s's own later change (%s) supersedes this %s at %s", w.name, in.Source, cur.Version, in.Op, in.Version))
		}
	}
	if w.wins(in.Source) {
		if in.Op == sfsync.OpDelete || in.Op == sfsync.OpUndelete {
			return sfsync.ApplyAll(in, fmt.Sprintf("%s wins", w.name))
		}
		d := sfsync.Decision{Dropped: map[string]string{}}
		for _, f := range in.Touched() {
			if ownNewer(in, cur, f) {
				d.Dropped[f] = fmt.Sprintf("%s's own later value (%s) supersedes this change at %s", in.Source, cur.FieldVersion(f), in.Version)
				continue
			}
			d.Keep = append(d.Keep, f)
		}
		return finish(d, fmt.Sprintf("%s wins", w.name))
	}
	if !live(cur) {
		if in.Op == sfsync.OpDelete {
			return sfsync.Reject(fmt.Sprintf("%s wins; the target has no record to delete", w.name))
		}
		return sfsync.ApplyAll(in, fmt.Sprintf("%s wins, but the target has no such record", w.name))
	}
	if in.Op == sfsync.OpDelete || in.Op == sfsync.OpUndelete {
		return sfsync.Reject(fmt.Sprintf("%s wins; a %s from %s is not applied", w.name, in.Op, in.Source))
	}
	d := sfsync.Decision{Dropped: map[string]string{}}
	for _, f := range in.Touched() {
		// An empty field holds a value only if someone set it so: a
		// Salesforce record shows every field, null where never filled.
		if v, held := cur.Fields[f]; held && (v != nil || hasWriter(cur, f)) {
			d.Dropped[f] = fmt.Sprintf("%s wins and the target holds a value", w.name)
			continue
		}
		d.Keep = append(d.Keep, f)
	}
	return finish(d, fmt.Sprintf("%s wins; only fields the target lacks are filled", w.name))
}

// onTombstone decides a create, update or undelete of a record whose
// delete is versioned, where the delete settles it: against the deleter's
// own history by version order, between systems by the policy, and where
// the policy favours neither system or the deleter is unknown, by version
// order again, so an older change never brings the record back. It
// reports false when the change is newer and the usual rules decide.
func (w winner) onTombstone(in sfsync.Change, cur sfsync.Record) (sfsync.Decision, bool) {
	deleter, known := writer(cur, RecordLevel)
	switch {
	case known && deleter == in.Source:
	case known && w.wins(in.Source):
		return sfsync.ApplyAll(in, fmt.Sprintf("%s wins over the delete by %s at %s", w.name, deleter, cur.Version)), true
	case known && w.wins(deleter):
		return sfsync.Reject(fmt.Sprintf("%s wins; its delete at %s stands against this %s from %s", w.name, cur.Version, in.Op, in.Source)), true
	}
	if !cur.Version.Before(in.Version) {
		return sfsync.Reject(fmt.Sprintf("%s wins, but this %s at %s is not newer than the delete at %s: the record stays deleted", w.name, in.Op, in.Version, cur.Version)), true
	}
	return sfsync.Decision{}, false
}

// live reports whether the target has the record, not deleted.
func live(r sfsync.Record) bool { return r.Exists && !r.Deleted }

// tombstone reports whether r is a deleted record whose delete carries a
// version, which orders it against the changes that arrive after it.
func tombstone(r sfsync.Record) bool { return r.Exists && r.Deleted && !r.Version.IsZero() }

// writer returns the system that last wrote field of r ([RecordLevel]: the
// record's last change), if known.
func writer(r sfsync.Record, field string) (sfsync.System, bool) {
	w, ok := r.LastWriter[field]
	return w, ok && w != ""
}

// hasWriter reports whether r names who last wrote field.
func hasWriter(r sfsync.Record, field string) bool {
	_, ok := writer(r, field)
	return ok
}

// ownNewer reports whether the target's value of field ([RecordLevel]: the
// record) is in's own system's and strictly newer than in: a system's
// later change always supersedes its own earlier one. An unversioned
// change is never judged this way: it cannot be ordered.
func ownNewer(in sfsync.Change, cur sfsync.Record, field string) bool {
	w, ok := writer(cur, field)
	if !ok || w != in.Source || in.Version.IsZero() {
		return false
	}
	target := cur.Version
	if field != RecordLevel {
		target = cur.FieldVersion(field)
	}
	return in.Version.Before(target)
}

// finish sets Apply and Reason from what was kept.
func finish(d sfsync.Decision, reason string) sfsync.Decision {
	d.Apply = len(d.Keep) > 0
	d.Reason = reason
	if !d.Apply && len(d.Dropped) > 0 {
		d.Reason = reason + ": the target keeps every field"
	}
	if len(d.Dropped) == 0 {
		d.Dropped = nil
	}
	return d
}

// LWWOption configures [LastWriteWins].
type LWWOption func(*lww)

// WithSkewTolerance treats versions whose times differ by at most d as
// simultaneous: clocks of different systems disagree, and within their
// disagreement "later" means nothing. The default is 0.
func WithSkewTolerance(d time.Duration) LWWOption { return func(l *lww) { l.skew = max(d, 0) } }

// WithSystemOfRecord names the system whose change wins a tie (default
// sfsync.Salesforce).
func WithSystemOfRecord(s sfsync.System) LWWOption { return func(l *lww) { l.sor = s } }

// LastWriteWins writes each field of a change whose version is newer than
// the target's version of that field.
//
// A system's own later change always supersedes its own earlier one: where
// the field's last writer (Record.LastWriter) is the change's own system,
// plain version order decides, without skew. Between systems, ties — equal
// versions, or times within the skew tolerance — go to the system of record
// when the field's last writer is known; otherwise, and between equals, the
// greater value in a stable textual order wins, so that both directions of
// a sync settle on the same value whatever the arrival order. A change
// without a version is older than any versioned field: it cannot prove it
// is newer.
//
// Deletes are versioned tombstones, compared like any field version, with
// the deleter as the last writer (LastWriter[[RecordLevel]]): a create,
// update or undelete not newer than the delete of a record is not applied,
// and a delete is applied when it is newer than the record's last change
// (Record.Version). On a tie without the system of record to decide, the
// delete wins: a tying delete is applied, and a change tying a delete
// leaves the record deleted, so both sides end deleted.
func LastWriteWins(opts ...LWWOption) sfsync.ConflictPolicy {
	l := lww{sor: sfsync.Salesforce}
	for _, o := range opts {
		o(&l)
	}
	return l
}

type lww struct {
	skew time.Duration
	sor  sfsync.System
}

func (l lww) Decide(in sfsync.Change, cur sfsync.Record) sfsync.Decision {
	switch {
	case in.Op == sfsync.OpDelete && !cur.Exists:
		return sfsync.Reject("last write wins: the target has no record to delete")
	case in.Op == sfsync.OpDelete, in.Op == sfsync.OpUndelete && live(cur):
		switch l.compare(in, cur.Version, cur, RecordLevel) {
		case newer, tieWon:
			return sfsync.ApplyAll(in, fmt.Sprintf("last write wins: %s at %s is newer than the record (%s) or wins the tie", in.Op, in.Version, cur.Version))
		default:
			return sfsync.Reject(fmt.Sprintf("last write wins: %s at %s is not newer than the record (%s)", in.Op, in.Version, cur.Version))
		}
	case tombstone(cur):
		switch l.compare(in, cur.Version, cur, RecordLevel) {
		case newer, tieWon:
			return sfsync.ApplyAll(in, fmt.Sprintf("last write wins: %s at %s is newer than the delete (%s)", in.Op, in.Version, cur.Version))
		default:
			return sfsync.Reject(fmt.Sprintf("last write wins: %s at %s is not newer than the delete (%s): the record stays deleted", in.Op, in.Version, cur.Version))
		}
	case !live(cur):
		return sfsync.ApplyAll(in, "last write wins: the target has no such record")
	}
	d := sfsync.Decision{Dropped: map[string]string{}}
	for _, f := range in.Touched() {
		if !holdsField(cur, f) {
			// The target never had this field: nothing newer to protect.
			d.Keep = append(d.Keep, f)
			continue
		}
		fv := cur.FieldVersion(f)
		switch l.compare(in, fv, cur, f) {
		case newer:
			d.Keep = append(d.Keep, f)
		case tieWon:
			d.Keep = append(d.Keep, f)
		case older:
			d.Dropped[f] = fmt.Sprintf("target's value (%s) is newer than %s", fv, in.Version)
		case tieLost:
			d.Dropped[f] = fmt.Sprintf("tie within %s with the target's value (%s), decided for the target", l.skew, fv)
		}
	}
	return finish(d, "last write wins")
}

// holdsField reports whether the target has a value or a version for field.
func holdsField(cur sfsync.Record, field string) bool {
	if _, ok := cur.Fields[field]; ok {
		return true
	}
	_, ok := cur.FieldVersions[field]
	return ok
}

type verdict int

const (
	older verdict = iota
	tieLost
	tieWon
	newer
)

// compare places in against the target's version of field ([RecordLevel]:
// the record's version).
func (l lww) compare(in sfsync.Change, target sfsync.Version, cur sfsync.Record, field string) verdict {
	w, known := writer(cur, field)
	own := known && w == in.Source
	switch {
	case target.IsZero() && in.Version.IsZero():
		// Neither can be ordered: fall through to the tie rules.
	case target.IsZero():
		return newer
	case in.Version.IsZero():
		return older
	case own, in.Version.Counter != 0 && target.Counter != 0:
		// One system's own history, or counters from one system's own
		// sequence: exact order, no skew. Skew is about clocks of
		// different systems disagreeing.
		if c := in.Version.Compare(target); c != 0 {
			return pick(c > 0, newer, older)
		}
	default:
		diff := in.Version.Time.Sub(target.Time)
		if diff > l.skew {
			return newer
		}
		if diff < -l.skew {
			return older
		}
		if l.skew == 0 {
			if c := in.Version.Compare(target); c != 0 {
				return pick(c > 0, newer, older)
			}
		}
	}
	// A tie: the system of record first, then the content.
	if known && !own {
		if in.Source == l.sor {
			return tieWon
		}
		if w == l.sor {
			return tieLost
		}
	}
	if field == RecordLevel {
		// A delete against a change: the delete wins either way round,
		// so both sides end deleted.
		return pick(in.Op == sfsync.OpDelete, tieWon, tieLost)
	}
	inVal, _ := in.Value(field)
	return pick(strings.Compare(text(inVal), text(cur.Fields[field])) > 0, tieWon, tieLost)
}

func pick(cond bool, a, b verdict) verdict {
	if cond {
		return a
	}
	return b
}

func text(v any) string {
	if v == nil {
		return ""
	}
	return fmt.Sprint(v)
}

// Owners gives fields to the system that owns them: field name (the
// canonical, Salesforce name) to owner.
type Owners map[string]sfsync.System

// FieldOwnership writes an owned field only when the change comes from its
// owner (and is not older than the owner's own value of it); a change from
// any other system to an owned field is dropped, and the drop recorded.
// Fields nobody owns, deletes and undeletes are decided by fallback, and so
// is whether a change brings back a deleted record (owning a field is not
// owning the record): only if the fallback applies the change to the
// tombstone are its fields shared out by owner. An undelete the fallback
// applies is shared out the same way: it restores the record, not another
// system's value of a field the target owns.
func FieldOwnership(owners Owners, fallback sfsync.ConflictPolicy) sfsync.ConflictPolicy {
	if fallback == nil {
		fallback = LastWriteWins()
	}
	return ownership{owners: owners, fallback: fallback}
}

type ownership struct {
	owners   Owners
	fallback sfsync.ConflictPolicy
}

func (o ownership) Decide(in sfsync.Change, cur sfsync.Record) sfsync.Decision {
	if in.Op == sfsync.OpDelete {
		return o.fallback.Decide(in, cur)
	}
	if in.Op == sfsync.OpUndelete {
		// Whether the record comes back is the fallback's call; the values
		// it comes back with are shared out: a field another system owns
		// keeps the owner's value.
		d := o.fallback.Decide(in, cur)
		if !d.Apply {
			return d
		}
		var left []string
		d.Keep = slices.DeleteFunc(slices.Clone(d.Keep), func(f string) bool {
			owner, owned := o.owners[f]
			if owned && owner != in.Source {
				if d.Dropped == nil {
					d.Dropped = map[string]string{}
				}
				d.Dropped[f] = fmt.Sprintf("owned by %s", owner)
				left = append(left, f)
				return true
			}
			return false
		})
		if len(left) > 0 {
			d.Reason = fmt.Sprintf("field ownership: %s; not %v: owned by another system", d.Reason, left)
		}
		return d
	}
	if tombstone(cur) {
		// Whether the record comes back is the fallback's call (owning a
		// field is not owning the record); only then are fields shared out.
		if fd := o.fallback.Decide(in, cur); !fd.Apply {
			fd.Reason = "field ownership: " + fd.Reason
			return fd
		}
	}
	d := sfsync.Decision{Dropped: map[string]string{}}
	rest := in.Clone()
	var reasons []string
	for _, f := range in.Touched() {
		owner, owned := o.owners[f]
		if !owned {
			continue
		}
		switch {
		case owner == in.Source && ownNewer(in, cur, f):
			d.Dropped[f] = fmt.Sprintf("owned by %s, whose own later value (%s) supersedes this change at %s", owner, cur.FieldVersion(f), in.Version)
		case owner == in.Source:
			d.Keep = append(d.Keep, f)
		default:
			d.Dropped[f] = fmt.Sprintf("owned by %s", owner)
		}
		delete(rest.Fields, f)
		rest.Nulled = slices.DeleteFunc(rest.Nulled, func(n string) bool { return n == f })
	}
	if len(d.Keep) > 0 {
		reasons = append(reasons, fmt.Sprintf("%v from the owner", d.Keep))
	}
	if len(rest.Touched()) > 0 {
		fd := o.fallback.Decide(rest, cur)
		if fd.Apply {
			d.Keep = append(d.Keep, fd.Keep...)
		}
		for f, why := range fd.Dropped {
			d.Dropped[f] = why
		}
		if !fd.Apply {
			for _, f := range rest.Touched() {
				if _, ok := d.Dropped[f]; !ok {
					d.Dropped[f] = fd.Reason
				}
			}
		}
		reasons = append(reasons, fmt.Sprintf("%v by %s", rest.Touched(), strings.TrimSuffix(fd.Reason, ": the target keeps every field")))
	}
	slices.Sort(d.Keep)
	return finish(d, "field ownership ("+strings.Join(reasons, "; ")+")")
}

// PerObject decides with the policy of the change's object, or fallback for
// objects without one.
func PerObject(byObject map[string]sfsync.ConflictPolicy, fallback sfsync.ConflictPolicy) sfsync.ConflictPolicy {
	return sfsync.ConflictPolicyFunc(func(in sfsync.Change, cur sfsync.Record) sfsync.Decision {
		if p, ok := byObject[in.Object]; ok && p != nil {
			return p.Decide(in, cur)
		}
		if fallback == nil {
			return sfsync.ApplyAll(in, "no policy for "+in.Object)
		}
		return fallback.Decide(in, cur)
	})
}
