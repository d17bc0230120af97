package conflict_test

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/conflict"
)

var (
	erp = sfsync.External("erp")
	t0  = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
)

func v(d time.Duration) sfsync.Version { return sfsync.Version{Time: t0.Add(d)} }

func upd(from sfsync.System, ver sfsync.Version, fields map[string]any) sfsync.Change {
	return sfsync.Change{Source: from, Object: "Contact", RecordID: "C-001", Op: sfsync.OpUpdate, Fields: fields, Version: ver}
}

// target is a record whose every field was written by writer at ver.
func target(writer sfsync.System, ver sfsync.Version, fields map[string]any) sfsync.Record {
	r := sfsync.Record{Object: "Contact", ID: "C-001", Exists: true, Fields: fields, Version: ver,
		FieldVersions: map[string]sfsync.Version{}, LastWriter: map[string]sfsync.System{}}
	for f := range fields {
		r.FieldVersions[f] = ver
		r.LastWriter[f] = writer
	}
	return r
}

func TestPolicies(t *testing.T) {
	cur := target(erp, v(time.Minute), map[string]any{"Phone": "222"})
	tests := []struct {
		name     string
		policy   sfsync.ConflictPolicy
		in       sfsync.Change
		cur      sfsync.Record
		wantKeep []string
		wantDrop []string
	}{
		{"salesforce wins from salesforce", conflict.SalesforceWins(), upd(sfsync.Salesforce, v(0), map[string]any{"Phone": "111"}), cur, []string{"Phone"}, nil},
		{"salesforce wins against erp", conflict.SalesforceWins(), upd(erp, v(2*time.Minute), map[string]any{"Phone": "333", "Fax": "9"}), target(sfsync.Salesforce, v(0), map[string]any{"Phone": "1"}), []string{"Fax"}, []string{"Phone"}},
		{"salesforce wins, missing target", conflict.SalesforceWins(), upd(erp, v(0), map[string]any{"Phone": "333"}), sfsync.Record{}, []string{"Phone"}, nil},
		{"salesforce wins, an empty field nobody set is filled", conflict.SalesforceWins(), upd(erp, v(2*time.Minute), map[string]any{"Email": "e"}),
			sfsync.Record{Object: "Contact", ID: "C-001", Exists: true, Fields: map[string]any{"Email": nil}, Version: v(0)}, []string{"Email"}, nil},
		{"salesforce wins, a field it emptied stays empty", conflict.SalesforceWins(), upd(erp, v(2*time.Minute), map[string]any{"Email": "e"}),
			target(sfsync.Salesforce, v(0), map[string]any{"Email": nil}), nil, []string{"Email"}},
		{"external wins from erp", conflict.ExternalWins(), upd(erp, v(0), map[string]any{"Phone": "333"}), target(sfsync.Salesforce, v(time.Hour), map[string]any{"Phone": "1"}), []string{"Phone"}, nil},
		{"external wins against salesforce", conflict.ExternalWins(), upd(sfsync.Salesforce, v(time.Hour), map[string]any{"Phone": "1"}), cur, nil, []string{"Phone"}},
		{"lww newer", conflict.LastWriteWins(), upd(sfsync.Salesforce, v(2*time.Minute), map[string]any{"Phone": "333"}), cur, []string{"Phone"}, nil},
		{"lww older", conflict.LastWriteWins(), upd(sfsync.Salesforce, v(0), map[string]any{"Phone": "111"}), cur, nil, []string{"Phone"}},
		{"lww per field", conflict.LastWriteWins(), upd(sfsync.Salesforce, v(30*time.Second), map[string]any{"Phone": "1", "Title": "CEO"}),
			func() sfsync.Record {
				r := target(erp, v(0), map[string]any{"Phone": "2", "Title": "CTO"})
				r.FieldVersions["Phone"] = v(time.Minute)
				return r
			}(), []string{"Title"}, []string{"Phone"}},
		{"lww skew tie: system of record wins", conflict.LastWriteWins(conflict.WithSkewTolerance(5 * time.Second)), upd(sfsync.Salesforce, v(time.Minute-3*time.Second), map[string]any{"Phone": "111"}), cur, []string{"Phone"}, nil},
		{"lww skew tie: non-record system loses", conflict.LastWriteWins(conflict.WithSkewTolerance(5 * time.Second)), upd(erp, v(time.Minute+3*time.Second), map[string]any{"Phone": "999"}), target(sfsync.Salesforce, v(time.Minute), map[string]any{"Phone": "111"}), nil, []string{"Phone"}},
		{"lww skew tie: other system of record", conflict.LastWriteWins(conflict.WithSkewTolerance(5*time.Second), conflict.WithSystemOfRecord(erp)), upd(erp, v(time.Minute-3*time.Second), map[string]any{"Phone": "999"}), target(sfsync.Salesforce, v(time.Minute), map[string]any{"Phone": "111"}), []string{"Phone"}, nil},
		{"lww unversioned change loses", conflict.LastWriteWins(), upd(erp, sfsync.Version{}, map[string]any{"Phone": "999"}), cur, nil, []string{"Phone"}},
		{"lww counters beat clocks", conflict.LastWriteWins(), upd(erp, sfsync.Version{Time: t0, Counter: 8}, map[string]any{"Phone": "8"}),
			target(erp, sfsync.Version{Time: t0.Add(time.Hour), Counter: 7}, map[string]any{"Phone": "7"}), []string{"Phone"}, nil},
		{"ownership: owner writes", conflict.FieldOwnership(conflict.Owners{"Email": sfsync.Salesforce}, conflict.LastWriteWins()), upd(sfsync.Salesforce, v(0), map[string]any{"Email": "a@x"}), cur, []string{"Email"}, nil},
		{"ownership: non-owner dropped, rest by fallback", conflict.FieldOwnership(conflict.Owners{"Email": sfsync.Salesforce}, conflict.LastWriteWins()), upd(erp, v(2*time.Minute), map[string]any{"Email": "b@x", "Phone": "444"}), cur, []string{"Phone"}, []string{"Email"}},
		{"ownership: nulls of owned fields", conflict.FieldOwnership(conflict.Owners{"Email": sfsync.Salesforce}, nil), sfsync.Change{Source: erp, Op: sfsync.OpUpdate, Nulled: []string{"Email"}, Version: v(time.Hour)}, cur, nil, []string{"Email"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := tt.policy.Decide(tt.in, tt.cur)
			if !slices.Equal(d.Keep, tt.wantKeep) {
				t.Errorf("Keep = %v, want %v (%+v)", d.Keep, tt.wantKeep, d)
			}
			if got := slices.Sorted(maps.Keys(d.Dropped)); !slices.Equal(got, tt.wantDrop) {
				t.Errorf("Dropped = %v, want %v", d.Dropped, tt.wantDrop)
			}
			if d.Apply != (len(tt.wantKeep) > 0) {
				t.Errorf("Apply = %v with Keep %v", d.Apply, d.Keep)
			}
			if d.Reason == "" {
				t.Error("no reason")
			}
			if again := tt.policy.Decide(tt.in, tt.cur); !reflect.DeepEqual(again, d) {
				t.Errorf("not deterministic: %+v then %+v", d, again)
			}
		})
	}
}

func TestContentTieBreakIsSymmetric(t *testing.T) {
	p := conflict.LastWriteWins(conflict.WithSkewTolerance(time.Second))
	// Two writes at the same instant from two systems that are not the
	// system of record, and no known writer: both directions must settle
	// on the same value.
	a := upd(erp, v(0), map[string]any{"Phone": "111"})
	b := upd(sfsync.External("crm"), v(0), map[string]any{"Phone": "222"})
	hasA := sfsync.Record{Exists: true, Fields: map[string]any{"Phone": "111"}, Version: v(0)}
	hasB := sfsync.Record{Exists: true, Fields: map[string]any{"Phone": "222"}, Version: v(0)}
	if d := p.Decide(b, hasA); !d.Apply {
		t.Errorf("222 onto 111: %+v, want applied", d)
	}
	if d := p.Decide(a, hasB); d.Apply {
		t.Errorf("111 onto 222: %+v, want kept", d)
	}
}

func TestDeletes(t *testing.T) {
	del := sfsync.Change{Source: erp, Object: "Contact", RecordID: "C-001", Op: sfsync.OpDelete, Version: v(time.Hour)}
	cur := target(sfsync.Salesforce, v(0), map[string]any{"Phone": "1"})
	if d := conflict.LastWriteWins().Decide(del, cur); !d.Apply {
		t.Errorf("newer delete: %+v", d)
	}
	del.Version = v(-time.Hour)
	if d := conflict.LastWriteWins().Decide(del, cur); d.Apply {
		t.Errorf("older delete: %+v", d)
	}
	if d := conflict.SalesforceWins().Decide(del, cur); d.Apply {
		t.Errorf("erp delete under Salesforce wins: %+v", d)
	}
	if d := conflict.FieldOwnership(conflict.Owners{"Phone": erp}, conflict.SalesforceWins()).Decide(del, cur); d.Apply {
		t.Errorf("ownership hands deletes to its fallback: %+v", d)
	}
}

func TestPerObject(t *testing.T) {
	p := conflict.PerObject(map[string]sfsync.ConflictPolicy{"Contact": conflict.ExternalWins()}, conflict.SalesforceWins())
	cur := target(sfsync.Salesforce, v(0), map[string]any{"Phone": "1"})
	in := upd(erp, v(0), map[string]any{"Phone": "2"})
	if d := p.Decide(in, cur); !d.Apply {
		t.Errorf("Contact: %+v", d)
	}
	in.Object = "Account"
	if d := p.Decide(in, cur); d.Apply {
		t.Errorf("Account: %+v", d)
	}
}

// TestWorkedExample plays Contact C-001 in every arrival order: Salesforce
// owns Email; Phone is last write wins. T0 Salesforce Phone=111, T1 the
// external system Phone=222 (and an Email edit), T2 Salesforce Phone=333.
// Both sides must end with Phone=333 and Salesforce's Email.
func TestWorkedExample(t *testing.T) {
	policy := conflict.FieldOwnership(conflict.Owners{"Email": sfsync.Salesforce}, conflict.LastWriteWins())
	events := []sfsync.Change{
		upd(sfsync.Salesforce, v(0), map[string]any{"Phone": "111", "Email": "ann@sf.example"}),
		upd(erp, v(time.Minute), map[string]any{"Phone": "222", "Email": "ann@erp.example"}),
		upd(sfsync.Salesforce, v(2*time.Minute), map[string]any{"Phone": "333"}),
	}
	for _, order := range permutations(len(events)) {
		// Each side holds its own edits already; the other side's arrive
		// in the given order.
		sides := map[sfsync.System]sfsync.Record{
			sfsync.Salesforce: {Exists: true, Fields: map[string]any{}, FieldVersions: map[string]sfsync.Version{}, LastWriter: map[string]sfsync.System{}},
			erp:               {Exists: true, Fields: map[string]any{}, FieldVersions: map[string]sfsync.Version{}, LastWriter: map[string]sfsync.System{}},
		}
		for _, i := range order {
			apply(sides[events[i].Source], events[i], events[i].Touched())
		}
		for _, i := range order {
			in := events[i]
			other := erp
			if !in.Source.IsSalesforce() {
				other = sfsync.Salesforce
			}
			if d := policy.Decide(in, sides[other]); d.Apply {
				apply(sides[other], in, d.Keep)
			}
		}
		for sys, r := range sides {
			if r.Fields["Phone"] != "333" || r.Fields["Email"] != "ann@sf.example" {
				t.Errorf("order %v: %s ends with %v", order, sys, r.Fields)
			}
		}
	}
}

func apply(r sfsync.Record, c sfsync.Change, fields []string) {
	for _, f := range fields {
		// A system's own edits land in time order whatever the delivery order.
		if c.Version.Before(r.FieldVersions[f]) && r.LastWriter[f] == c.Source {
			continue
		}
		val, _ := c.Value(f)
		r.Fields[f] = val
		r.FieldVersions[f] = c.Version
		r.LastWriter[f] = c.Source
	}
}

func permutations(n int) [][]int {
	if n == 0 {
		return [][]int{{}}
	}
	var out [][]int
	for _, p := range permutations(n - 1) {
		for i := 0; i <= len(p); i++ {
			q := slices.Insert(slices.Clone(p), i, n-1)
			out = append(out, q)
		}
	}
	return out
}

func Example() {
	policy := conflict.FieldOwnership(
		conflict.Owners{"Email": sfsync.Salesforce},
		conflict.LastWriteWins(conflict.WithSkewTolerance(2*time.Second)),
	)
	current := sfsync.Record{
		Exists: true,
		Fields: map[string]any{"Phone": "333", "Email": "ann@sf.example"},
		// Salesforce set both at 09:02.
		Version: sfsync.Version{Time: time.Date(2026, 11, 2, 9, 2, 0, 0, time.UTC)},
	}
	for _, minute := range []int{1, 3} {
		edit := sfsync.Change{
			Source: sfsync.External("erp"), Op: sfsync.OpUpdate,
			Fields:  map[string]any{"Phone": "222", "Email": "ann@erp.example"},
			Version: sfsync.Version{Time: time.Date(2026, 11, 2, 9, minute, 0, 0, time.UTC)},
		}
		d := policy.Decide(edit, current)
		fmt.Printf("erp edit at 09:0%d: write %v\n", minute, d.Keep)
		for _, f := range slices.Sorted(maps.Keys(d.Dropped)) {
			fmt.Printf("  drop %s: %s\n", f, d.Dropped[f])
		}
	}
	// Output:
	// erp edit at 09:01: write []
	//   drop Email: owned by salesforce
	//   drop Phone: target's value (2026-11-02T09:02:00Z#0) is newer than 2026-11-02T09:01:00Z#0
	// erp edit at 09:03: write [Phone]
	//   drop Email: owned by salesforce
}
