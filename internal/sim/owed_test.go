package sim

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
)

// TestOwed: a write repeated over the target's edits counts once only when
// the policy makes each of those edits lose the written fields to it.
func TestOwed(t *testing.T) {
	at := func(s int) time.Time { return epoch.Add(time.Duration(s) * time.Second) }
	written := edit{N: 1, Side: Ext, Op: "update", Rec: 0, Fields: map[string]any{"Email": "e1", "Phone": "p1"}, T: at(10), Seq: 1}
	sfEdit := func(t0 int, fields map[string]any) edit {
		return edit{N: 2, Side: SF, Op: "update", Rec: 0, Fields: fields, T: at(t0), Seq: 1}
	}
	newer := sfEdit(20, map[string]any{"Email": "e2"})
	older := sfEdit(5, map[string]any{"Email": "e2"})
	for _, tc := range []struct {
		name    string
		ru      rule
		between []edit
		want    bool
	}{
		{"no edit between: a replay", winsRule{w: Ext}, nil, false},
		{"an edit of another field only", winsRule{w: Ext}, []edit{sfEdit(20, map[string]any{"LastName": "n"})}, false},
		{"the written side wins", winsRule{w: Ext}, []edit{newer}, true},
		{"the target wins", winsRule{w: SF}, []edit{newer}, false},
		{"last write wins, the target's edit newer", lwwRule{skew: time.Second}, []edit{newer}, false},
		{"last write wins, the target's edit older (a clock behind)", lwwRule{skew: time.Second}, []edit{older}, true},
		{"last write wins, a tie the engine broke for the written change", lwwRule{skew: time.Second}, []edit{sfEdit(10, map[string]any{"Email": "e2"})}, true},
		{"the writer owns the field", ownRule{owners: map[string]Side{"Email": Ext}, fallback: lwwRule{}}, []edit{newer}, true},
		{"the target owns the field", ownRule{owners: map[string]Side{"Email": SF}, fallback: winsRule{w: Ext}}, []edit{newer}, false},
		{"one losing edit and one winning", ownRule{owners: map[string]Side{"Email": Ext, "Phone": SF}, fallback: lwwRule{}},
			[]edit{newer, sfEdit(21, map[string]any{"Phone": "p2"})}, false},
		{"a delete between", winsRule{w: Ext}, []edit{newer, {N: 3, Side: SF, Op: "delete", Rec: 0, T: at(22), Seq: 2}}, false},
		{"a delete the written create wins over", winsRule{w: Ext}, []edit{{N: 3, Side: SF, Op: "delete", Rec: 0, T: at(22), Seq: 2}}, true},
		{"a delete newer than the written create", lwwRule{skew: time.Second}, []edit{{N: 3, Side: SF, Op: "delete", Rec: 0, T: at(22), Seq: 2}}, false},
		{"a field the written change did not set", winsRule{w: Ext}, []edit{sfEdit(20, map[string]any{"MailingCity": "c"})}, false},
		{"a delete the written create wins over, brought back with the target's own field",
			ownRule{owners: map[string]Side{"Email": SF}, fallback: winsRule{w: Ext}},
			[]edit{newer, {N: 3, Side: SF, Op: "delete", Rec: 0, T: at(22), Seq: 2}}, true},
		{"a delete the written create wins over, brought back with the written change's losing value",
			ownRule{owners: map[string]Side{"Email": SF}, fallback: winsRule{w: Ext}},
			[]edit{newer, {N: 3, Side: SF, Op: "delete", Rec: 0, T: at(22), Seq: 2}}, false},
		{"a delete the written create wins over, the record brought back with a field the change did not set",
			winsRule{w: Ext}, []edit{sfEdit(20, map[string]any{"MailingCity": "c"}), {N: 3, Side: SF, Op: "delete", Rec: 0, T: at(22), Seq: 2}}, true},
		{"an edit of a field the target owns, no delete between",
			ownRule{owners: map[string]Side{"Email": SF}, fallback: winsRule{w: Ext}}, []edit{newer}, false},
	} {
		wrote := map[string]any{"Email": "e1", "Phone": "p1"}
		switch {
		case tc.name == "a field the written change did not set", strings.HasSuffix(tc.name, "a field the change did not set"):
			wrote["MailingCity"] = "c"
		case strings.HasSuffix(tc.name, "the target's own field"), strings.HasPrefix(tc.name, "an edit of a field the target owns"):
			wrote["Email"] = "e2"
		}
		w := written
		if strings.HasPrefix(tc.name, "a delete newer") || strings.HasPrefix(tc.name, "a delete the written") {
			w.Op = "create"
		}
		if got := owed(tc.ru, w, tc.between, nil, wrote); got != tc.want {
			t.Errorf("%s: owed = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestOwedRepair: a repair writes the winner's value at the version of the
// change it corrects; repeated over a target edit that loses to the winner
// whatever its time, it is owed to that edit.
func TestOwedRepair(t *testing.T) {
	at := func(s int) time.Time { return epoch.Add(time.Duration(s) * time.Second) }
	repair := edit{Side: Ext, Op: "update", Rec: 0, Fields: map[string]any{"Phone": nil}}
	between := []edit{{N: 2, Side: SF, Op: "update", Rec: 0, Fields: map[string]any{"Phone": "p2"}, T: at(10), Seq: 1}}
	wrote := map[string]any{"Phone": nil}
	if !owed(ownRule{owners: map[string]Side{"Phone": Ext}, fallback: lwwRule{skew: time.Second}}, repair, between, nil, wrote) {
		t.Error("a repair of a field the winner owns, repeated over the target's later edit of it: not owed, want owed")
	}
	if owed(lwwRule{skew: time.Second}, repair, between, nil, wrote) {
		t.Error("a repair repeated over a newer target edit under last write wins: owed, want a double effect")
	}
	if owed(ownRule{owners: map[string]Side{"Phone": Ext}, fallback: lwwRule{}}, repair, nil, nil, wrote) {
		t.Error("a repair repeated with no edit between: owed, want a double effect")
	}
}

// TestMarkOfNamesNulledFields: a write that sets a field to null through
// Change.Nulled alone writes that field.
func TestMarkOfNamesNulledFields(t *testing.T) {
	m := markOf(sfsync.Change{Key: "repair:k", Fields: map[string]any{"Email": "e"}, Nulled: []string{"Phone"}}, 0, 0)
	if !slices.Equal(m.fields, []string{"Email", "Phone"}) || m.values[1] != nil || !m.repair {
		t.Errorf("mark = %+v, want Email and Phone (null), a repair", m)
	}
}

// TestOwedUpdateOverADelete: an update repeated as the record brought back
// over the target's delete, which the record outlives by the record's own
// history (a create before them), is owed to that delete.
func TestOwedUpdateOverADelete(t *testing.T) {
	at := func(s int) time.Time { return epoch.Add(time.Duration(s) * time.Second) }
	create := edit{N: 1, Side: Ext, Op: "create", Rec: 0, Fields: map[string]any{"LastName": "n1", "Email": "e1"}, T: at(1), Seq: 1}
	written := edit{N: 2, Side: SF, Op: "update", Rec: 0, Fields: map[string]any{"LastName": "n2"}, T: at(10), Seq: 1}
	del := edit{N: 3, Side: Ext, Op: "delete", Rec: 0, T: at(20), Seq: 2}
	wrote := map[string]any{"LastName": "n2", "Email": "e1"}
	ru := winsRule{w: SF}
	if !owed(ru, written, []edit{del}, []edit{create, written, del}, wrote) {
		t.Error("an update the record outlives the delete by, brought back whole: not owed, want owed")
	}
	if owed(winsRule{w: Ext}, written, []edit{del}, []edit{create, written, del}, wrote) {
		t.Error("an update brought back over a delete that wins: owed, want a double effect")
	}
}

// TestEditOfTiedEdits: the ERP's clock stamps a create and the update right
// after it with one time; a write of the create is the create's, by the
// values it carries (seen in seed 81363, where a repeat of the create owed
// to Salesforce's losing delete was counted as a double effect).
func TestEditOfTiedEdits(t *testing.T) {
	at := epoch.Add(-2 * time.Second)
	r := &run{sc: &Scenario{Objects: []objectSpec{contactSpec}, Records: []recordSpec{{Object: 0, ExtID: "P-1"}}}}
	create := edit{N: 1, Side: Ext, Op: "create", Rec: 0, T: at, Seq: 1,
		Fields: map[string]any{"LastName": "n1", "Email": "e2", "Phone": "p3", "MailingCity": "c4"}}
	update := edit{N: 2, Side: Ext, Op: "update", Rec: 0, T: at, Seq: 2, Fields: map[string]any{"Email": "e5"}}
	history := []edit{create, update}
	for _, tc := range []struct {
		name  string
		wrote map[string]any // written to Salesforce, by its names
		want  int            // the edit's N; 0 for none
	}{
		{"the create", map[string]any{"LastName": "n1", "Email": "e2", "Phone": "p3", "MailingCity": "c4"}, 1},
		{"the create without a field that lost", map[string]any{"LastName": "n1", "Phone": "p3"}, 1},
		{"the update", map[string]any{"Email": "e5"}, 2},
		{"the update brought back whole", map[string]any{"LastName": "n1", "Email": "e5", "Phone": "p3", "MailingCity": "c4"}, 2},
		{"neither: the values of no edit", map[string]any{"Email": "e9"}, 0},
	} {
		c := sfsync.Change{Source: erpSystem, RecordID: "P-1", Op: sfsync.OpUpdate, Version: sfsync.Version{Time: at}, Fields: tc.wrote}
		got, ok := r.editOf(history, nil, markOf(c, 0, 2))
		if n := map[bool]int{true: got.N}[ok]; n != tc.want {
			t.Errorf("%s: edit #%d (found %v), want #%d", tc.name, got.N, ok, tc.want)
		}
	}
}
