package sync

import (
	"slices"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/conflict"
)

// The simulator's seed 3521, last write wins with a skew tolerance of 3 s,
// the ERP's clock 2.5 s ahead. A contact is created on both sides at once:
// in Salesforce (2 s, commit 302, phone p7) and in the ERP (4.5 s, counter
// 2, phone p11). The ERP deletes it (11.5 s, counter 7) while a Salesforce
// user clears its phone (9 s, commit 304). No phone was ever synced: each
// side's change of it lost, or never reached the other side. Salesforce's
// create lost to the ERP's delete; its cleared phone, a tie with the
// delete within the tolerance, won and would bring the record back, but
// the ERP rejects that write for now (a dead letter). The ERP's create
// then lost to Salesforce's record (its phone of 9 s is newer than the
// ERP's of 4.5 s), and so did the ERP's delete: the repair brings the
// record back in the ERP.
//
// Salesforce shows the phone empty, with no version of its own (a record
// version only), and the version map holds no phone both systems hold.
// The repair took that for a field Salesforce never set and left it to
// the ERP's own value, p11 from the tombstone; the ERP stamped it as
// Salesforce's, at the repair's 304. The requeued dead letter (the
// cleared phone, 304) then tied with that stamp and lost: Salesforce kept
// its null, the ERP p11, though Salesforce's clearing is the newer edit.
// The version map knows that Salesforce set the phone: its cleared phone
// is Salesforce's own change there, dead-lettered. The record brought
// back carries it.
func TestRecordBroughtBackCarriesTheWinnersDeadLetteredEmptiness(t *testing.T) {
	const record = "Contact/P-2"
	erp := sfsync.External("erp")
	e := twoWayEngine(t, conflict.LastWriteWins(conflict.WithSkewTolerance(3*time.Second)))
	vc := e.versions
	all := []string{"Email", "LastName", "MailingCity", "Phone"}
	erpAt := func(ms int, counter int64) sfsync.Version {
		return sfsync.Version{Time: versionBase.Add(time.Duration(ms) * time.Millisecond), Counter: counter}
	}
	// Salesforce's create lost to the ERP's delete.
	vc.rememberLost(&sfsync.Change{Source: sfsync.Salesforce, Object: "Contact", RecordID: "P-2", Op: sfsync.OpCreate,
		Version: sfVersionAt(2, 302), Fields: map[string]any{"Email": "e6", "LastName": "n5", "MailingCity": "c8", "Phone": "p7"}},
		record, all)
	// Salesforce's cleared phone was dead-lettered.
	vc.rememberDead(&sfsync.Change{Source: sfsync.Salesforce, Object: "Contact", RecordID: "P-2", Op: sfsync.OpUpdate,
		Version: sfVersionAt(9, 304), Nulled: []string{"Phone"}}, record, []string{"Phone"})
	// The ERP's create lost to Salesforce's record.
	vc.rememberLost(&sfsync.Change{Source: erp, Object: "Contact", RecordID: "P-2", Op: sfsync.OpCreate,
		Version: erpAt(4500, 2), Fields: map[string]any{"Email": "e10", "LastName": "n9", "MailingCity": "c12", "Phone": "p11"}},
		record, all)
	// The ERP's delete lost to it too.
	del := sfsync.Change{Source: erp, Object: "Contact", RecordID: "P-2", Op: sfsync.OpDelete, Key: "external:erp:P-2:7",
		Version: erpAt(11500, 7)}
	vc.rememberLost(&del, record, nil)

	w := &work{it: &item{c: del}, c: del, route: e.route(&del), lost: []string{fieldDeleted}}
	if w.route == nil || w.route.To != sfsync.Salesforce {
		t.Fatal("no route from the ERP to Salesforce")
	}
	// Salesforce's record as it shows it: every field, the phone empty,
	// one version for the record.
	cur := sfsync.Record{Object: "Contact", ID: "P-2", Exists: true, Version: sfsync.Version{Time: versionBase.Add(9 * time.Second)},
		Fields:     map[string]any{"Email": "e6", "LastName": "n5", "MailingCity": "c8", "Phone": nil},
		LastWriter: map[string]sfsync.System{fieldAny: sfsync.Salesforce}}
	e.planRepair(w, del, cur, false)
	if w.repair == nil || w.repair.Op != sfsync.OpCreate {
		t.Fatalf("repair %+v; want a create that brings the record back in the ERP", w.repair)
	}
	if v, set := w.repair.Value("Phone"); !set || v != nil {
		t.Errorf("the record brought back carries Phone=%v (set %v); want Salesforce's cleared phone (9 s, commit 304, dead-lettered): "+
			"left out, the ERP keeps its older p11 from the tombstone, stamped at the repair's version, and the requeued clearing ties with it and loses", v, set)
	}
	if i := slices.IndexFunc(w.repairFieldsAt, func(d fieldData) bool { return d.field == "Phone" }); i < 0 ||
		w.repairFieldsAt[i].sys != sfsync.Salesforce || w.repairFieldsAt[i].version.Compare(sfVersionAt(9, 304)) != 0 {
		t.Errorf("the cleared phone is remembered at %+v; want Salesforce's, at its change's version (commit 304)", w.repairFieldsAt)
	}
}
