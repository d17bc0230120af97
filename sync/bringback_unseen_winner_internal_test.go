package sync

import (
	"slices"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/conflict"
)

// The simulator's seed 102518, last write wins, the ERP's clock half a
// second ahead. The ERP creates a contact (1.5 s, counter 1: e2, n1), and
// it reaches Salesforce; a Salesforce user then clears the email and
// renames the contact (1 s on Salesforce's clock, commit 304: older than
// the ERP's create). The ERP deletes the contact (9.5 s, counter 5), and
// Salesforce changes the city (10 s, commit 307) and the phone (commit
// 308). The engine decided all of them, but a crash took the outcomes of
// Salesforce's 304 and 307 (held for their repairs) while that of 308 was
// committed: 304 and 307 come again, and the version map holds nothing of
// theirs.

// unseenWinnerEngine is an engine of the two routes, last write wins, whose
// version map holds what seed 102518's holds after the crash: the ERP's
// create, synced to Salesforce, our create's echo there, and Salesforce's
// phone of commit 308.
func unseenWinnerEngine(t *testing.T) (*Engine, string) {
	t.Helper()
	const record = "Contact/P-1"
	erp := sfsync.External("erp")
	e := twoWayEngine(t, conflict.LastWriteWins())
	vc := e.versions
	vc.note(&sfsync.Change{Source: erp, Object: "Contact", RecordID: "P-1", Op: sfsync.OpCreate, Version: erpCreateAt,
		Fields: map[string]any{"Email": "e2", "LastName": "n1", "MailingCity": "c4", "Phone": "p3"}},
		record, []string{"Email", "LastName", "MailingCity", "Phone"})
	vc.rememberEcho(&sfsync.Change{Source: sfsync.Salesforce, Object: "Contact", RecordID: "P-1", Op: sfsync.OpCreate,
		Version: sfVersionAt(1, 303), Fields: map[string]any{"Email": "e2", "LastName": "n1", "MailingCity": "c4", "Phone": "p3"}}, record)
	vc.note(&sfsync.Change{Source: sfsync.Salesforce, Object: "Contact", RecordID: "P-1", Op: sfsync.OpUpdate,
		Version: sfVersionAt(10, 308), Fields: map[string]any{"Phone": "p26"}}, record, []string{"Phone"})
	return e, record
}

// erpCreateAt is the version of the ERP's create: 1.5 s on its clock.
var erpCreateAt = sfsync.Version{Time: versionBase.Add(1500 * time.Millisecond), Counter: 1}

// The ERP's delete is decided again first: it loses to Salesforce's record
// (10 s, commit 308), and the repair brings the record back in the ERP.
// Salesforce's email and last name there are the data of its edit 304,
// which the map does not know: taken along, they were claimed at the
// record's version (308), over the ERP's own newer values, and the edit's
// own event, when it came, was dropped as stale against them. Both
// systems kept Salesforce's older values. They are left to that event.
func TestRecordBroughtBackLeavesTheWinnersUnseenValuesToTheirEvent(t *testing.T) {
	e, _ := unseenWinnerEngine(t)
	erp := sfsync.External("erp")
	del := sfsync.Change{Source: erp, Object: "Contact", RecordID: "P-1", Op: sfsync.OpDelete, Key: "external:erp:P-1:5",
		Version: sfsync.Version{Time: versionBase.Add(9500 * time.Millisecond), Counter: 5}}
	w := &work{it: &item{c: del}, c: del, route: e.route(&del), lost: []string{fieldDeleted}}
	if w.route == nil || w.route.To != sfsync.Salesforce {
		t.Fatal("no route from the ERP to Salesforce")
	}
	cur := sfsync.Record{Object: "Contact", ID: "P-1", Exists: true, Version: sfVersionAt(10, 308),
		Fields:     map[string]any{"Email": nil, "LastName": "n6", "MailingCity": "c25", "Phone": "p26"},
		LastWriter: map[string]sfsync.System{fieldAny: sfsync.Salesforce}}
	e.planRepair(w, del, cur, false)
	if w.repair == nil || w.repair.Op != sfsync.OpCreate {
		t.Fatalf("repair %+v; want a create that brings the record back in the ERP", w.repair)
	}
	for _, f := range []string{"Email", "LastName"} {
		if v, set := w.repair.Value(f); set {
			t.Errorf("the record brought back carries Salesforce's %s=%v, set by an edit the engine has not decided, claimed at the record's version %v", f, v, w.repair.Version)
		}
	}
	if v, _ := w.repair.Value("Phone"); v != "p26" {
		t.Errorf("the record brought back carries Phone=%v; want Salesforce's p26 (commit 308)", v)
	}
}

// Salesforce's edit 304 comes again after the crash. The ERP holds the
// record that Salesforce's 307 brought back before the crash, with the
// ERP's own email and last name from its tombstone, which that write
// carried: the ERP stamps them as Salesforce's, at 307. They are the
// ERP's data of 1.5 s, and the map says so; nothing of Salesforce's data
// of them is there. The edit was dropped as stale against them, and the
// repair that would have taken them to Salesforce went with 307's outcome:
// each system kept its own. It loses to the ERP's values, and its repair
// takes them to Salesforce.
func TestOlderEditIsNotStaleAgainstValuesOurWriteCarriedAlong(t *testing.T) {
	e, record := unseenWinnerEngine(t)
	erp := sfsync.External("erp")
	vc := e.versions
	// The ERP's echo of our write that brought the record back (its
	// values, kept in memory only, are gone with the crash).
	vc.rememberEcho(&sfsync.Change{Source: erp, Object: "Contact", RecordID: "P-1", Op: sfsync.OpCreate,
		Version: sfVersionAt(10, 307), Fields: map[string]any{"Email": "e2", "LastName": "n1", "MailingCity": "c25", "Phone": "p26"}}, record)
	vc.mu.Lock()
	vc.get(record).echoed = nil
	vc.mu.Unlock()

	edit := sfsync.Change{Source: sfsync.Salesforce, Object: "Contact", RecordID: "P-1", Op: sfsync.OpUpdate,
		Key: "003A:304", Version: sfVersionAt(1, 304), Fields: map[string]any{"LastName": "n6"}, Nulled: []string{"Email"}}
	w := &work{it: &item{c: edit}, c: edit, route: e.route(&edit)}
	if w.route == nil || w.route.To != erp {
		t.Fatal("no route from Salesforce to the ERP")
	}
	stamped := map[string]sfsync.Version{}
	writers := map[string]sfsync.System{}
	for _, f := range []string{"Email", "LastName", "MailingCity", "Phone"} {
		stamped[f], writers[f] = sfVersionAt(10, 307), sfsync.Salesforce
	}
	cur := sfsync.Record{Object: "Contact", ID: "P-1", Exists: true, Version: sfVersionAt(10, 307),
		Fields:        map[string]any{"Email": "e2", "LastName": "n1", "MailingCity": "c25", "Phone": "p26"},
		FieldVersions: stamped, LastWriter: writers}
	c, res, wait := e.decide(vc, w, &cur, true)
	if wait {
		t.Fatal("the edit waits; want it decided")
	}
	if res == nil || res.outcome.Status != sfsync.StatusConflictLost {
		if res != nil {
			t.Fatalf("the edit is decided %s (%s); want it lost to the ERP's values", res.outcome.Status, res.outcome.Reason)
		}
		t.Fatalf("the edit is written (%v); want it lost to the ERP's values", c.Touched())
	}
	e.planRepair(w, c, cur, false)
	if w.repair == nil {
		t.Fatal("no repair: Salesforce keeps its older email and last name, the ERP its own")
	}
	// The repair, in parts where its fields' versions differ: each field's
	// value in the last part that carries it.
	parts := append(slices.Clone(w.repairParts), repairPart{c: *w.repair})
	for f, want := range map[string]any{"Email": "e2", "LastName": "n1"} {
		var v any
		set := false
		for _, p := range parts {
			if pv, ok := p.c.Value(f); ok {
				v, set = pv, true
			}
		}
		if !set || v != want {
			t.Errorf("the repair writes %s=%v (set %v); want the ERP's %v", f, v, set, want)
		}
	}
}
