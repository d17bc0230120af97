package conflict

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sfsync/sfsync"
)

// SalesforceWins applies every change that comes from Salesforce. A change
// from any other system only creates what the target does not have yet: it
// never overwrites a field the target holds.
func SalesforceWins() sfsync.ConflictPolicy { return SystemWins(sfsync.Salesforce) }

// ExternalWins applies every change that comes from an external system; a
// Salesforce change only creates what the target does not have yet.
func ExternalWins() sfsync.ConflictPolicy {
	return winner{name: "external systems", wins: func(s sfsync.System) bool { return !s.IsSalesforce() }}
}

// SystemWins applies every change from s; changes from other systems only
// fill fields the target does not hold.
func SystemWins(s sfsync.System) sfsync.ConflictPolicy {
	return winner{name: string(s), wins: func(from sfsync.System) bool { return from == s }}
}

type winner struct {
	name string
	wins func(sfsync.System) bool
}

func (w winner) Decide(in sfsync.Change, cur sfsync.Record) sfsync.Decision {
	if w.wins(in.Source) {
		return sfsync.ApplyAll(in, fmt.Sprintf("%s wins", w.name))
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
		if _, held := cur.Fields[f]; held {
			d.Dropped[f] = fmt.Sprintf("%s wins and the target holds a value", w.name)
			continue
		}
		d.Keep = append(d.Keep, f)
	}
	return finish(d, fmt.Sprintf("%s wins; only fields the target lacks are filled", w.name))
}

// live reports whether the target has the record, not deleted.
func live(r sfsync.Record) bool { return r.Exists && !r.Deleted }

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
// Ties — equal versions, or times within the skew tolerance — go to the
// system of record when the field's last writer is known; otherwise, and
// between equals, the greater value in a stable textual order wins, so that
// both directions of a sync settle on the same value whatever the arrival
// order. A change without a version is older than any versioned field: it
// cannot prove it is newer.
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
	if !live(cur) && in.Op != sfsync.OpDelete {
		return sfsync.ApplyAll(in, "last write wins: the target has no such record")
	}
	if in.Op == sfsync.OpDelete || in.Op == sfsync.OpUndelete {
		if !cur.Exists {
			return sfsync.Reject("last write wins: the target has no record to delete")
		}
		switch l.compare(in, cur.Version, cur, "") {
		case newer:
			return sfsync.ApplyAll(in, fmt.Sprintf("last write wins: %s at %s is newer than the record (%s)", in.Op, in.Version, cur.Version))
		default:
			return sfsync.Reject(fmt.Sprintf("last write wins: %s at %s is not newer than the record (%s)", in.Op, in.Version, cur.Version))
		}
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

// compare places in against the target's version of field (the record's
// when field is "").
func (l lww) compare(in sfsync.Change, target sfsync.Version, cur sfsync.Record, field string) verdict {
	switch {
	case target.IsZero() && in.Version.IsZero():
		// Neither can be ordered: fall through to the tie rules.
	case target.IsZero():
		return newer
	case in.Version.IsZero():
		return older
	case in.Version.Counter != 0 && target.Counter != 0:
		// Counters come from one system's own sequence: exact, no skew.
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
	if writer, ok := cur.LastWriter[field]; ok && writer != in.Source {
		if in.Source == l.sor {
			return tieWon
		}
		if writer == l.sor {
			return tieLost
		}
	}
	var inVal any
	if field != "" {
		inVal, _ = in.Value(field)
	}
	if field == "" || strings.Compare(text(inVal), text(cur.Fields[field])) > 0 {
		return tieWon
	}
	return tieLost
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
// owner; a change from any other system to an owned field is dropped, and
// the drop recorded. Fields nobody owns, deletes and undeletes are decided
// by fallback.
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
	if in.Op == sfsync.OpDelete || in.Op == sfsync.OpUndelete {
		return o.fallback.Decide(in, cur)
	}
	d := sfsync.Decision{Dropped: map[string]string{}}
	rest := in.Clone()
	var reasons []string
	for _, f := range in.Touched() {
		owner, owned := o.owners[f]
		if !owned {
			continue
		}
		if owner == in.Source {
			d.Keep = append(d.Keep, f)
		} else {
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
