package sim

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// ciSeeds is the fixed set of seeds CI runs.
const ciSeeds = 200

// openInvariants are the invariants the engine does not yet hold on every
// seed, with why. CI fails on any violation of every other invariant, and
// reports these with their seeds, so that the suite guards what holds while
// the rest is fixed; `go run ./internal/cmd/simulate` reports them all and
// exits non-zero on any. README's Status section lists the same classes.
var openInvariants = map[string]string{
	"model-agreement":  "conflict decisions against targets that version whole records only, ties, and repairs of the losing side still diverge on some interleavings",
	"no-double-effect": "a write that a crash left without an outcome, or whose acknowledgement was lost before its echo came, is repeated over a target edit that does not lose to it, or with no edit between (a repeat owed to edits that lose to it counts once: owed.go)",
	"quiescent":        "a change waiting for its target's change event can outlast the simulator's settle bound",
}

// openCeilings bound how many of the CI seeds may violate each open
// invariant, so that a regression in an open class still fails CI. They
// sit above what the engine shows now (2026-12-03, evening: three runs, two
// under the race detector, after the repair-version, lost-field and
// deferral fixes: model agreement on 4 to 5 of the 200 seeds, no double
// effect on 3 to 6, quiescence on 0 to 1; that morning 14 to 17, 3 to 5
// and none; the day before 28 to 33 and 9 to 13; the same build varies
// with timing; late that night, three runs under the race detector: model
// agreement on 3 to 6, no double effect on 0 to 1, quiescence on none) and
// come down as the classes are fixed.
var openCeilings = map[string]int{
	"model-agreement":  12,
	"no-double-effect": 6,
	"quiescent":        5,
}

// TestSeeds runs the fixed CI set of seeds and fails listing every seed
// that violates an invariant the engine holds (see openInvariants), with
// the trace of the first. Replay one with go run ./internal/cmd/simulate
// -seed N.
func TestSeeds(t *testing.T) {
	// The CI set keeps each scenario to its first dozen steps (its record
	// creations and the first faults), so that 200 seeds fit in a minute
	// under the race detector on two cores; campaigns run them whole.
	// A settle that takes 5 s has hung (they take well under a second), and
	// a hung seed must not hold CI up.
	opt := Options{Postgres: os.Getenv("SFSYNC_TEST_POSTGRES"), Wait: 5 * time.Second, MaxSteps: 12}
	if testing.Short() {
		opt.MaxSteps = 8
	}
	runSeeds(t, ciSeeds, opt, openInvariants, openCeilings)
}

// ciSeedsPostgresERP is how many seeds CI runs with the pgmirror ERP.
const ciSeedsPostgresERP = 60

// openCeilingsPostgresERP are openCeilings for the pgmirror ERP's CI
// seeds. Measured 2026-12-03 (thirteen runs of the 60 seeds under the
// race detector, on two cores other work loaded): model agreement on 8 to
// 14 seeds, no double effect on 1 to 6, quiescence on none. The local edit
// that committed between the engine's read of a row and its write, and was
// replaced by the write, is refused by the mirror's conditional write
// since (see doc.go): three runs each the same day, model agreement on 7 to
// 12 seeds before it and 6 to 10 after; the first dozen steps of a
// scenario hold few such races. That evening, after the repair-version and
// lost-field fixes, two runs under the race detector: model agreement on 1
// and 2 seeds, no double effect on none; late that night, three runs: model
// agreement on 3 to 4, no double effect on none.
var openCeilingsPostgresERP = map[string]int{
	"model-agreement":  10,
	"no-double-effect": 4,
	"quiescent":        3,
}

// TestSeedsPostgresERP runs the first CI seeds with package pgmirror as
// the ERP, on the SFSYNC_TEST_POSTGRES database, under the same
// invariants as TestSeeds. It takes 25 to 45 s under the race detector on
// two loaded cores.
func TestSeedsPostgresERP(t *testing.T) {
	dsn := os.Getenv("SFSYNC_TEST_POSTGRES")
	if dsn == "" {
		t.Skip("SFSYNC_TEST_POSTGRES is not set, so there is no database for the pgmirror ERP; run `eval \"$(bash .ci/start-postgres.sh)\"` first (CI does)")
	}
	opt := Options{Postgres: dsn, ExternalPostgres: true, Wait: 5 * time.Second, MaxSteps: 12}
	if testing.Short() {
		opt.MaxSteps = 8
	}
	runSeeds(t, ciSeedsPostgresERP, opt, openInvariants, openCeilingsPostgresERP)
}

// runSeeds runs seeds 1 to n with opt, fails on every violation of an
// invariant the engine holds (one not in openInv) and on open invariants
// violated on more seeds than their ceiling.
func runSeeds(t *testing.T, n int, opt Options, openInv map[string]string, ceilings map[string]int) {
	seeds := make([]int64, n)
	for i := range seeds {
		seeds[i] = int64(i + 1)
	}
	var failed []*Result
	open := map[string][]int64{}
	// Most of a run is waiting on loopback, so more runs than CPUs overlap.
	sum := Campaign(context.Background(), seeds, 4*runtime.GOMAXPROCS(0), opt, func(r *Result) {
		held := slices.DeleteFunc(slices.Clone(r.Violations), func(v Violation) bool {
			if _, isOpen := openInv[v.Invariant]; isOpen {
				if ss := open[v.Invariant]; len(ss) == 0 || ss[len(ss)-1] != r.Seed {
					open[v.Invariant] = append(ss, r.Seed)
				}
				return true
			}
			return false
		})
		if len(held) > 0 || r.Err != nil {
			r.Violations = held
			failed = append(failed, r)
		}
	})
	for _, inv := range sortedKeys(open) {
		t.Logf("open invariant %s: violated on %d of %d seeds %v (%s)", inv, len(open[inv]), n, open[inv], openInv[inv])
		if k := len(open[inv]); k > ceilings[inv] && !testing.Short() {
			t.Errorf("open invariant %s: violated on %d of %d seeds, above its ceiling of %d: a regression in a class not yet fixed (seeds %v)",
				inv, k, n, ceilings[inv], open[inv])
		}
	}
	var b strings.Builder
	sum.Print(&b)
	t.Log("\n" + b.String())
	if len(failed) == 0 {
		return
	}
	slices.SortFunc(failed, func(a, b *Result) int { return int(a.Seed - b.Seed) })
	for _, r := range failed {
		what := fmt.Sprint(r.Err)
		if len(r.Violations) > 0 {
			what = fmt.Sprintf("%d violations, first %s", len(r.Violations), r.Violations[0])
		}
		if i := strings.IndexByte(what, '\n'); i > 0 {
			what = what[:i]
		}
		t.Errorf("seed %d: %s", r.Seed, what)
	}
	t.Logf("trace of seed %d:\n%s", failed[0].Seed, failed[0].Report())
}

// TestGenerateIsDeterministic: a seed always yields the same scenario.
func TestGenerateIsDeterministic(t *testing.T) {
	for seed := int64(1); seed <= 50; seed++ {
		a, b := Generate(seed), Generate(seed)
		if a.Describe() != b.Describe() || len(a.Steps) != len(b.Steps) {
			t.Fatalf("seed %d: %s vs %s", seed, a.Describe(), b.Describe())
		}
		for i := range a.Steps {
			if a.Steps[i].String() != b.Steps[i].String() {
				t.Fatalf("seed %d step %d: %s vs %s", seed, i, a.Steps[i].String(), b.Steps[i].String())
			}
		}
	}
}

// TestModel checks the model's reading of each policy on small histories.
func TestModel(t *testing.T) {
	at := func(s int) time.Time { return epoch.Add(time.Duration(s) * time.Second) }
	h := []edit{
		{N: 1, Side: SF, Op: "create", Fields: map[string]any{"Email": "a"}, T: at(1), Seq: 1},
		{N: 2, Side: Ext, Op: "update", Fields: map[string]any{"Email": "b"}, T: at(5), Seq: 1},
		{N: 3, Side: SF, Op: "update", Fields: map[string]any{"Email": "c"}, T: at(4), Seq: 2},
	}
	for _, tc := range []struct {
		rule rule
		want []any
	}{
		{lwwRule{}, []any{"b"}},
		{lwwRule{skew: 2 * time.Second}, []any{"b", "c"}},
		{winsRule{w: SF}, []any{"c"}},
		{winsRule{w: Ext}, []any{"b"}},
		{ownRule{owners: map[string]Side{"Email": Ext}, fallback: lwwRule{}}, []any{"b"}},
		{ownRule{owners: map[string]Side{"Phone": Ext}, fallback: winsRule{w: SF}}, []any{"c"}},
	} {
		got, why := tc.rule.value("Email", h, h)
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%T%+v: %v (%s), want %v", tc.rule, tc.rule, got, why, tc.want)
		}
	}
	// Salesforce never set a field the ERP created: its first value filled it.
	ext := []edit{
		{N: 1, Side: Ext, Op: "create", Fields: map[string]any{"Email": "a"}, T: at(1), Seq: 1},
		{N: 2, Side: Ext, Op: "update", Fields: map[string]any{"Email": "b"}, T: at(2), Seq: 2},
	}
	if got, _ := (winsRule{w: SF}).value("Email", ext, ext); fmt.Sprint(got) != "[a]" {
		t.Errorf("SalesforceWins over ERP-only edits: %v, want [a]", got)
	}
	// The ERP's create was dead-lettered on its way: its update may have
	// filled the field first (its requeue then lost), or not.
	ext[0].Delayed = true
	if got, _ := (winsRule{w: SF}).value("Email", ext, ext); fmt.Sprint(got) != "[a b]" {
		t.Errorf("SalesforceWins over ERP-only edits, the first delayed: %v, want [a b]", got)
	}
	// The delayed create reaches Salesforce with whatever the ERP holds
	// when a later change of it is taken across: any value until
	// Salesforce edits the record (it holds it by then), not after.
	late := append(slices.Clone(ext),
		edit{N: 3, Side: Ext, Op: "update", Fields: map[string]any{"Email": "c"}, T: at(3), Seq: 3},
		edit{N: 4, Side: SF, Op: "update", Fields: map[string]any{"Phone": "p"}, T: at(4), Seq: 1},
		edit{N: 5, Side: Ext, Op: "update", Fields: map[string]any{"Email": "d"}, T: at(5), Seq: 4})
	fieldEdits := slices.DeleteFunc(slices.Clone(late), func(e edit) bool { return e.Fields["Email"] == nil })
	if got, _ := (winsRule{w: SF}).value("Email", fieldEdits, late); fmt.Sprint(got) != "[a b c]" {
		t.Errorf("SalesforceWins over a delayed ERP create: %v, want [a b c]", got)
	}
	// So does one a snapshot of the ERP's record overtook.
	late[0].Delayed, late[0].Overtaken = false, true
	fieldEdits[0] = late[0]
	if got, _ := (winsRule{w: SF}).value("Email", fieldEdits, late); fmt.Sprint(got) != "[a b c]" {
		t.Errorf("SalesforceWins over an ERP create a snapshot overtook: %v, want [a b c]", got)
	}
	// A Salesforce edit known only from a backfill's row (its event lost)
	// spans the time up to the row: an ERP edit inside that span ties
	// with it; one after it wins; one before it loses.
	// So does a create whose event was lost: the row carries its values
	// as it does an update's (see delayedHistory).
	for _, op := range []string{"update", "create"} {
		lost := edit{N: 1, Side: SF, Op: op, Fields: map[string]any{"Email": "s"}, T: at(11), Until: at(17), Seq: 1}
		for _, tc := range []struct {
			ext  int
			want string
		}{{16, "[s e]"}, {20, "[e]"}, {5, "[s]"}} {
			ext := edit{N: 2, Side: Ext, Op: "update", Fields: map[string]any{"Email": "e"}, T: at(tc.ext), Seq: 1}
			es := []edit{lost, ext}
			if got, _ := (lwwRule{skew: time.Second}).value("Email", es, es); fmt.Sprint(got) != tc.want {
				t.Errorf("LastWriteWins, a lost Salesforce %s (11s, row at 17s) against the ERP's at %ds: %v, want %v", op, tc.ext, got, tc.want)
			}
		}
	}
	del := append(slices.Clone(h), edit{N: 4, Side: Ext, Op: "delete", T: at(9), Seq: 2})
	if got, _ := (lwwRule{}).exists(del); fmt.Sprint(got) != "[false]" {
		t.Errorf("LastWriteWins existence after a newest delete: %v", got)
	}
	if got, _ := (winsRule{w: SF}).exists(del); fmt.Sprint(got) != "[true]" {
		t.Errorf("SalesforceWins existence after the ERP's delete: %v", got)
	}
	// The ERP creates a record, then deletes it, and its create was
	// dead-lettered on its way: Salesforce may not have held the record
	// when the delete came, and a delete of a record the winner does not
	// hold stands. Once Salesforce edits it, it held it.
	created := []edit{
		{N: 1, Side: Ext, Op: "create", Fields: map[string]any{"Email": "a"}, T: at(1), Seq: 1, Delayed: true},
		{N: 2, Side: Ext, Op: "delete", T: at(2), Seq: 2},
	}
	if got, _ := (winsRule{w: SF}).exists(created); fmt.Sprint(got) != "[true false]" {
		t.Errorf("SalesforceWins existence after the ERP's delete of its own delayed create: %v, want [true false]", got)
	}
	edited := append(slices.Clone(created[:1]), edit{N: 2, Side: SF, Op: "update", Fields: map[string]any{"Email": "b"}, T: at(2), Seq: 1}, created[1])
	if got, _ := (winsRule{w: SF}).exists(edited); fmt.Sprint(got) != "[true]" {
		t.Errorf("SalesforceWins existence after Salesforce edited the ERP's record before the ERP's delete: %v, want [true]", got)
	}
	created[0].Delayed = false
	if got, _ := (winsRule{w: SF}).exists(created); fmt.Sprint(got) != "[true]" {
		t.Errorf("SalesforceWins existence after the ERP's delete of its own create, which reached Salesforce first: %v, want [true]", got)
	}
}
