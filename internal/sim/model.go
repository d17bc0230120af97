package sim

import (
	"fmt"
	"slices"
	"time"
)

// edit is one user action that took effect, as the model sees it: which
// side, what it set, and the version the side stamped it with. Only edits
// that really happened are recorded (a planned edit of a record that is
// not there is skipped), so the model never guesses.
type edit struct {
	N    int // position in the whole history
	Side Side
	Op   string // "create", "update", "delete", "undelete"
	Rec  int
	// Fields are Salesforce names to values; nil is null.
	Fields map[string]any
	// T is the version time the side reports: the org's commit timestamp
	// (whole seconds) or the ERP's clock, skew included.
	T time.Time
	// Seq orders the edits of one side (its own clock may tie).
	Seq int
	// Delayed marks an edit whose change did not reach the other side in
	// its turn (dead-lettered, then requeued; or overtaken by a snapshot
	// of newer data): later edits of its side may reach it first.
	Delayed bool
	// Until is, for a Salesforce edit whose event was never delivered
	// (lost past retention), the latest version time a backfill's row of
	// its record was decided at: the engine knows the edit only from that
	// row, and cannot tell when in between it was made. Zero otherwise.
	Until time.Time
	// Overtaken marks a create whose record reached the other side first
	// through a snapshot of its side (a backfill's or reconciliation's
	// row), with the values the record held when the snapshot was read.
	Overtaken bool
}

func (e edit) String() string {
	s := fmt.Sprintf("#%d %s %s t=%s", e.N, e.Side, e.Op, e.T.Sub(epoch))
	if len(e.Fields) > 0 {
		s += " " + fmtFields(e.Fields)
	}
	return s
}

// expectation is what the model says of one record: the acceptable
// existence values and, per field, the acceptable values. More than one
// candidate means the policy leaves the outcome open (see doc.go); both
// systems must still agree.
type expectation struct {
	Exists []bool
	Fields map[string][]any
	Why    map[string]string
}

// rule is the model's reading of a conflict policy. It is written from the
// policies' documentation, not from package conflict, and it looks at the
// whole history at once instead of one change against one target state.
type rule interface {
	// value returns the candidates for the final value of a field, given
	// every edit that set it and the record's whole history, oldest first.
	value(field string, edits, history []edit) ([]any, string)
	// exists returns the candidates for whether the record exists, given
	// its whole history.
	exists(history []edit) ([]bool, string)
}

func ruleOf(p *PolicySpec, object string) rule {
	switch p.Kind {
	case "lww":
		return lwwRule{skew: p.Skew}
	case "salesforce-wins":
		return winsRule{w: SF}
	case "external-wins":
		return winsRule{w: Ext}
	case "ownership":
		return ownRule{owners: p.Owners, fallback: ruleOf(p.Fallback, object)}
	case "per-object":
		if q, ok := p.ByObject[object]; ok {
			return ruleOf(q, object)
		}
		return ruleOf(p.Fallback, object)
	}
	panic("sim: no model of policy " + p.Kind)
}

// lwwRule: the newest edit of a field wins, by the version each side
// stamped it with (a Salesforce edit whose event was lost spans the time
// up to the backfill's row that told of it: see edit.Until). Edits of one side are ordered by that side; edits of
// different sides by time, and two whose times differ by no more than the
// skew tolerance (or, without one, are equal) are a tie that the policy
// breaks by rules the model does not reproduce (system of record, value
// order): either may win. A delete is one more record-level edit: the
// record exists unless the newest edits of it are deletes.
type lwwRule struct{ skew time.Duration }

func (l lwwRule) beats(a, b edit) bool {
	if a.Side == b.Side {
		return a.Seq > b.Seq
	}
	// An edit known only from a backfill's row (see edit.Until) may have
	// been made any time up to the row's version: it beats only what is
	// older than it for sure, and is beaten only by what is newer than
	// the row.
	latest := b.T
	if b.Until.After(latest) {
		latest = b.Until
	}
	return a.T.Sub(latest) > l.skew
}

func (l lwwRule) newest(es []edit) []edit {
	var out []edit
	for _, e := range es {
		if !slices.ContainsFunc(es, func(o edit) bool { return l.beats(o, e) }) {
			out = append(out, e)
		}
	}
	return out
}

func (l lwwRule) value(field string, es, _ []edit) ([]any, string) {
	win := l.newest(es)
	var vals []any
	for _, e := range win {
		vals = addCandidate(vals, e.Fields[field])
	}
	why := fmt.Sprintf("newest edit %s", win[0])
	if len(win) > 1 {
		why = fmt.Sprintf("tie within %s between %v", l.skew, win)
	}
	return vals, why
}

func (l lwwRule) exists(h []edit) ([]bool, string) {
	win := l.newest(h)
	var c []bool
	for _, e := range win {
		c = addBool(c, e.Op != "delete")
	}
	return c, fmt.Sprintf("newest record edits %v", win)
}

// winsRule: the winning side's edits always apply; the other side's only
// fill what the winner does not hold yet. So a field ends with the
// winner's newest value, or, if the winner never set it, with the first
// value the other side gave it that reached the winner (which filled it;
// later ones lose): the first edit's, or, when that edit was delayed (see
// edit.Delayed), a later one's, up to the first edit that was not. When
// the delayed edit is the record's create (or a snapshot overtook it, see
// edit.Overtaken), the record reaches the winner
// with whatever values the other side holds when some later change of it
// is taken across: any of its values up to the winner's first edit of the
// record (before which the winner need not hold it).
// The winner's deletes and restores decide existence; the other side's
// delete never removes a record the winner holds (one whose creation
// reached it before the delete: see deletedBeforeHeld).
type winsRule struct{ w Side }

func (r winsRule) value(field string, es, h []edit) ([]any, string) {
	for i := len(es) - 1; i >= 0; i-- {
		if es[i].Side == r.w {
			return []any{es[i].Fields[field]}, fmt.Sprintf("%s wins: its newest edit %s", r.w, es[i])
		}
	}
	if es[0].Op == "create" && (es[0].Delayed || es[0].Overtaken) {
		first := slices.IndexFunc(h, func(e edit) bool { return e.Side == r.w })
		var vals []any
		for _, e := range es {
			if first < 0 || e.N < h[first].N {
				vals = addCandidate(vals, e.Fields[field])
			}
		}
		return vals, fmt.Sprintf("%s never set it: its create was delayed, so any value the other side gave it before %s held the record (from %s on) may have filled it", r.w, r.w, es[0])
	}
	var vals []any
	for _, e := range es {
		vals = addCandidate(vals, e.Fields[field])
		if !e.Delayed {
			break
		}
	}
	if len(vals) > 1 {
		return vals, fmt.Sprintf("%s never set it: the first value to reach it filled it, from %s on (delayed edits first)", r.w, es[0])
	}
	return vals, fmt.Sprintf("%s never set it: the first value %s filled it", r.w, es[0])
}

func (r winsRule) exists(h []edit) ([]bool, string) {
	created := false
	for i := len(h) - 1; i >= 0; i-- {
		e := h[i]
		if e.Side == r.w && e.Op != "update" {
			return []bool{e.Op != "delete"}, fmt.Sprintf("%s wins: its last %s %s", r.w, e.Op, e)
		}
		created = created || e.Op == "create"
	}
	if created && r.deletedBeforeHeld(h) {
		return []bool{true, false}, fmt.Sprintf("%s never created, edited or deleted it, and the other side's create was delayed: it may not have held the record when the other side deleted it", r.w)
	}
	return []bool{created}, fmt.Sprintf("%s never created or deleted it", r.w)
}

// deletedBeforeHeld reports whether the winner may never have held the
// record when the other side deleted it: the winner never edited it, the
// other side's last record-level edit is a delete, and every one before it
// is a create that was delayed on its way (see edit.Delayed), which may
// have come after the delete and found it there.
func (r winsRule) deletedBeforeHeld(h []edit) bool {
	last := -1
	for i, e := range h {
		if e.Side == r.w {
			return false
		}
		if e.Op != "update" {
			last = i
		}
	}
	if last < 0 || h[last].Op != "delete" {
		return false
	}
	for _, e := range h[:last] {
		if e.Op != "update" && (e.Op != "create" || !e.Delayed) {
			return false
		}
	}
	return true
}

// ownRule: an owned field takes only its owner's edits (null when the
// owner never set it); other fields, deletes and restores follow the
// fallback policy.
type ownRule struct {
	owners   map[string]Side
	fallback rule
}

func (r ownRule) value(field string, es, h []edit) ([]any, string) {
	owner, ok := r.owners[field]
	if !ok {
		return r.fallback.value(field, es, h)
	}
	for i := len(es) - 1; i >= 0; i-- {
		if es[i].Side == owner {
			return []any{es[i].Fields[field]}, fmt.Sprintf("owned by %s: its newest edit %s", owner, es[i])
		}
	}
	return []any{nil}, fmt.Sprintf("owned by %s, which never set it", owner)
}

func (r ownRule) exists(h []edit) ([]bool, string) { return r.fallback.exists(h) }

// expect replays the history of every record through the scenario's
// policy.
func expect(sc *Scenario, history []edit) map[int]expectation {
	out := map[int]expectation{}
	for rec, r := range sc.Records {
		var h []edit
		for _, e := range history {
			if e.Rec == rec {
				h = append(h, e)
			}
		}
		if len(h) == 0 {
			continue
		}
		obj := sc.Objects[r.Object]
		ru := ruleOf(&sc.Policy, obj.Name)
		x := expectation{Fields: map[string][]any{}, Why: map[string]string{}}
		var why string
		x.Exists, why = ru.exists(h)
		x.Why["(exists)"] = why
		for _, f := range obj.Fields {
			var es []edit
			for _, e := range h {
				if _, ok := e.Fields[f.SF]; ok {
					es = append(es, e)
				}
			}
			if len(es) == 0 {
				x.Fields[f.SF] = []any{nil}
				x.Why[f.SF] = "never set"
				continue
			}
			x.Fields[f.SF], x.Why[f.SF] = ru.value(f.SF, es, h)
		}
		out[rec] = x
	}
	return out
}

func addCandidate(vals []any, v any) []any {
	if slices.ContainsFunc(vals, func(o any) bool { return sameVal(o, v) }) {
		return vals
	}
	return append(vals, v)
}

func addBool(c []bool, b bool) []bool {
	if slices.Contains(c, b) {
		return c
	}
	return append(c, b)
}

// sameVal compares field values as both systems store them: null and an
// empty string are the same absence of a value.
func sameVal(a, b any) bool {
	return norm(a) == norm(b)
}

func norm(v any) string {
	if v == nil {
		return ""
	}
	return fmt.Sprint(v)
}
