package sim

import (
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/sfsync/sfsync"
)

// A write repeated after a crash lost its outcome is decided again against
// the target as it is then. When the target took edits of the written
// fields in between, and each of them loses to the written change under
// the policy, the repeat is the write the policy owes those edits (their
// own changes, decided in turn, would have written the same values back
// under a repair's key): one effect per losing edit, not the first effect
// twice. Counting effects per idempotency key cannot tell the two apart;
// owedRepeat does, from the history of edits that took effect. A repeat
// with no such edit between, or over an edit that wins, stays a double
// effect.

// writeMark is what the checker keeps of one write that took effect.
type writeMark struct {
	// The edits in the history when the write was sent (from) and when it
	// returned (hist). An edit recorded in between may have taken effect
	// before or after the write: it counts as after the write for the
	// write's own repeat, and as before it for the write before.
	from   int
	hist   int
	side   Side      // the side the written change came from
	at     time.Time // the written change's version time
	record string    // the written change's record id
	fields []string  // the fields written, as the target names them
	values []any     // their values, in the order of fields
	repair bool      // the write was a repair: the winner's data, no edit of its own
}

func markOf(c sfsync.Change, from, hist int) writeMark {
	side := Ext
	if c.Source.IsSalesforce() {
		side = SF
	}
	// Touched names the nulled fields too, which Fields may leave out.
	fields := c.Touched()
	values := make([]any, len(fields))
	for i, f := range fields {
		values[i] = c.Fields[f]
	}
	return writeMark{from: from, hist: hist, side: side, at: c.Version.Time, record: c.RecordID, fields: fields, values: values, repair: strings.HasPrefix(c.Key, "repair:")}
}

// owedRepeats reports whether every repeat of a key's writes to target
// (marks, in the order they took effect) is owed to losing edits between
// it and the write before it (see above).
func (r *run) owedRepeats(target Side, marks []writeMark) bool {
	if len(marks) < 2 {
		return false
	}
	r.mu.Lock()
	history := slices.Clone(r.history)
	sfIDs := maps.Clone(r.sfIDs)
	r.mu.Unlock()
	for j := 1; j < len(marks); j++ {
		m := marks[j]
		written, ok := r.editOf(history, sfIDs, m)
		if !ok && m.repair {
			written, ok = r.repairEdit(sfIDs, m)
		}
		if !ok || written.Side == target {
			return false
		}
		obj := r.obj(written.Rec)
		var between, record []edit
		for i, e := range history[:min(m.hist, len(history))] {
			if e.Rec != written.Rec {
				continue
			}
			record = append(record, e)
			if i >= marks[j-1].from && e.Side == target {
				between = append(between, e)
			}
		}
		if !owed(ruleOf(&r.sc.Policy, obj.Name), written, between, record, m.wroteBySF(obj, target)) {
			return false
		}
	}
	return true
}

// editOf finds the edit whose change m wrote: its side's edit at m's
// version time, of m's record when several share the time, and of m's
// values when several edits of the record do (a side's clock stamps a
// create and the update right after it alike).
func (r *run) editOf(history []edit, sfIDs map[int]string, m writeMark) (edit, bool) {
	var found []edit
	for _, e := range history {
		if e.Side == m.side && e.T.Equal(m.at) && e.Op != "delete" {
			found = append(found, e)
		}
	}
	if len(found) > 1 {
		found = slices.DeleteFunc(found, func(e edit) bool {
			return r.sc.Records[e.Rec].ExtID != m.record && sfIDs[e.Rec] != m.record
		})
	}
	if len(found) > 1 {
		target := SF
		if m.side == SF {
			target = Ext
		}
		wrote := m.wroteBySF(r.obj(found[0].Rec), target)
		carried := slices.DeleteFunc(slices.Clone(found), func(e edit) bool { return !carriesEdit(wrote, e) })
		if len(carried) == 1 {
			found = carried
		}
	}
	if len(found) != 1 {
		return edit{}, false
	}
	return found[0], true
}

// carriesEdit reports whether a write of wrote (values by Salesforce name) can
// be e's change: it wrote at least one of e's fields, and each with e's
// value. (A write may leave out fields that lost, never change a value.)
func carriesEdit(wrote map[string]any, e edit) bool {
	one := false
	for f, v := range e.Fields {
		w, ok := wrote[f]
		if !ok {
			continue
		}
		if !sameVal(w, v) {
			return false
		}
		one = true
	}
	return one
}

// repairEdit stands for the winner's data a repair wrote (m), which no
// edit of the winner's may have set at the repair's version (a repair is
// versioned as the change it corrects, and writes the winner's value,
// null where the winner never set it): an update of the repaired fields,
// from the winner's side, at that version. Judged so, a target edit
// between two writes of the repair is owed the repeat only where the
// policy makes it lose to the winner's value regardless of its time, or
// it is older.
func (r *run) repairEdit(sfIDs map[int]string, m writeMark) (edit, bool) {
	rec := -1
	for i, spec := range r.sc.Records {
		if spec.ExtID == m.record || sfIDs[i] == m.record {
			rec = i
			break
		}
	}
	if rec < 0 {
		return edit{}, false
	}
	target := SF
	if m.side == SF {
		target = Ext
	}
	return edit{Side: m.side, Op: "update", Rec: rec, Fields: m.wroteBySF(r.obj(rec), target), T: m.at}, true
}

// wroteBySF returns the values m wrote to target, by Salesforce name.
func (m writeMark) wroteBySF(obj *objectSpec, target Side) map[string]any {
	out := make(map[string]any, len(m.fields))
	for i, f := range m.fields {
		for _, name := range sfNames(obj, target, []string{f}) {
			out[name] = m.values[i]
		}
	}
	return out
}

// sfNames returns the Salesforce names of fields as target names them.
func sfNames(obj *objectSpec, target Side, fields []string) []string {
	if target == SF {
		return fields
	}
	var out []string
	for _, f := range fields {
		for _, fs := range obj.Fields {
			if fs.Ext == f {
				out = append(out, fs.SF)
			}
		}
	}
	return out
}

// owed reports whether a repeated write of written's fields (wrote: the
// values the repeat wrote, by Salesforce name; record: the record's edits
// before the repeat) over the target's edits between is what the policy
// owes those edits: at least one of them set a written field, none
// deleted or restored the record, and under ru each loses every written
// field it set to written (or ties with it). A delete between owes the
// repeat too when the record outlives it under ru (its history so far
// says it lives, as when the written change wins over the delete): the
// delete's repair would have brought the record back, and the repeat
// brought it back instead. A record brought back so holds the target's own values
// where its edits win, and the source's values of fields the written
// change did not set: those fields are the record restored, not the
// written change's effect again.
func owed(ru rule, written edit, between, record []edit, wrote map[string]any) bool {
	deleted := slices.ContainsFunc(between, func(e edit) bool { return e.Op == "delete" })
	// The target's last edit of each field: the value its tombstone holds.
	last := map[string]edit{}
	for _, e := range between {
		for f := range e.Fields {
			last[f] = e
		}
	}
	setOne := false
	for _, e := range between {
		if e.Op == "undelete" {
			return false
		}
		if e.Op == "delete" {
			// Whether the record outlives the delete is the model's
			// verdict on its history so far (record; the written change
			// and the delete alone where none is given).
			h := record
			if len(h) == 0 {
				h = []edit{written, e}
			}
			if live, _ := ru.exists(h); !slices.Contains(live, true) {
				return false
			}
			setOne = true
			continue
		}
		for _, f := range slices.Sorted(maps.Keys(wrote)) {
			if _, set := e.Fields[f]; !set {
				continue
			}
			setOne = true
			// A tie the policy breaks by rules the model does not
			// reproduce (see lwwRule) leaves both values open: the repeat
			// decided it for the written change, as the first write had.
			got, _ := ru.value(f, []edit{written, e}, []edit{written, e})
			holds := func(want any) bool { return slices.ContainsFunc(got, func(v any) bool { return sameVal(v, want) }) }
			want, has := written.Fields[f]
			if has && holds(want) {
				continue
			}
			if deleted && !has {
				// Brought along with the record: the source's data of
				// other changes, or the target's own, not this change's.
				continue
			}
			if l := last[f]; deleted && sameVal(wrote[f], l.Fields[f]) {
				restored, _ := ru.value(f, []edit{written, l}, []edit{written, l})
				if slices.ContainsFunc(restored, func(v any) bool { return sameVal(v, l.Fields[f]) }) {
					continue
				}
			}
			return false
		}
	}
	return setOne
}

// editCount returns how many edits took effect so far.
func (r *run) editCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.history)
}
