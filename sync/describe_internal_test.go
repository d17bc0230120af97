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
			if ahead := vc.describe(&c, record, nil, &cur, sfsync.Salesforce, true, true, true, sfsync.Version{}, nil); !ahead {
				t.Fatalf("%s against a record changed at 15s by a change not seen yet: not ahead, want it to wait for that change", op)
			}
			// Once Salesforce's change is seen, the record is explained.
			vc.note(&sfsync.Change{Source: sfsync.Salesforce, RecordID: "003A", Op: sfsync.OpUpdate, Version: v(15), Fields: map[string]any{"LastName": "m"}}, record, []string{"LastName"})
			cur = sfsync.Record{Exists: true, Version: v(15), Fields: map[string]any{"LastName": "m"}}
			if ahead := vc.describe(&c, record, nil, &cur, sfsync.Salesforce, true, true, true, sfsync.Version{}, nil); ahead {
				t.Fatalf("%s still waits after Salesforce's change at 15s was seen", op)
			}
			if w := cur.LastWriter[fieldAny]; w != sfsync.Salesforce {
				t.Fatalf("record's last writer = %q, want salesforce", w)
			}
		})
	}
}
