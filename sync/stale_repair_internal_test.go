package sync

import (
	"testing"
	"time"

	"github.com/sfsync/sfsync"
)

// A repair writes the winner's value to the system that lost to it. The
// winner's own change that lost in its turn (a Salesforce undelete that
// last write wins found older than the ERP's record) never reached the
// ERP: it makes a change of Salesforce's older than it stale, but not a
// repair, which is what brings Salesforce's value of a field it owns to
// the ERP (seen in the simulator: the ERP kept its own phone, which lost
// to the owner, for good).
func TestRepairIsStaleOnlyAgainstDataAppliedThere(t *testing.T) {
	base := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	v := func(sec int) sfsync.Version { return sfsync.Version{Time: base.Add(time.Duration(sec) * time.Second)} }
	const record = "Contact/003A"
	vc := newVersionCache(16, nil, func(string) bool { return false })
	// Salesforce's phone reached the ERP at 4s; its undelete at 17s lost
	// there, phone and all.
	vc.note(&sfsync.Change{Source: sfsync.Salesforce, RecordID: "003A", Op: sfsync.OpCreate, Version: v(4), Fields: map[string]any{"Phone": "p7"}}, record, []string{"Phone"})
	undelete := sfsync.Change{Source: sfsync.Salesforce, RecordID: "003A", Op: sfsync.OpUndelete, Version: v(17), Fields: map[string]any{"Phone": "p7"}}
	vc.rememberPartly(&undelete, record, nil, []string{"Phone"})

	cur := sfsync.Record{Exists: true, Version: v(20), Fields: map[string]any{"Phone": "p28"}}
	repair := sfsync.Change{Source: sfsync.Salesforce, RecordID: "003A", Op: sfsync.OpUpdate, Version: v(10),
		Fields: map[string]any{"Phone": "p7"}, Origin: sfsync.Origin{Client: repairClient}}
	if stale, whole := vc.staleFields(&repair, record, []string{"Phone"}, cur); len(stale) > 0 || whole {
		t.Errorf("repair at 10s: stale %v (whole %v), want none: the undelete that lost never reached the ERP", stale, whole)
	}
	edit := repair
	edit.Origin = sfsync.Origin{}
	if stale, _ := vc.staleFields(&edit, record, []string{"Phone"}, cur); len(stale) != 1 {
		t.Errorf("Salesforce's own change at 10s: stale %v, want [Phone]: its undelete at 17s carried newer data of its own", stale)
	}
}
