package sim

import (
	"context"
	"fmt"
	"iter"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/reconcile"
)

// alwaysApply is a broken conflict policy: it writes every change.
var alwaysApply = sfsync.ConflictPolicyFunc(func(in sfsync.Change, _ sfsync.Record) sfsync.Decision {
	return sfsync.ApplyAll(in, "broken policy: always apply")
})

// forgetful is a broken dedup store: it never remembers a claim.
type forgetful struct{ sfsync.DedupStore }

func (forgetful) Seen(context.Context, string) (bool, error)                 { return false, nil }
func (forgetful) Claim(context.Context, string, time.Duration) (bool, error) { return true, nil }

func invariants(res *Result) []string {
	var out []string
	for _, v := range res.Violations {
		if !slices.Contains(out, v.Invariant) {
			out = append(out, v.Invariant)
		}
	}
	return out
}

// conflictScenario has the ERP edit a field that Salesforce holds, with
// the engine running throughout and nothing else happening: under
// "Salesforce wins" the edit loses, and both systems must keep
// Salesforce's value. Nothing in it is concurrent, so a policy that
// applies everything is caught on every run, whatever the scheduling.
func conflictScenario() *Scenario {
	return &Scenario{
		Seed: -1, Policy: PolicySpec{Kind: "salesforce-wins"}, Store: "sqlite", Objects: []objectSpec{contactSpec},
		Records: []recordSpec{{Object: 0, ExtID: "P-1"}}, Workers: 2, Batch: 4,
		Steps: []Step{
			{Kind: StepCreate, Side: SF, Rec: 0, Fields: map[string]any{"LastName": "Lovelace", "Email": "a@x", "Phone": "1", "MailingCity": "London"}, Advance: time.Second},
			{Kind: StepSettle},
			{Kind: StepEdit, Side: Ext, Rec: 0, Fields: map[string]any{"Email": "erp@x"}, Advance: time.Second},
			{Kind: StepSettle},
		},
	}
}

// TestHonestPolicy: an engine whose conflict policy applies everything
// writes the ERP's edit over the value Salesforce owns, and the simulator
// says so; with the real policy the same scenario has no violation.
func TestHonestPolicy(t *testing.T) {
	res := RunScenario(context.Background(), conflictScenario(), Options{Policy: alwaysApply})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	if !slices.Contains(invariants(res), InvModel) {
		t.Fatalf("a policy that always applies was not caught: violations %v\n%s", res.Violations, res.Report())
	}
	control := RunScenario(context.Background(), conflictScenario(), Options{})
	if control.Err != nil || len(control.Violations) > 0 {
		t.Fatalf("with the real policy: %v %v\n%s", control.Err, control.Violations, control.Report())
	}
}

// concurrentScenario has the ERP and Salesforce edit one field while no
// engine runs, Salesforce later (by its version), then starts the engine:
// last write wins must keep Salesforce's value on both sides, whichever
// of the two changes the engine takes first.
func concurrentScenario() *Scenario {
	return &Scenario{
		Seed: -4, Policy: PolicySpec{Kind: "lww"}, Store: "sqlite", Objects: []objectSpec{contactSpec},
		Records: []recordSpec{{Object: 0, ExtID: "P-1"}}, Workers: 2, Batch: 4,
		Steps: []Step{
			{Kind: StepCreate, Side: SF, Rec: 0, Fields: map[string]any{"LastName": "Lovelace", "Email": "a@x", "Phone": "1", "MailingCity": "London"}, Advance: time.Second},
			{Kind: StepSettle},
			{Kind: StepStop},
			{Kind: StepEdit, Side: Ext, Rec: 0, Fields: map[string]any{"Email": "erp@x"}, Advance: time.Second},
			{Kind: StepEdit, Side: SF, Rec: 0, Fields: map[string]any{"Email": "sf@x"}, Advance: 5 * time.Second},
			{Kind: StepStart},
		},
	}
}

// burstScenario makes the ERP change many records at once and crashes the
// engine in the middle, several times: deliveries finish out of order, so
// outcomes are committed ahead of the checkpoint and redelivered after the
// crash, where only the dedup store recognises them.
func burstScenario() *Scenario {
	sc := &Scenario{Seed: -2, Policy: PolicySpec{Kind: "lww"}, Store: "sqlite", Objects: []objectSpec{contactSpec}, Workers: 4, Batch: 1}
	for i := range 12 {
		sc.Records = append(sc.Records, recordSpec{Object: 0, ExtID: fmt.Sprintf("P-%d", i+1)})
		sc.Steps = append(sc.Steps, Step{Kind: StepCreate, Side: Ext, Rec: i,
			Fields: map[string]any{"LastName": fmt.Sprint("n", i), "Email": fmt.Sprint("e", i)}, Advance: time.Second})
	}
	sc.Steps = append(sc.Steps, Step{Kind: StepSettle})
	for round := range 4 {
		sc.Steps = append(sc.Steps, Step{Kind: StepFault, Fault: Fault{Kind: FaultStall, N: 1}})
		for i := range 12 {
			sc.Steps = append(sc.Steps, Step{Kind: StepEdit, Side: Ext, Rec: i, Fields: map[string]any{"Phone": fmt.Sprint(round, "-", i)}})
		}
		sc.Steps = append(sc.Steps, Step{Kind: StepCrash, Progress: 4})
	}
	return sc
}

// TestHonestDedup: with a dedup store that forgets its claims, changes
// redelivered after a crash are decided twice, and the simulator says so.
func TestHonestDedup(t *testing.T) {
	opt := Options{Dedup: func(d sfsync.DedupStore) sfsync.DedupStore { return forgetful{d} }}
	for attempt := range 5 {
		res := RunScenario(context.Background(), burstScenario(), opt)
		if res.Err != nil {
			t.Fatal(res.Err)
		}
		if slices.Contains(invariants(res), InvOutcome) {
			return
		}
		t.Logf("attempt %d: no redelivery after a commit; violations %v", attempt, invariants(res))
	}
	t.Fatal("a dedup store that forgets its claims was not caught in 5 runs")
}

// stalledBackfill is a broken authority: a scan of a whole object (a
// backfill's) never yields anything until the engine stops; re-reads by
// id still answer.
type stalledBackfill struct{ reconcile.PagedAuthority }

func (stalledBackfill) ScanPages(ctx context.Context, _ string, _ time.Time, _ []byte) iter.Seq2[reconcile.Page, error] {
	return func(yield func(reconcile.Page, error) bool) {
		<-ctx.Done()
		yield(reconcile.Page{}, ctx.Err())
	}
}

// backfillScenario starts an engine with backfills configured, so that
// its first start owes one (no stream has a position yet), while both
// systems create a record.
func backfillScenario() *Scenario {
	return &Scenario{
		Seed: -3, Policy: PolicySpec{Kind: "lww"}, Store: "sqlite", Objects: []objectSpec{contactSpec},
		Records: []recordSpec{{Object: 0, ExtID: "P-1"}, {Object: 0, ExtID: "P-2"}}, Workers: 2, Batch: 4, Backfill: true,
		Steps: []Step{
			{Kind: StepCreate, Side: SF, Rec: 0, Fields: map[string]any{"LastName": "Lovelace", "Email": "a@x"}, Advance: time.Second},
			{Kind: StepCreate, Side: Ext, Rec: 1, Fields: map[string]any{"LastName": "Hopper", "Email": "g@x"}, Advance: time.Second},
			{Kind: StepSettle},
		},
	}
}

// TestHonestBackfill: a backfill that never finishes is unfinished work
// of the engine, though no delivered change waits for it and nothing is
// in flight; the simulator must not call the systems quiet. (It writes,
// and its echoes come, for as long as it runs: checks made meanwhile
// flake.) With a backfill that finishes, the same scenario settles.
func TestHonestBackfill(t *testing.T) {
	opt := Options{Wait: 2 * time.Second, Authority: func(a reconcile.PagedAuthority) reconcile.PagedAuthority { return stalledBackfill{a} }}
	res := RunScenario(context.Background(), backfillScenario(), opt)
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	if !slices.ContainsFunc(res.Violations, func(v Violation) bool {
		return v.Invariant == InvQuiescent && strings.Contains(v.Detail, "backfill of Contact")
	}) {
		t.Fatalf("a backfill that never finishes was not caught: violations %v\n%s", res.Violations, res.Report())
	}
	control := RunScenario(context.Background(), backfillScenario(), Options{})
	if control.Err != nil || len(control.Violations) > 0 {
		t.Fatalf("with a backfill that finishes: %v %v\n%s", control.Err, control.Violations, control.Report())
	}
}
