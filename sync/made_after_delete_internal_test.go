package sync

import (
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/conflict"
)

// Salesforce wins. The contact is created on both sides; the ERP deletes
// it (4 s, row counter 2), and our write of Salesforce's create (commit
// 302), which wins over that delete, brings it back there: its echo comes.
// Salesforce then deletes the contact itself (9 s); before its delete's
// event is decided, an ERP user renames the contact (9 s on the ERP's
// clock, counter 4). The ERP's delete, decided against the Salesforce
// record already gone, is a no-op, and the version map keeps it.
//
// Salesforce's tombstone is its own delete, which stands against the ERP's
// rename. But the map took it for the ERP's delete at counter 2 (our write
// that brought the record back in the ERP seemed no later than it), older
// than the rename on the ERP's own clock: the rename brought the record
// back in Salesforce, while Salesforce's delete went on to the ERP (seen in
// the simulator, seed 90410). Either order does it: the ERP's delete
// decided before the echo (the record made just after it must be after it
// by the row counter too, which alone orders two ERP versions), or waiting
// in the park, undecided, when the echo came (it came before the echo in
// the ERP's stream all the same).
func TestRecordMadeAgainAfterItsDeleteLeavesTheTombstoneElsewhereToItsOwner(t *testing.T) {
	const record = "Contact/P-1"
	erp := sfsync.System("external:erp")
	del := &sfsync.Change{Source: erp, Object: "Contact", RecordID: "P-1", Op: sfsync.OpDelete, Version: extVersionAt(4, 2)}
	echo := &sfsync.Change{Source: erp, Object: "Contact", RecordID: "P-1", Op: sfsync.OpCreate, Version: sfVersionAt(0, 302),
		Fields: map[string]any{"LastName": "n1"}}
	for _, tc := range []struct {
		name string
		map_ func(vc *versionCache)
	}{
		{"delete decided before the echo", func(vc *versionCache) {
			vc.remember(del, record, nil)
			vc.rememberEcho(echo, record)
		}},
		{"delete parked when the echo came", func(vc *versionCache) {
			var e Engine
			e.parked = map[parkID][]*work{{erp, record}: {{c: *del, parkedEnds: true, parkedDeletes: true, parkedVersion: del.Version}}}
			e.parkedN.Store(1)
			vc.rememberEchoAfter(echo, record, e.parkedDelete(erp, record))
			vc.remember(del, record, nil)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vc := newVersionCache(16, nil, func(string) bool { return false })
			tc.map_(vc)
			if !vc.madeByUs(record, erp) {
				t.Fatal("the ERP's record, brought back by our write after its delete, is not taken as made by us")
			}
			// Salesforce's own tombstone, its delete's event not decided.
			cur := sfsync.Record{Object: "Contact", ID: "P-1", Exists: true, Deleted: true,
				Version: sfsync.Version{Time: versionBase.Add(9 * time.Second)}, Fields: map[string]any{"LastName": "n14"}}
			c := sfsync.Change{Source: erp, Object: "Contact", RecordID: "P-1", Op: sfsync.OpUpdate, Key: "external:erp:P-1:4",
				Version: extVersionAt(9, 4), Fields: map[string]any{"LastName": "n16"}}
			vc.describe(&c, record, []string{"LastName"}, &cur, sfsync.Salesforce, true, true, true, false, sfsync.Version{}, sfsync.Version{}, nil)
			if w := cur.LastWriter[""]; w != sfsync.Salesforce {
				t.Errorf("Salesforce's tombstone is described as deleted by %q at %s; want salesforce's own", w, cur.Version)
			}
			if d := conflict.SalesforceWins().Decide(c, cur); d.Apply {
				t.Errorf("the ERP's rename brings the contact back in Salesforce (%s); Salesforce's delete must stand", d.Reason)
			}
		})
	}
}
