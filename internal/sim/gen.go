package sim

import (
	"fmt"
	"math/rand/v2"
	"time"
)

// gen draws a scenario from a seed. Every random choice of a run is made
// here, before anything runs, so the seed alone fixes the workload and the
// fault schedule.
type gen struct {
	rng *rand.Rand
	sc  *Scenario
	// values remembers every value planned per record and field, for
	// reverts to a value written earlier.
	values map[int]map[string][]any
	// created and deleted track the plan's view of each record.
	created map[int]bool
	n       int // values drawn, to make every value unique
}

func (g *gen) pick(n int) int           { return g.rng.IntN(n) }
func (g *gen) chance(p float64) bool    { return g.rng.Float64() < p }
func (g *gen) side() Side               { return Side(g.pick(2)) }
func (g *gen) add(s Step)               { g.sc.Steps = append(g.sc.Steps, s) }
func (g *gen) obj(rec int) *objectSpec  { return &g.sc.Objects[g.sc.Records[rec].Object] }
func (g *gen) field(rec int) *fieldSpec { f := g.obj(rec).Fields; return &f[g.pick(len(f))] }

// Generate returns the scenario of seed.
func Generate(seed int64) *Scenario {
	g := &gen{
		rng:     rand.New(rand.NewPCG(uint64(seed), 0x51a5eed)),
		sc:      &Scenario{Seed: seed},
		values:  map[int]map[string][]any{},
		created: map[int]bool{},
	}
	sc := g.sc
	sc.Objects = []objectSpec{contactSpec}
	if g.chance(0.5) {
		sc.Objects = append(sc.Objects, accountSpec)
	}
	sc.Policy = genPolicy(g, sc.Objects)
	sc.Store = "sqlite"
	if g.chance(0.25) {
		sc.Store = "memory"
	}
	sc.Workers = 1 + g.pick(4)
	sc.Batch = []int{1, 4, 50}[g.pick(3)]
	sc.ExtSkew = []time.Duration{0, 0, 0, time.Second, -time.Second, 2500 * time.Millisecond, -3 * time.Second, 500 * time.Millisecond}[g.pick(8)]
	sc.Lease = g.chance(0.3)
	large := g.chance(0.1)
	for oi, o := range sc.Objects {
		n := 2 + g.pick(2)
		if large && oi == 0 {
			n = 12
		}
		for i := range n {
			sc.Records = append(sc.Records, recordSpec{Object: oi, ExtID: fmt.Sprintf("%s-%d", o.Prefix, i+1)})
		}
	}
	g.creates(large)
	steps := 8 + g.pick(8)
	outage := g.chance(0.12)
	sc.Backfill = outage
	sc.BulkBackfill = outage && g.chance(0.5)
	takeover := sc.Lease && g.chance(0.5)
	for i := range steps {
		if outage && i == steps/2 {
			g.outage()
		}
		if takeover && i == steps/3 {
			g.add(Step{Kind: StepTakeover})
		}
		g.step()
	}
	timing := rand.New(rand.NewPCG(uint64(seed), 0x5105ca7e))
	if timing.Float64() < 0.25 {
		sc.SlowState = []time.Duration{time.Millisecond, 4 * time.Millisecond}[timing.IntN(2)]
	}
	return sc
}

// creates plans the records' creation: on Salesforce, on the ERP, or on
// both at once (the engine must link the two into one record). A large
// scenario creates the first object's records in one API transaction.
func (g *gen) creates(large bool) {
	var bulk []int
	for rec, r := range g.sc.Records {
		if large && r.Object == 0 {
			bulk = append(bulk, rec)
			continue
		}
		g.create(rec)
		if g.chance(0.3) {
			g.edit(rec)
		}
	}
	if len(bulk) > 0 {
		fields := map[string]any{}
		o := g.obj(bulk[0])
		for _, f := range o.Fields {
			fields[f.SF] = g.value(bulk[0], f.SF, false)
		}
		for _, rec := range bulk {
			g.created[rec] = true
			for _, f := range o.Fields {
				g.remember(rec, f.SF, fields[f.SF])
			}
		}
		g.add(Step{Kind: StepBulkCreate, Recs: bulk, Fields: fields, Advance: time.Second, Note: "large transaction"})
	}
}

func (g *gen) create(rec int) {
	g.created[rec] = true
	switch g.pick(5) {
	case 0, 1:
		g.add(Step{Kind: StepCreate, Side: SF, Rec: rec, Fields: g.full(rec), Advance: g.advance()})
	case 2, 3:
		g.add(Step{Kind: StepCreate, Side: Ext, Rec: rec, Fields: g.full(rec), Advance: g.advance()})
	default:
		g.add(Step{Kind: StepCreateBoth, Rec: rec, Fields: g.full(rec), Fields2: g.full(rec), Advance: g.advance(),
			Note: "created on both sides"})
	}
}

func (g *gen) full(rec int) map[string]any {
	m := map[string]any{}
	for _, f := range g.obj(rec).Fields {
		m[f.SF] = g.value(rec, f.SF, false)
	}
	return m
}

// value draws a fresh value of field; nullable fields are sometimes null.
func (g *gen) value(rec int, field string, nullable bool) any {
	g.n++
	if nullable && g.chance(0.12) {
		g.remember(rec, field, nil)
		return nil
	}
	v := fmt.Sprintf("%s%d", short(field), g.n)
	g.remember(rec, field, v)
	return v
}

func (g *gen) remember(rec int, field string, v any) {
	if g.values[rec] == nil {
		g.values[rec] = map[string][]any{}
	}
	g.values[rec][field] = append(g.values[rec][field], v)
}

func short(field string) string {
	switch field {
	case "LastName", "Name":
		return "n"
	case "Email":
		return "e"
	case "Phone":
		return "p"
	case "Industry":
		return "i"
	}
	return "c"
}

// advance is the virtual time between steps: mostly a second, sometimes
// none (commit timestamps tie), sometimes several.
func (g *gen) advance() time.Duration {
	switch r := g.pick(10); {
	case r < 2:
		return 0
	case r < 8:
		return time.Second
	default:
		return time.Duration(2+g.pick(4)) * time.Second
	}
}

// step plans one workload or fault step.
func (g *gen) step() {
	rec := g.pick(len(g.sc.Records))
	switch r := g.pick(100); {
	case r < 30:
		g.edit(rec)
	case r < 37:
		g.concurrent(rec)
	case r < 42:
		g.flipFlop(rec)
	case r < 47:
		g.revert(rec)
	case r < 51:
		g.bulk()
	case r < 56:
		g.deleteRace(rec)
	case r < 59:
		g.add(Step{Kind: StepUndelete, Side: SF, Rec: rec, Advance: g.advance()})
	case r < 68:
		g.add(Step{Kind: StepSettle})
	case r < 74:
		g.add(Step{Kind: StepCrash, DupExt: g.chance(0.3)})
		if g.chance(0.5) {
			g.add(Step{Kind: StepRequeue})
		}
	default:
		g.fault()
	}
}

func (g *gen) edit(rec int) {
	side := g.side()
	n := 1 + g.pick(2)
	fields := map[string]any{}
	for range n {
		f := g.field(rec)
		fields[f.SF] = g.value(rec, f.SF, f.Nullable)
	}
	g.add(Step{Kind: StepEdit, Side: side, Rec: rec, Fields: fields, Advance: g.advance()})
}

// concurrent edits one field on both sides before either can see the
// other's change.
func (g *gen) concurrent(rec int) {
	f := g.field(rec)
	first := g.side()
	adv := []time.Duration{0, time.Second}[g.pick(2)]
	g.add(Step{Kind: StepEdit, Side: first, Rec: rec, Fields: map[string]any{f.SF: g.value(rec, f.SF, f.Nullable)}, Advance: g.advance(), Note: "concurrent edit"})
	g.add(Step{Kind: StepEdit, Side: 1 - first, Rec: rec, Fields: map[string]any{f.SF: g.value(rec, f.SF, f.Nullable)}, Advance: adv, Note: "concurrent edit"})
}

// flipFlop changes a field and back in quick succession (A->B->A).
func (g *gen) flipFlop(rec int) {
	f := g.field(rec)
	side := g.side()
	a := g.value(rec, f.SF, false)
	b := g.value(rec, f.SF, f.Nullable)
	for i, v := range []any{a, b, a} {
		adv := g.advance()
		if i > 0 {
			adv = []time.Duration{0, time.Second}[g.pick(2)]
		}
		g.add(Step{Kind: StepEdit, Side: side, Rec: rec, Fields: map[string]any{f.SF: v}, Advance: adv, Note: "flip-flop"})
	}
}

// revert sets a field back to a value it held before, often one the engine
// wrote to this side (an edit that looks like an echo).
func (g *gen) revert(rec int) {
	f := g.field(rec)
	old := g.values[rec][f.SF]
	if len(old) == 0 {
		g.edit(rec)
		return
	}
	v := old[g.pick(len(old))]
	if v == nil && !f.Nullable {
		v = old[0]
	}
	g.remember(rec, f.SF, v)
	g.add(Step{Kind: StepEdit, Side: g.side(), Rec: rec, Fields: map[string]any{f.SF: v}, Advance: g.advance(), Note: "revert to an earlier value"})
}

// bulk edits every record of one object in one Salesforce transaction,
// half the time with identical values (one merged change event).
func (g *gen) bulk() {
	obj := g.pick(len(g.sc.Objects))
	var recs []int
	for i, r := range g.sc.Records {
		if r.Object == obj {
			recs = append(recs, i)
		}
	}
	f := g.field(recs[0])
	same := g.chance(0.5)
	fields := map[string]any{f.SF: g.value(recs[0], f.SF, f.Nullable)}
	per := map[string]any{}
	for _, rec := range recs {
		if !same {
			per[fmt.Sprint(rec)] = g.value(rec, f.SF, f.Nullable)
		} else {
			g.remember(rec, f.SF, fields[f.SF])
		}
	}
	note := "large transaction, one merged event"
	if !same {
		note = "large transaction, one value per record"
	}
	g.add(Step{Kind: StepBulk, Side: SF, Recs: recs, Fields: fields, Fields2: per, Advance: g.advance(), Note: note})
}

// deleteRace deletes a record on one side while the other side edits it.
func (g *gen) deleteRace(rec int) {
	side := g.side()
	g.add(Step{Kind: StepDelete, Side: side, Rec: rec, Advance: g.advance(), Note: "delete racing an update"})
	if g.chance(0.7) {
		f := g.field(rec)
		g.add(Step{Kind: StepEdit, Side: 1 - side, Rec: rec, Fields: map[string]any{f.SF: g.value(rec, f.SF, f.Nullable)},
			Advance: []time.Duration{0, time.Second}[g.pick(2)], Note: "update racing a delete"})
	}
}

// outage stops the engine for longer than the 72 h Pub/Sub retention, with
// edits on both sides before and after the retention cut-off.
func (g *gen) outage() {
	g.add(Step{Kind: StepStop})
	for range 1 + g.pick(3) {
		g.edit(g.pick(len(g.sc.Records)))
	}
	g.add(Step{Kind: StepSettle, Advance: 73 * time.Hour, Note: "outage past retention"})
	for range g.pick(3) {
		g.edit(g.pick(len(g.sc.Records)))
	}
	g.add(Step{Kind: StepStart, DupExt: g.chance(0.2)})
	if g.chance(0.6) {
		// Interrupt the backfill the start owes.
		point := []string{"querying", "reading", "page"}[g.pick(3)]
		g.add(Step{Kind: StepCrash, Backfill: point, Note: "crash during the backfill"})
	}
}

func (g *gen) fault() {
	kinds := []FaultKind{FaultDupSF, FaultDisconnect, FaultKeepalive, FaultSchema, FaultExtRetry, FaultExtPerm,
		FaultExtTimeout, FaultSFRetry, FaultSFLimit, FaultSFPerm, FaultSFTimeout, FaultStall}
	k := kinds[g.pick(len(kinds))]
	n := 1 + g.pick(3)
	switch k {
	case FaultExtRetry, FaultSFRetry, FaultSFLimit:
		// Some runs outlast the engine's retries and dead-letter.
		if g.chance(0.25) {
			n = 12
		}
	case FaultSchema:
		g.add(Step{Kind: StepFault, Fault: Fault{Kind: k, N: n}})
		g.add(Step{Kind: StepCrash, Note: "restart to fetch schemas again"})
		return
	case FaultStall:
		// A slow write, then more work behind it, then a crash half the
		// time: outcomes committed ahead of the checkpoint are redelivered.
		g.add(Step{Kind: StepFault, Fault: Fault{Kind: k, N: n}})
		for range 2 + g.pick(3) {
			g.edit(g.pick(len(g.sc.Records)))
		}
		if g.chance(0.5) {
			g.add(Step{Kind: StepCrash, Progress: 2})
		}
		return
	}
	g.add(Step{Kind: StepFault, Fault: Fault{Kind: k, N: n}})
}
