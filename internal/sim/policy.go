package sim

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/conflict"
)

// PolicySpec describes a conflict policy as data, so that the engine gets
// the real policy from package conflict and the model (model.go) gets its
// own, independent reading of the same rule.
type PolicySpec struct {
	// Kind is "salesforce-wins", "external-wins", "lww", "ownership" or
	// "per-object".
	Kind string
	// Skew is LastWriteWins's skew tolerance.
	Skew time.Duration
	// Owners gives fields (Salesforce names) to a side, for "ownership".
	Owners map[string]Side
	// Fallback decides unowned fields, deletes and undeletes ("ownership")
	// or objects without their own policy ("per-object").
	Fallback *PolicySpec
	// ByObject is the policy of each object, for "per-object".
	ByObject map[string]*PolicySpec
}

func (p *PolicySpec) String() string {
	switch p.Kind {
	case "lww":
		if p.Skew > 0 {
			return fmt.Sprintf("LastWriteWins(skew %s)", p.Skew)
		}
		return "LastWriteWins"
	case "salesforce-wins":
		return "SalesforceWins"
	case "external-wins":
		return "ExternalWins"
	case "ownership":
		var own []string
		for _, f := range sortedKeys(p.Owners) {
			own = append(own, f+":"+p.Owners[f].String())
		}
		return fmt.Sprintf("FieldOwnership(%s; fallback %s)", strings.Join(own, " "), p.Fallback)
	case "per-object":
		var objs []string
		for _, o := range sortedKeys(p.ByObject) {
			objs = append(objs, o+"="+p.ByObject[o].String())
		}
		return fmt.Sprintf("PerObject(%s; fallback %s)", strings.Join(objs, " "), p.Fallback)
	}
	return p.Kind
}

// engine returns the conflict policy the engine runs.
func (p *PolicySpec) engine() sfsync.ConflictPolicy {
	switch p.Kind {
	case "salesforce-wins":
		return conflict.SalesforceWins()
	case "external-wins":
		return conflict.ExternalWins()
	case "lww":
		if p.Skew > 0 {
			return conflict.LastWriteWins(conflict.WithSkewTolerance(p.Skew))
		}
		return conflict.LastWriteWins()
	case "ownership":
		owners := conflict.Owners{}
		for f, s := range p.Owners {
			owners[f] = s.system()
		}
		return conflict.FieldOwnership(owners, p.Fallback.engine())
	case "per-object":
		by := map[string]sfsync.ConflictPolicy{}
		for o, q := range p.ByObject {
			by[o] = q.engine()
		}
		return conflict.PerObject(by, p.Fallback.engine())
	}
	panic("sim: unknown policy " + p.Kind)
}

// policyKinds are the policies a seed picks from, so that a campaign runs
// every policy of package conflict.
var policyKinds = []string{"lww", "lww-skew", "salesforce-wins", "external-wins", "ownership", "per-object"}

// genPolicy picks a policy. Ownership never gives the required name field
// to the ERP: a create from the ERP without it could never reach
// Salesforce, which would test the workload rather than the engine.
func genPolicy(g *gen, objects []objectSpec) PolicySpec {
	simple := func() *PolicySpec {
		switch g.pick(4) {
		case 0:
			return &PolicySpec{Kind: "lww"}
		case 1:
			return &PolicySpec{Kind: "lww", Skew: 2 * time.Second}
		case 2:
			return &PolicySpec{Kind: "salesforce-wins"}
		}
		return &PolicySpec{Kind: "external-wins"}
	}
	switch policyKinds[g.pick(len(policyKinds))] {
	case "lww":
		return PolicySpec{Kind: "lww"}
	case "lww-skew":
		return PolicySpec{Kind: "lww", Skew: time.Duration(1+g.pick(3)) * time.Second}
	case "salesforce-wins":
		return PolicySpec{Kind: "salesforce-wins"}
	case "external-wins":
		return PolicySpec{Kind: "external-wins"}
	case "ownership":
		owners := map[string]Side{}
		for _, o := range objects {
			for _, f := range o.Fields[1:] {
				switch g.pick(3) {
				case 0:
					owners[f.SF] = SF
				case 1:
					owners[f.SF] = Ext
				}
			}
		}
		return PolicySpec{Kind: "ownership", Owners: owners, Fallback: simple()}
	}
	by := map[string]*PolicySpec{}
	for _, o := range objects {
		if g.chance(0.8) {
			by[o.Name] = simple()
		}
	}
	return PolicySpec{Kind: "per-object", ByObject: by, Fallback: simple()}
}

func sortedKeys[K ~string, V any](m map[K]V) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	return keys
}
