package sync

import (
	"testing"

	"github.com/sfsync/sfsync"
)

// Last write wins. Our write of Salesforce's rename (4 s, commit 307) to
// the ERP took effect, but its acknowledgement was lost: the write waits
// for its retry, without an outcome, while its echo has come. An ERP user
// then renames the contact, at 4 s on the ERP's clock: the tie goes to
// Salesforce, and the ERP's rename loses. Salesforce's rename will not
// come to the ERP again (its retry finds it applied): the losing side needs
// the repair. Taken for a newer value still on its way, it got none, and
// each system kept its own rename (seen in the simulator, seed 84776).
func TestLosingFieldIsRepairedWhereTheLoserEchoedTheWinnersValue(t *testing.T) {
	const record = "Contact/P-1"
	erp := sfsync.System("external:erp")
	vc := newVersionCache(16, nil, func(string) bool { return false })
	vc.rememberEcho(&sfsync.Change{Source: erp, Object: "Contact", RecordID: "P-1", Op: sfsync.OpUpdate,
		Version: sfVersionAt(4, 307), Fields: map[string]any{"LastName": "n15"}}, record)
	e := &Engine{versions: vc}

	c := sfsync.Change{Source: erp, Object: "Contact", RecordID: "P-1", Op: sfsync.OpUpdate, Key: "external:erp:P-1:4",
		Version: extVersionAt(4, 4), Fields: map[string]any{"LastName": "n23"}}
	cur := sfsync.Record{Object: "Contact", ID: "P-1", Exists: true, Version: sfVersionAt(4, 0),
		Fields:        map[string]any{"LastName": "n15"},
		FieldVersions: map[string]sfsync.Version{"LastName": sfVersionAt(4, 307)},
		LastWriter:    map[string]sfsync.System{"LastName": sfsync.Salesforce}}
	w := &work{it: &item{c: c}, c: c}
	r := sfsync.Change{Source: sfsync.Salesforce, Object: "Contact", RecordID: "P-1", Key: "repair:" + c.Key}
	whole, _ := e.lostFieldsRepair(w, c, cur, r, []string{"LastName"})
	if whole == nil {
		t.Fatal("no repair of the ERP's losing rename: Salesforce's rename, which the ERP echoed already, was taken for one still on its way")
	}
	if v, _ := whole.c.Value("LastName"); v != "n15" {
		t.Errorf("the repair writes LastName=%v, want Salesforce's n15", v)
	}
	// Where the ERP's echo carried another value, Salesforce's rename is
	// still on its way there as its own event.
	vc2 := newVersionCache(16, nil, func(string) bool { return false })
	vc2.rememberEcho(&sfsync.Change{Source: erp, Object: "Contact", RecordID: "P-1", Op: sfsync.OpUpdate,
		Version: sfVersionAt(3, 306), Fields: map[string]any{"LastName": "n9"}}, record)
	e2 := &Engine{versions: vc2}
	if whole, _ := e2.lostFieldsRepair(w, c, cur, r, []string{"LastName"}); whole != nil {
		t.Errorf("a repair of LastName=%v while Salesforce's newer rename is still on its way to the ERP", whole.c.Fields["LastName"])
	}
}
