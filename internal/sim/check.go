package sim

import (
	"fmt"
	"slices"
	"strings"

	"github.com/sfsync/sfsync"
)

// The invariants, by the names violations are reported under.
const (
	InvOutcome    = "exactly-one-outcome"
	InvDouble     = "no-double-effect"
	InvNoLoop     = "no-loop"
	InvModel      = "model-agreement"
	InvCheckpoint = "checkpoint-monotone"
	InvStuck      = "nothing-stuck"
	InvQuiescent  = "quiescent"
)

// Invariants lists every invariant name, in report order.
var Invariants = []string{InvOutcome, InvDouble, InvNoLoop, InvModel, InvCheckpoint, InvStuck, InvQuiescent}

// Violation is one broken invariant.
type Violation struct {
	Invariant string
	// Key is the change or record it is about, when there is one.
	Key    string
	Detail string
}

func (v Violation) String() string {
	if v.Key != "" {
		return fmt.Sprintf("%s [%s]: %s", v.Invariant, v.Key, v.Detail)
	}
	return fmt.Sprintf("%s: %s", v.Invariant, v.Detail)
}

func (r *run) violate(inv, key, detail string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.violations = append(r.violations, Violation{Invariant: inv, Key: key, Detail: detail})
	r.trace = append(r.trace, "    VIOLATION "+Violation{Invariant: inv, Key: key, Detail: detail}.String())
}

// deciding reports whether an outcome decides its change: everything but
// the recognition of a redelivery.
func deciding(s sfsync.Status) bool { return s != sfsync.StatusDuplicate }

// checkOutcomes: every delivered change has exactly one deciding outcome.
// A dead letter that was requeued may be followed by the outcome of its
// requeue.
func (r *run) checkOutcomes(ledger []sfsync.Outcome) {
	by := map[string][]sfsync.Outcome{}
	for _, o := range ledger {
		by[o.Key] = append(by[o.Key], o)
	}
	for key, d := range r.deliveredKeys() {
		var dead, other []string
		for _, o := range by[key] {
			switch {
			case o.Status == sfsync.StatusDeadLettered:
				dead = append(dead, fmt.Sprintf("%s (%s)", o.Status, o.Reason))
			case deciding(o.Status):
				other = append(other, fmt.Sprintf("%s (%s)", o.Status, o.Reason))
			}
		}
		r.mu.Lock()
		requeued := r.requeued[key]
		r.mu.Unlock()
		n := len(dead) + len(other)
		switch {
		case n == 0:
			r.violate(InvOutcome, key, fmt.Sprintf("%s was delivered but has no deciding outcome (%d recorded)", d.Desc, len(by[key])))
		case requeued && len(other) <= 1:
		case n > 1:
			r.violate(InvOutcome, key, fmt.Sprintf("%s has %d deciding outcomes: %s%s", d.Desc, n, strings.Join(append(dead, other...), "; "), r.keyHistory(key)))
		}
	}
}

// checkEffects: no write took effect twice, and writes are bounded by the
// edits that caused them.
func (r *run) checkEffects() {
	ext := r.ext.applied(r)
	sf, sfTotal := r.toSF.counts()
	for _, side := range []struct {
		name string
		to   Side
		m    map[string]int
		w    *writes
	}{{"the ERP", Ext, ext, r.toExt}, {"Salesforce", SF, sf, r.toSF}} {
		for _, k := range sortedKeys(side.m) {
			if n := side.m[k]; n > 1 {
				if marks := side.w.marksOf(k); len(marks) == n && r.owedRepeats(side.to, marks) {
					r.tracef("    %s took effect %d times in %s, each repeat owed to edits there that lose to it (see owed.go): %s",
						k, n, side.name, strings.Join(side.w.history(k), "; "))
					continue
				}
				r.violate(InvDouble, k, fmt.Sprintf("change %s took effect %d times in %s: %s%s", k, n, side.name,
					strings.Join(side.w.history(k), "; "), r.keyHistory(k)))
			}
		}
	}
	extTotal := 0
	for _, n := range ext {
		extTotal += n
	}
	r.mu.Lock()
	edits := len(r.history)
	// A backfill interrupted by a crash repeats at most its last page.
	reconciles := r.faults[FaultOutage] + r.faults[FaultBackfill] + 1
	r.mu.Unlock()
	// Each edit reaches the other side at most once; a backfill may rewrite
	// every record (and the sentinels) once more; requeues and lost
	// acknowledgements may each add one.
	bound := edits + reconciles*(len(r.sc.Records)+len(r.sc.Objects)) + len(r.requeued) + 4
	if total := extTotal + sfTotal; total > bound {
		r.violate(InvNoLoop, "", fmt.Sprintf("%d writes (%d to Salesforce, %d to the ERP) for %d edits: more than the bound %d",
			total, sfTotal, extTotal, edits, bound))
	}
}

// checkModel: both systems hold what the model of the policy says.
func (r *run) checkModel() {
	want := expect(r.sc, r.delayedHistory())
	for rec, spec := range r.sc.Records {
		x, ok := want[rec]
		if !ok {
			continue
		}
		obj := r.sc.Objects[spec.Object]
		var live []map[string]any
		for _, row := range r.org.Records(obj.Name) {
			if row[linkField] == spec.ExtID {
				live = append(live, row)
			}
		}
		if len(live) > 1 {
			r.violate(InvModel, spec.ExtID, fmt.Sprintf("%d live Salesforce %s records carry %s %s", len(live), obj.Name, linkField, spec.ExtID))
		}
		extRec, found := r.ext.record(r.ctx, obj.Entity, spec.ExtID)
		extLive := found && extRec.Exists && !extRec.Deleted
		sfLive := len(live) > 0
		r.tracef("final %s: Salesforce %s; ERP %s", spec.ExtID, showRow(&obj, live, true), showRow(&obj, []map[string]any{extRec.Fields}, extLive))
		hist := r.recordHistory(rec)
		if sfLive != extLive {
			r.violate(InvModel, spec.ExtID, fmt.Sprintf("Salesforce has it live=%v, the ERP live=%v (model: exists in %v, %s)%s",
				sfLive, extLive, x.Exists, x.Why["(exists)"], hist))
			continue
		}
		if !slices.Contains(x.Exists, sfLive) {
			r.violate(InvModel, spec.ExtID, fmt.Sprintf("both systems have it live=%v; the model says %v (%s)%s", sfLive, x.Exists, x.Why["(exists)"], hist))
			continue
		}
		if !sfLive {
			continue
		}
		for _, f := range obj.Fields {
			sv, ev := live[0][f.SF], extRec.Fields[f.Ext]
			cands := x.Fields[f.SF]
			switch {
			case !sameVal(sv, ev):
				r.violate(InvModel, spec.ExtID, fmt.Sprintf("%s: Salesforce holds %s, the ERP %s; model: %s (%s)%s",
					f.SF, show(sv), show(ev), showAll(cands), x.Why[f.SF], hist))
			case !slices.ContainsFunc(cands, func(c any) bool { return sameVal(c, sv) }):
				r.violate(InvModel, spec.ExtID, fmt.Sprintf("%s: both hold %s; model: %s (%s)%s",
					f.SF, show(sv), showAll(cands), x.Why[f.SF], hist))
			}
		}
	}
}

// recordHistory is the trace of one record: its edits and the outcomes
// the ledger holds for it.
func (r *run) recordHistory(rec int) string {
	var b strings.Builder
	r.mu.Lock()
	for _, e := range r.history {
		if e.Rec == rec {
			fmt.Fprintf(&b, "\n        edit %s", e)
		}
	}
	sfID := r.sfIDs[rec]
	r.mu.Unlock()
	ext := r.sc.Records[rec].ExtID
	outs, _ := r.store.base.Outcomes(r.ctx, sfsync.OutcomeQuery{Limit: 100000})
	for _, o := range outs {
		if o.RecordID == ext || (sfID != "" && o.RecordID == sfID) {
			fmt.Fprintf(&b, "\n        outcome %s %s %s->%s %s v=%s: %s", o.Key, o.Op, o.Source, o.Destination, o.Status, o.Version, o.Reason)
		}
	}
	return b.String()
}

func show(v any) string {
	if v == nil {
		return "null"
	}
	return fmt.Sprintf("%q", fmt.Sprint(v))
}

func showAll(vs []any) string {
	var s []string
	for _, v := range vs {
		s = append(s, show(v))
	}
	if len(s) == 1 {
		return s[0]
	}
	return "one of " + strings.Join(s, ", ")
}

// checkStuck: nothing is left in flight once the systems are quiet.
func (r *run) checkStuck() {
	if r.cur == nil {
		return
	}
	s := r.cur.eng.Stats()
	if s.InFlight != 0 {
		r.violate(InvStuck, "", fmt.Sprintf("%d changes still in flight after quiescence", s.InFlight))
	}
	if s.Background != 0 {
		r.violate(InvStuck, "", "still at work after quiescence: "+background(r.cur.eng, s.Background))
	}
	if s := r.ext.stuck(r.ctx); s != "" {
		r.violate(InvStuck, "", s)
	}
}

func showRow(obj *objectSpec, rows []map[string]any, live bool) string {
	if !live || len(rows) == 0 {
		return "absent"
	}
	var parts []string
	for _, f := range obj.Fields {
		v, ok := rows[0][f.SF]
		if !ok {
			v = rows[0][f.Ext]
		}
		parts = append(parts, f.SF+"="+show(v))
	}
	return strings.Join(parts, " ")
}

// keyHistory lists the deliveries and outcomes of one change.
func (r *run) keyHistory(key string) string {
	var b strings.Builder
	r.mu.Lock()
	for _, d := range r.deliveries {
		if d.Key == key {
			fmt.Fprintf(&b, "\n        delivered to engine #%d at %x", d.Inst, d.Pos.Token)
		}
	}
	r.mu.Unlock()
	outs, _ := r.store.base.Outcomes(r.ctx, sfsync.OutcomeQuery{Key: key})
	for _, o := range outs {
		fmt.Fprintf(&b, "\n        outcome %s attempts=%d: %s", o.Status, o.Attempts, o.Reason)
	}
	return b.String()
}

// carries reports whether a delivered change's fields hold every value of
// an edit's.
func carries(got, want map[string]any) bool {
	for f, v := range want {
		// A null may come as a nulled field, not a value: taken as carried.
		if g, ok := got[f]; (ok || v != nil) && !sameVal(g, v) {
			return false
		}
	}
	return true
}

// delayedHistory is the history with every edit whose change did not
// reach the other side in its turn marked delayed: dead-lettered on its
// way (and requeued later), or stale because a snapshot of the record (a
// backfill or reconciliation) carried newer data there first. The ledger
// tells, by the edit's side, record and version. A create is marked
// overtaken when a snapshot of its side created the record on the other
// side (see edit.Overtaken), and a Salesforce edit no engine received is
// given the latest version a row of its record was decided at (see
// edit.Until).
func (r *run) delayedHistory() []edit {
	// One read of the ledger: the outcomes that delay an edit (dead
	// letters and stale changes), and the decided rows of backfills and
	// reconciliations, the creates among them apart.
	all, _ := r.store.base.Outcomes(r.ctx, sfsync.OutcomeQuery{Limit: 100000})
	var outs, rows, snapshotCreates []sfsync.Outcome
	for _, o := range all {
		if o.Status == sfsync.StatusDeadLettered || o.Status == sfsync.StatusStale {
			outs = append(outs, o)
		}
		if strings.HasPrefix(o.Key, "reconcile:") && o.Status != sfsync.StatusDuplicate {
			rows = append(rows, o)
			if o.Status == sfsync.StatusApplied && o.Op == sfsync.OpCreate {
				snapshotCreates = append(snapshotCreates, o)
			}
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	h := slices.Clone(r.history)
	for i := range h {
		e := &h[i]
		src := sfsync.Salesforce
		if e.Side == Ext {
			src = erpSystem
		}
		ext, sfID := r.sc.Records[e.Rec].ExtID, r.sfIDs[e.Rec]
		ofRecord := func(o sfsync.Outcome) bool {
			return o.Source == src && (o.RecordID == ext || (sfID != "" && o.RecordID == sfID))
		}
		if slices.ContainsFunc(outs, func(o sfsync.Outcome) bool { return ofRecord(o) && o.Version.Time.Equal(e.T) }) {
			e.Delayed = true
		}
		e.Overtaken = e.Op == "create" && slices.ContainsFunc(snapshotCreates, ofRecord)
		if e.Side == SF && (e.Op == "update" || e.Op == "create") && sfID != "" && !slices.ContainsFunc(r.deliveries, func(d delivery) bool {
			return d.Source == src && d.Record == sfID && d.At.Equal(e.T) && carries(d.Fields, e.Fields)
		}) {
			// Never delivered: lost past retention. A backfill's row told
			// of it, at its version: a create's values as much as an
			// update's, where the row did not create the record on the
			// other side (the other side made its own, say).
			for _, o := range rows {
				if ofRecord(o) && !o.Version.Time.Before(e.T) && o.Version.Time.After(e.Until) {
					e.Until = o.Version.Time
				}
			}
		}
	}
	return h
}
