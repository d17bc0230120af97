package sync

import (
	"testing"
	"time"

	"github.com/sfsync/sfsync"
)

// A Salesforce user's edit of a field arrives while a write of ours to the
// same field of the record (the ERP's edit, decided and parked to wait for
// that very event) has no echo: it counts as crossing that write, wins in
// the ERP, and its resync writes it back to Salesforce, as a change of the
// ERP's with the user's version, on Salesforce's clock. Our write was never
// made, so Salesforce holds the value already and the resync is a no-op.
// The version map took that outcome as the ERP's own data of the field, at
// the user's version: the ERP's next edit of the field, a second later on
// the ERP's clock (three seconds behind), looked older than it and was
// dropped as stale ("newer data from external:erp already applied"), while
// the ERP kept its value: the systems parted for good (seed 96237). The
// resync's data is Salesforce's, and only Salesforce's entry may hold it.
func TestResyncIsNotClaimedAsTheWinnersOwnData(t *testing.T) {
	base := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	at := func(sec int) time.Time { return base.Add(time.Duration(sec) * time.Second) }
	const record, erp = "Account/C-2", sfsync.System("external:erp")
	vc := newVersionCache(16, nil, func(string) bool { return false })
	// The ERP made the record, Industry and all, at 1s on its clock.
	create := sfsync.Change{Source: erp, RecordID: "C-2", Op: sfsync.OpCreate, Version: sfsync.Version{Time: at(1), Counter: 3},
		Fields: map[string]any{"Industry": "i18"}}
	vc.note(&create, record, []string{"Industry"})
	// The Salesforce user's edit at 9s won, and was written to the ERP.
	user := sfsync.Change{Source: sfsync.Salesforce, RecordID: "C-2", Op: sfsync.OpUpdate, Version: sfsync.Version{Time: at(9), Commit: 319, Seq: 1},
		Fields: map[string]any{"Industry": "i30"}}
	vc.note(&user, record, []string{"Industry"})
	// Its resync found Salesforce holding it already (see decide's no-op).
	resync := sfsync.Change{Source: erp, RecordID: "C-2", Op: sfsync.OpUpdate, Version: user.Version,
		Key: "repair:" + user.Key, Origin: sfsync.Origin{Client: repairClient}, Fields: map[string]any{"Industry": "i30"}}
	it := &item{c: resync, repair: true, resync: true, resyncFrom: map[string]sfsync.Version{"Industry": create.Version}}
	w := newWork(it, resync, &Route{From: erp, To: sfsync.Salesforce})
	w.rememberWritten(vc, &resync, record, []string{"Industry"})

	if v, ok := vc.appliedOf(record, erp, "Industry"); ok && v.Compare(create.Version) != 0 {
		t.Errorf("the ERP's own data of Industry is at %s after the resync, want %s: the resync's data is Salesforce's, on its clock", v, create.Version)
	}
	// The ERP's own edit at 8s on its clock, made after all of that.
	edit := sfsync.Change{Source: erp, RecordID: "C-2", Op: sfsync.OpUpdate, Version: sfsync.Version{Time: at(8), Counter: 7},
		Fields: map[string]any{"Industry": "i32", "Name": "n33"}}
	cur := sfsync.Record{Exists: true, Version: sfsync.Version{Time: at(9)}, Fields: map[string]any{"Industry": "i30", "Name": "n17"}}
	if stale, whole := vc.staleFields(&edit, record, []string{"Industry", "Name"}, cur); len(stale) > 0 || whole {
		t.Errorf("the ERP's edit at 8s: stale %v (whole %v), want none: the policy decides it against the user's edit", stale, whole)
	}
}
