package sync

import (
	"testing"
	"time"

	"github.com/sfsync/sfsync"
)

// A delete (or undelete) is decided against the record as a whole, so
// against who changed it last. Salesforce versions only whole records:
// when its record is newer than any change of it the engine has seen, the
// change that made it is on its way, and without it the writer is unknown,
// which decides a tie one way here and the other way when that change
// meets the delete on the other side (seen in the simulator: an ERP delete
// and a Salesforce undelete a second apart under last write wins with
// skew, each winning in its own direction, left the record deleted in
// Salesforce and live in the ERP). The delete waits for that change, as an
// update of unversioned fields does.
func TestRecordLevelChangeWaitsForTheTargetsUnseenChange(t *testing.T) {
	base := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	v := func(sec int) sfsync.Version { return sfsync.Version{Time: base.Add(time.Duration(sec) * time.Second)} }
	const record = "Contact/003A"
	for _, op := range []sfsync.Op{sfsync.OpDelete, sfsync.OpUndelete} {
		t.Run(string(op), func(t *testing.T) {
			vc := newVersionCache(16, nil, func(string) bool { return false })
			// Salesforce's create was seen and synced at 9s.
			vc.note(&sfsync.Change{Source: sfsync.Salesforce, RecordID: "003A", Op: sfsync.OpCreate, Version: v(9), Fields: map[string]any{"LastName": "n"}}, record, []string{"LastName"})
			cur := sfsync.Record{Exists: true, Version: v(15), Fields: map[string]any{"LastName": "n"}}
			c := sfsync.Change{Source: "external:erp", RecordID: "E1", Op: op, Version: v(16)}
			if ahead := vc.describe(&c, record, nil, &cur, sfsync.Salesforce, true, true, true, false, sfsync.Version{}, sfsync.Version{}, nil); !ahead {
				t.Fatalf("%s against a record changed at 15s by a change not seen yet: not ahead, want it to wait for that change", op)
			}
			// Once Salesforce's change is seen, the record is explained.
			vc.note(&sfsync.Change{Source: sfsync.Salesforce, RecordID: "003A", Op: sfsync.OpUpdate, Version: v(15), Fields: map[string]any{"LastName": "m"}}, record, []string{"LastName"})
			cur = sfsync.Record{Exists: true, Version: v(15), Fields: map[string]any{"LastName": "m"}}
			if ahead := vc.describe(&c, record, nil, &cur, sfsync.Salesforce, true, true, true, false, sfsync.Version{}, sfsync.Version{}, nil); ahead {
				t.Fatalf("%s still waits after Salesforce's change at 15s was seen", op)
			}
			if w := cur.LastWriter[fieldAny]; w != sfsync.Salesforce {
				t.Fatalf("record's last writer = %q, want salesforce", w)
			}
		})
	}
}

// When the target's changes since the map's newest data will never reach
// the engine (their events expired: a backfill covers them), a decision
// does not wait for them, and tells each field by its value: one the map
// has versioned is no news, another was set by one of those changes, at
// the record's version at the latest.
func TestUnseenChangesAreToldByTheValues(t *testing.T) {
	base := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	v := func(sec int) sfsync.Version { return sfsync.Version{Time: base.Add(time.Duration(sec) * time.Second)} }
	const record = "Account/001A"
	vc := newVersionCache(16, nil, func(string) bool { return false })
	// Salesforce's create was seen and synced at 4s; then Salesforce
	// changed Industry at 8s, an event the engine never got.
	vc.note(&sfsync.Change{Source: sfsync.Salesforce, RecordID: "001A", Op: sfsync.OpCreate, Version: v(4),
		Fields: map[string]any{"Industry": "i19", "Phone": "p20", "Name": "n18"}}, record, []string{"Industry", "Name", "Phone"})
	cur := func() *sfsync.Record {
		return &sfsync.Record{Exists: true, Version: v(8), Fields: map[string]any{"Industry": "i35", "Phone": "p20", "Name": "n18", "Website": "w"}}
	}
	c := sfsync.Change{Source: "external:erp", RecordID: "E1", Op: sfsync.OpUpdate, Version: v(6), Fields: map[string]any{"Industry": "i34", "Phone": "p36", "Website": "x"}}
	touched := []string{"Industry", "Phone", "Website"}

	seen := cur()
	if ahead := vc.describe(&c, record, touched, seen, sfsync.Salesforce, true, false, true, false, sfsync.Version{}, sfsync.Version{}, nil); !ahead {
		t.Fatal("with Salesforce's change still to come: not ahead, want the decision to wait for it")
	}

	lost := cur()
	if ahead := vc.describe(&c, record, touched, lost, sfsync.Salesforce, true, false, true, true, sfsync.Version{}, sfsync.Version{}, nil); ahead {
		t.Fatal("with Salesforce's change lost: ahead, want no wait for an event that never comes")
	}
	for _, tc := range []struct {
		field  string
		at     sfsync.Version
		writer sfsync.System
		dated  bool
	}{
		{"Industry", v(8), sfsync.Salesforce, true}, // a value the map never versioned: set by the lost change
		{"Phone", v(4), sfsync.Salesforce, true},    // the synced value: the map's version stands
		{"Website", sfsync.Version{}, "", false},    // the map knows no value of it: left as it was
	} {
		at, dated := lost.FieldVersions[tc.field]
		if dated != tc.dated || at.Compare(tc.at) != 0 || lost.LastWriter[tc.field] != tc.writer && tc.dated {
			t.Errorf("%s: dated %v at %v by %q; want dated %v at %v by %q", tc.field, dated, at, lost.LastWriter[tc.field], tc.dated, tc.at, tc.writer)
		}
	}
}
