package sync

import (
	"testing"

	"github.com/sfsync/sfsync"
)

// Last write wins, after an outage past retention: a backfill is owed, so
// Salesforce's changes the engine has not seen may be lost. An old ERP
// rename (c8) loses to Salesforce's name, which no change seen set: it is
// dated at Salesforce's record version (55 s, whole seconds), and the
// repair writes it to the ERP claimed at that version. Salesforce had
// also cleared the email at 55 s, in a change still on its way. The ERP's
// email edit of 45 s (c10) is decided next against that record. Before,
// the repair counted as Salesforce's own change of the record at 55 s: the
// record version looked explained, the cleared email was taken for the
// map's old data of the field (1 s), and the ERP's older email won and was
// written over Salesforce's newer null (the simulator's seed 100846).
func TestRepairDoesNotExplainTheWinnersRecordVersion(t *testing.T) {
	const record = "Contact/P-2"
	erp := sfsync.System("external:erp")
	vc := newVersionCache(16, nil, func(string) bool { return false })
	// Salesforce's create, synced at 1 s.
	vc.note(&sfsync.Change{Source: sfsync.Salesforce, Object: "Contact", RecordID: "P-2", Op: sfsync.OpCreate,
		Version: sfVersionAt(1, 303), Fields: map[string]any{"Email": "e10", "LastName": "n9"}}, record, []string{"Email", "LastName"})

	// The repair of the ERP's losing rename lands: Salesforce's name, at
	// the record version it was dated at.
	claim := sfsync.Version{Time: versionBase.Add(55e9)}
	r := sfsync.Change{Source: sfsync.Salesforce, Object: "Contact", RecordID: "P-2", Op: sfsync.OpUpdate,
		Key: "repair:external:erp:P-2:8", Origin: sfsync.Origin{Client: repairClient},
		Version: extVersionAt(38, 8), Fields: map[string]any{"LastName": "n53"}}
	w := &work{it: &item{c: r, repair: true, claim: &claim}, c: r, route: &Route{From: sfsync.Salesforce, To: erp}}
	w.rememberWritten(vc, &r, record, []string{"LastName"})

	// The ERP's email edit of 45 s against Salesforce's record of 55 s,
	// whose changes since the map's newest data may be lost (unseen).
	c := sfsync.Change{Source: erp, Object: "Contact", RecordID: "P-2", Op: sfsync.OpUpdate, Key: "external:erp:P-2:10",
		Version: extVersionAt(45, 10), Fields: map[string]any{"Email": "e37"}}
	cur := sfsync.Record{Object: "Contact", ID: "P-2", Exists: true, Version: claim,
		Fields: map[string]any{"Email": nil, "LastName": "n53"}}
	vc.describe(&c, record, []string{"Email"}, &cur, sfsync.Salesforce, true, false, true, true, sfsync.Version{}, sfsync.Version{}, nil)
	if at := cur.FieldVersions["Email"]; at.Compare(claim) != 0 || cur.LastWriter["Email"] != sfsync.Salesforce {
		t.Fatalf("Salesforce's cleared email dated at %v by %q; want at its record version %v by salesforce: no change seen set it, and the repair of another field does not explain the record", at, cur.LastWriter["Email"], claim)
	}
}
