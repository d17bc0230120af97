package conflict_test

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/conflict"
)

// tomb is a deleted record whose delete has version ver; deleter is the
// system that deleted it, "" when unknown.
func tomb(deleter sfsync.System, ver sfsync.Version) sfsync.Record {
	r := sfsync.Record{Object: "Contact", ID: "C-001", Exists: true, Deleted: true, Version: ver, Fields: map[string]any{}}
	if deleter != "" {
		r.LastWriter = map[string]sfsync.System{conflict.RecordLevel: deleter}
	}
	return r
}

// wrote is target with the record's last change made by writer too.
func wrote(writer sfsync.System, ver sfsync.Version, fields map[string]any) sfsync.Record {
	r := target(writer, ver, fields)
	r.LastWriter[conflict.RecordLevel] = writer
	return r
}

func op(o sfsync.Op, from sfsync.System, ver sfsync.Version, fields map[string]any) sfsync.Change {
	c := upd(from, ver, fields)
	c.Op = o
	return c
}

func del(from sfsync.System, ver sfsync.Version) sfsync.Change {
	return op(sfsync.OpDelete, from, ver, nil)
}

type ruleCase struct {
	name      string
	policy    sfsync.ConflictPolicy
	in        sfsync.Change
	cur       sfsync.Record
	wantApply bool
	// wantKeep, when not nil, is the exact Keep of an applied change.
	wantKeep []string
}

func runRules(t *testing.T, tests []ruleCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := tt.policy.Decide(tt.in, tt.cur)
			if d.Apply != tt.wantApply {
				t.Fatalf("Apply = %v, want %v (%+v)", d.Apply, tt.wantApply, d)
			}
			if tt.wantApply && tt.wantKeep != nil && !slices.Equal(d.Keep, tt.wantKeep) {
				t.Errorf("Keep = %v, want %v (%+v)", d.Keep, tt.wantKeep, d)
			}
			if d.Reason == "" {
				t.Error("no reason")
			}
			for _, f := range tt.in.Touched() {
				_, dropped := d.Dropped[f]
				if kept := slices.Contains(d.Keep, f); d.Apply && kept == dropped {
					t.Errorf("field %s: kept %v, dropped %v (%+v)", f, kept, dropped, d)
				}
			}
			if again := tt.policy.Decide(tt.in, tt.cur); !reflect.DeepEqual(again, d) {
				t.Errorf("not deterministic: %+v then %+v", d, again)
			}
		})
	}
}

// (a) Skew tolerance is between systems only: a system's own later change
// always supersedes its own earlier value, by plain version order.
func TestLWWOwnChangesInVersionOrder(t *testing.T) {
	skew := conflict.LastWriteWins(conflict.WithSkewTolerance(5 * time.Second))
	phone := func(s string) map[string]any { return map[string]any{"Phone": s} }
	runRules(t, []ruleCase{
		{"erp's later change within the skew supersedes its own value", skew,
			upd(erp, v(62*time.Second), phone("000")), target(erp, v(time.Minute), phone("555")), true, []string{"Phone"}},
		{"erp's earlier change within the skew does not", skew,
			upd(erp, v(58*time.Second), phone("999")), target(erp, v(time.Minute), phone("111")), false, nil},
		{"salesforce's later change within the skew supersedes its own value", skew,
			upd(sfsync.Salesforce, v(62*time.Second), phone("000")), target(sfsync.Salesforce, v(time.Minute), phone("555")), true, []string{"Phone"}},
		{"salesforce's later transaction in the same instant", skew,
			upd(sfsync.Salesforce, sfsync.Version{Time: t0, Commit: 6, Seq: 1}, phone("000")),
			target(sfsync.Salesforce, sfsync.Version{Time: t0, Commit: 5, Seq: 2}, phone("555")), true, []string{"Phone"}},
		{"salesforce's earlier transaction in the same instant", skew,
			upd(sfsync.Salesforce, sfsync.Version{Time: t0, Commit: 5, Seq: 9}, phone("999")),
			target(sfsync.Salesforce, sfsync.Version{Time: t0, Commit: 6, Seq: 1}, phone("111")), false, nil},
		{"between systems the skew still ties (system of record keeps)", skew,
			upd(erp, v(62*time.Second), phone("999")), target(sfsync.Salesforce, v(time.Minute), phone("111")), false, nil},
		{"per field: own later kept, other system's tie dropped", skew,
			upd(erp, v(62*time.Second), map[string]any{"Phone": "000", "Title": "CEO"}),
			func() sfsync.Record {
				r := target(erp, v(time.Minute), map[string]any{"Phone": "555", "Title": "CTO"})
				r.LastWriter["Title"] = sfsync.Salesforce
				return r
			}(), true, []string{"Phone"}},
		{"own delete after own change within the skew", skew,
			del(erp, v(62*time.Second)), wrote(erp, v(time.Minute), phone("1")), true, nil},
		{"own delete before own change within the skew", skew,
			del(erp, v(58*time.Second)), wrote(erp, v(time.Minute), phone("1")), false, nil},
	})
}

// (b) A delete that wins a tie is applied.
func TestLWWDeleteWinningATie(t *testing.T) {
	skew := conflict.LastWriteWins(conflict.WithSkewTolerance(5 * time.Second))
	exact := conflict.LastWriteWins()
	phone := map[string]any{"Phone": "1"}
	runRules(t, []ruleCase{
		{"tie within the skew, writer unknown: the delete wins", skew,
			del(erp, v(58*time.Second)), sfsync.Record{Exists: true, Fields: phone, Version: v(time.Minute)}, true, nil},
		{"equal versions, writer unknown: the delete wins", exact,
			del(erp, v(time.Minute)), sfsync.Record{Exists: true, Fields: phone, Version: v(time.Minute)}, true, nil},
		{"tie against the system of record's change: kept", skew,
			del(erp, v(62*time.Second)), wrote(sfsync.Salesforce, v(time.Minute), phone), false, nil},
		{"tie won by the system of record's delete", skew,
			del(sfsync.Salesforce, v(58*time.Second)), wrote(erp, v(time.Minute), phone), true, nil},
		{"older delete outside the skew", skew,
			del(sfsync.Salesforce, v(50*time.Second)), wrote(erp, v(time.Minute), phone), false, nil},
	})
}

// (c) A delete is a versioned tombstone: a create, update or undelete older
// than it does not bring the record back, whatever the policy. A system's
// own later change always supersedes its own earlier one; between systems
// the policy decides, a tombstone's version compared like a field's.
func TestTombstones(t *testing.T) {
	lww := conflict.LastWriteWins()
	skew := conflict.LastWriteWins(conflict.WithSkewTolerance(5 * time.Second))
	sfWins, extWins := conflict.SalesforceWins(), conflict.ExternalWins()
	phone := map[string]any{"Phone": "1"}
	at := v(time.Minute)
	sf := sfsync.Salesforce
	runRules(t, []ruleCase{
		// Last write wins.
		{"lww: update older than another system's delete", lww, upd(erp, v(30*time.Second), phone), tomb(sf, at), false, nil},
		{"lww: update newer than another system's delete", lww, upd(erp, v(90*time.Second), phone), tomb(sf, at), true, []string{"Phone"}},
		{"lww: create older than a delete of unknown origin", lww, op(sfsync.OpCreate, erp, v(30*time.Second), phone), tomb("", at), false, nil},
		{"lww: create newer than a delete of unknown origin", lww, op(sfsync.OpCreate, erp, v(90*time.Second), phone), tomb("", at), true, nil},
		{"lww: undelete older than the delete", lww, op(sfsync.OpUndelete, erp, v(30*time.Second), nil), tomb(sf, at), false, nil},
		{"lww: undelete newer than the delete", lww, op(sfsync.OpUndelete, erp, v(90*time.Second), nil), tomb(sf, at), true, nil},
		{"lww: equal versions, deleter unknown: the delete holds", lww, upd(erp, at, phone), tomb("", at), false, nil},
		{"lww: tie with the system of record's delete", skew, upd(erp, v(62*time.Second), phone), tomb(sf, at), false, nil},
		{"lww: the system of record's update ties another's delete", skew, upd(sf, v(58*time.Second), phone), tomb(erp, at), true, nil},
		{"lww: own update after own delete, within the skew", skew, upd(erp, v(62*time.Second), phone), tomb(erp, at), true, nil},
		{"lww: own update before own delete, within the skew", skew, upd(erp, v(58*time.Second), phone), tomb(erp, at), false, nil},
		{"lww: an unversioned tombstone orders nothing", lww, upd(erp, v(0), phone), tomb(sf, sfsync.Version{}), true, nil},

		// Salesforce wins.
		{"sf wins: salesforce's update older than its own delete", sfWins, upd(sf, v(30*time.Second), phone), tomb(sf, at), false, nil},
		{"sf wins: salesforce's update newer than its own delete", sfWins, upd(sf, v(90*time.Second), phone), tomb(sf, at), true, nil},
		{"sf wins: salesforce's update older than erp's delete", sfWins, upd(sf, v(30*time.Second), phone), tomb(erp, at), true, nil},
		{"sf wins: erp's update newer than salesforce's delete", sfWins, upd(erp, v(90*time.Second), phone), tomb(sf, at), false, nil},
		{"sf wins: erp's update older than its own delete", sfWins, upd(erp, v(30*time.Second), phone), tomb(erp, at), false, nil},
		{"sf wins: erp's update newer than its own delete", sfWins, upd(erp, v(90*time.Second), phone), tomb(erp, at), true, nil},
		{"sf wins: salesforce's update older than a delete of unknown origin", sfWins, upd(sf, v(30*time.Second), phone), tomb("", at), false, nil},
		{"sf wins: erp's update newer than a delete of unknown origin", sfWins, upd(erp, v(90*time.Second), phone), tomb("", at), true, nil},
		{"sf wins: salesforce's undelete older than its own delete", sfWins, op(sfsync.OpUndelete, sf, v(30*time.Second), nil), tomb(sf, at), false, nil},

		// External wins.
		{"ext wins: erp's update older than salesforce's delete", extWins, upd(erp, v(30*time.Second), phone), tomb(sf, at), true, nil},
		{"ext wins: erp's update older than its own delete", extWins, upd(erp, v(30*time.Second), phone), tomb(erp, at), false, nil},
		{"ext wins: salesforce's update newer than erp's delete", extWins, upd(sf, v(90*time.Second), phone), tomb(erp, at), false, nil},
	})
}

// A system's own later value is never overwritten by its own earlier
// change, whichever system a winner policy favours.
func TestWinnerKeepsOwnOrder(t *testing.T) {
	sf := sfsync.Salesforce
	runRules(t, []ruleCase{
		{"sf wins: salesforce's earlier change under its own later value", conflict.SalesforceWins(),
			upd(sf, v(0), map[string]any{"Phone": "1", "Title": "CEO"}),
			func() sfsync.Record {
				r := target(sf, v(time.Minute), map[string]any{"Phone": "2"})
				r.Fields["Title"], r.FieldVersions["Title"], r.LastWriter["Title"] = "CTO", v(time.Minute), erp
				return r
			}(), true, []string{"Title"}},
		{"sf wins: salesforce's delete before its own later change", conflict.SalesforceWins(),
			del(sf, v(0)), wrote(sf, v(time.Minute), map[string]any{"Phone": "2"}), false, nil},
		{"sf wins: salesforce's delete after erp's change", conflict.SalesforceWins(),
			del(sf, v(0)), wrote(erp, v(time.Minute), map[string]any{"Phone": "2"}), true, nil},
	})
}

// Field ownership and per-object policies keep the tombstone rules: an
// owner's field does not bring back a record deleted after the change.
func TestCompositionWithTombstones(t *testing.T) {
	sf := sfsync.Salesforce
	at := v(time.Minute)
	owners := conflict.Owners{"Email": sf}
	fields := map[string]any{"Email": "a@x", "Phone": "1"}
	perObject := conflict.PerObject(map[string]sfsync.ConflictPolicy{
		"Contact": conflict.FieldOwnership(owners, conflict.LastWriteWins()),
	}, conflict.SalesforceWins())
	account := func(c sfsync.Change) sfsync.Change { c.Object = "Account"; return c }
	runRules(t, []ruleCase{
		{"ownership+lww: owner's update older than erp's delete", conflict.FieldOwnership(owners, conflict.LastWriteWins()),
			upd(sf, v(30*time.Second), fields), tomb(erp, at), false, nil},
		{"ownership+lww: owner's update newer than erp's delete", conflict.FieldOwnership(owners, conflict.LastWriteWins()),
			upd(sf, v(90*time.Second), fields), tomb(erp, at), true, []string{"Email", "Phone"}},
		{"ownership+lww: non-owner's update newer than the delete keeps ownership", conflict.FieldOwnership(owners, conflict.LastWriteWins()),
			upd(erp, v(90*time.Second), fields), tomb(sf, at), true, []string{"Phone"}},
		{"ownership+sf wins: erp's update onto salesforce's delete", conflict.FieldOwnership(conflict.Owners{"Phone": erp}, conflict.SalesforceWins()),
			upd(erp, v(90*time.Second), fields), tomb(sf, at), false, nil},
		{"ownership+sf wins: owner's update older than its own delete", conflict.FieldOwnership(owners, conflict.SalesforceWins()),
			upd(sf, v(30*time.Second), fields), tomb(sf, at), false, nil},
		{"per object: Contact by ownership over lww", perObject, upd(sf, v(30*time.Second), fields), tomb(erp, at), false, nil},
		{"per object: Account by salesforce wins", perObject, account(upd(sf, v(30*time.Second), fields)), tomb(erp, at), true, nil},
		{"per object: Account, salesforce older than its own delete", perObject, account(upd(sf, v(30*time.Second), fields)), tomb(sf, at), false, nil},
	})
	// Deletes through ownership still go to the fallback, ties included.
	d := conflict.FieldOwnership(owners, conflict.LastWriteWins()).Decide(del(erp, at), sfsync.Record{Exists: true, Fields: map[string]any{"Phone": "1"}, Version: at})
	if !d.Apply {
		t.Errorf("delete tying the record through ownership: %+v", d)
	}
}

// An undelete goes to the fallback as deletes do (owning a field is not
// owning the record), but it carries the record's values, and a field
// another system owns takes no value of the undeleting system's: the
// owner's own value stands (seen in the simulator, seed 70451: Salesforce's
// undelete wrote its value of an ERP-owned field, never set by the ERP,
// into the ERP's record).
func TestUndeleteThroughOwnershipLeavesOwnedFields(t *testing.T) {
	sf := sfsync.Salesforce
	at := v(time.Minute)
	owners := conflict.Owners{"Phone": erp, "Email": sf}
	fields := map[string]any{"Email": "a@x", "Phone": "1", "Title": "t"}
	policy := conflict.FieldOwnership(owners, conflict.LastWriteWins())
	runRules(t, []ruleCase{
		{"salesforce's undelete newer than its delete: the ERP's field left out", policy,
			op(sfsync.OpUndelete, sf, v(90*time.Second), fields), tomb(sf, at), true, []string{"Email", "Title"}},
		{"salesforce's undelete older than the ERP's delete: not applied", policy,
			op(sfsync.OpUndelete, sf, v(30*time.Second), fields), tomb(erp, at), false, nil},
		{"the ERP's undelete of its own delete: its own field kept, Salesforce's left out", policy,
			op(sfsync.OpUndelete, erp, v(90*time.Second), fields), tomb(erp, at), true, []string{"Phone", "Title"}},
	})
	// An undelete carrying only fields another system owns still brings
	// the record back.
	d := policy.Decide(op(sfsync.OpUndelete, sf, v(90*time.Second), map[string]any{"Phone": "1"}), tomb(sf, at))
	if !d.Apply || len(d.Keep) != 0 || d.Dropped["Phone"] == "" {
		t.Errorf("undelete of owned fields only: %+v; want applied, Phone dropped", d)
	}
}
