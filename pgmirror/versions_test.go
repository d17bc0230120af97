package pgmirror

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/reconcile"
	"github.com/sfsync/sfsync/store/memory"
	"github.com/sfsync/sfsync/sync"
	"github.com/sfsync/sfsync/sync/synctest"
)

// A drift check of a one-way mirror, comparing the mirror's versions
// (Mirror.Versions): a local UPDATE and a local DELETE that no event
// brought to the engine are found and undone from Salesforce's state; a
// second pass finds nothing.
func TestCheckDriftOfTheMirror(t *testing.T) {
	mapping := personMapping()
	mapping.LinkField = "" // rows known by their Salesforce ids
	ctx := context.Background()
	m, err := Open(ctx, testDSN(t), WithSchema(testSchema(t)), WithTable(Table{Mapping: mapping, Types: personTable().Types}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	q, _ := m.Table("person")

	t0 := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	sf := synctest.NewSystem(sfsync.Salesforce, synctest.WithTenant("00D000000000001AAA"))
	ids := []string{"003000000000001AAA", "003000000000002AAA", "003000000000003AAA"}
	for i, id := range ids {
		sf.EditSilently("Contact", id, map[string]any{"LastName": []string{"Ada", "Bob", "Cy"}[i]}, sfsync.Version{Time: t0.Add(time.Duration(i) * time.Second)})
	}
	e, err := sync.New(synctest.NewLog("idle").Source(), m,
		sync.WithStore(memory.New()), sync.WithMapping(mapping), sync.WithTenant("00D000000000001AAA"),
		sync.WithReconciler(reconcile.New(sf, reconcile.WithTenant("00D000000000001AAA"))))
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	ran := make(chan error, 1)
	go func() { ran <- e.Run(runCtx) }()
	defer func() {
		stop()
		<-ran
	}()
	if err := e.Reconcile(ctx, sfsync.Scope{Tenant: "00D000000000001AAA", Object: "Contact", Reason: "initial"}); err != nil {
		t.Fatal(err)
	}
	listed := 0
	for rec, err := range m.Versions(ctx, "person", time.Time{}) {
		if err != nil {
			t.Fatal(err)
		}
		listed++
		if rec.Fields != nil || rec.Version.IsZero() || rec.FieldVersions["name"].IsZero() || rec.LastWriter["name"] != sfsync.Salesforce {
			t.Errorf("listed %+v; want versions and writers without values", rec)
		}
	}
	if listed != 3 {
		t.Fatalf("Versions listed %d rows, want 3", listed)
	}

	local := connect(t)
	mustExec(t, local, `UPDATE `+q+` SET name = 'Local' WHERE sfid = $1`, ids[0])
	mustExec(t, local, `DELETE FROM `+q+` WHERE sfid = $1`, ids[1])
	recent := 0
	for _, err := range m.Versions(ctx, "person", time.Now().Add(-time.Hour)) {
		if err != nil {
			t.Fatal(err)
		}
		recent++
	}
	if recent != 1 {
		t.Errorf("Versions since an hour ago listed %d rows, want the one edited", recent)
	}

	report, err := e.CheckDrift(ctx, sf, "Contact", time.Time{}, sync.CompareTarget(m))
	if err != nil {
		t.Fatal(err)
	}
	if report.TargetChecked != 2 || report.TargetDrifted != 2 || report.Drifted != 0 {
		t.Errorf("report %+v, want 2 target versions checked, 2 drifted there", report)
	}
	for i, name := range []string{"Ada", "Bob"} {
		r, n := row(t, m, ids[i])
		if n != 1 || r["name"] != name || r["is_deleted"] != false {
			t.Errorf("row %s after the drift check: %d rows, %v; want name %s, live", ids[i], n, r, name)
		}
	}
	again, err := e.CheckDrift(ctx, sf, "Contact", time.Time{}, sync.CompareTarget(m))
	if err != nil || again.TargetChecked != 3 || again.TargetDrifted != 0 || again.Drifted != 0 {
		t.Errorf("second pass %+v (%v), want 3 checked, nothing drifted", again, err)
	}
}

// A drift check of a one-way mirror of a linked mapping: rows are listed
// under their links (or Salesforce ids while not linked), the ids the
// version map knows the records by, so a local edit, a lost linked row and
// a lost row not linked yet are found and written back from Salesforce,
// a record Salesforce purged is deleted in the mirror, and a row inserted
// locally (given a link of its own) is left alone.
func TestCheckDriftOfALinkedMirror(t *testing.T) {
	mapping := personMapping()
	ctx := context.Background()
	m, err := Open(ctx, testDSN(t), WithSchema(testSchema(t)), WithTable(Table{Mapping: mapping, Types: personTable().Types}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	q, _ := m.Table("person")

	const org = "00D000000000001AAA"
	t0 := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	sf := synctest.NewSystem(sfsync.Salesforce, synctest.WithTenant(org))
	ids := []string{"003000000000001AAA", "003000000000002AAA", "003000000000003AAA", "003000000000004AAA"}
	names := []string{"Ada", "Bob", "Cy", "Dee"}
	for i, id := range ids {
		fields := map[string]any{"LastName": names[i], "External_Id__c": fmt.Sprint("P-", i)}
		if i == 3 {
			delete(fields, "External_Id__c") // not linked yet
		}
		sf.EditSilently("Contact", id, fields, sfsync.Version{Time: t0.Add(time.Duration(i) * time.Second)})
	}
	e, err := sync.New(synctest.NewLog("idle").Source(), m,
		sync.WithStore(memory.New()), sync.WithMapping(mapping), sync.WithTenant(org), sync.WithLinkReader(sf),
		sync.WithReconciler(reconcile.New(sf, reconcile.WithTenant(org))))
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	ran := make(chan error, 1)
	go func() { ran <- e.Run(runCtx) }()
	defer func() {
		stop()
		<-ran
	}()
	if err := e.Reconcile(ctx, sfsync.Scope{Tenant: org, Object: "Contact", Reason: "initial"}); err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for rec, err := range m.Versions(ctx, "person", time.Time{}) {
		if err != nil {
			t.Fatal(err)
		}
		listed[rec.ID] = true
	}
	if want := []string{"P-0", "P-1", "P-2", ids[3]}; len(listed) != len(want) || !listed[want[0]] || !listed[want[1]] || !listed[want[2]] || !listed[want[3]] {
		t.Fatalf("Versions listed %v, want %v: links, else Salesforce ids", listed, want)
	}

	local := connect(t)
	mustExec(t, local, `UPDATE `+q+` SET name = 'Local' WHERE external_id__c = 'P-0'`)
	mustExec(t, local, `DELETE FROM `+q+` WHERE external_id__c = 'P-1'`)
	mustExec(t, local, `DELETE FROM `+q+` WHERE sfid = $1`, ids[3])
	mustExec(t, local, `INSERT INTO `+q+` (name) VALUES ('Mine')`)
	sf.PurgeSilently("Contact", ids[2])

	report, err := e.CheckDrift(ctx, sf, "Contact", time.Time{}, sync.CompareTarget(m))
	if err != nil {
		t.Fatal(err)
	}
	want := sync.DriftReport{Object: "Contact", Checked: 3, Drifted: 1, TargetChecked: 3, TargetDrifted: 3, TargetOnly: 1}
	if report != want {
		t.Errorf("report %+v, want %+v", report, want)
	}
	for id, name := range map[string]string{"P-0": "Ada", "P-1": "Bob", ids[3]: "Dee"} {
		r, n := row(t, m, id)
		if n != 1 || r["name"] != name || r["is_deleted"] != false {
			t.Errorf("row %s after the drift check: %d rows, %v; want name %s, live", id, n, r, name)
		}
	}
	if r, n := row(t, m, "P-2"); n != 1 || r["is_deleted"] != true {
		t.Errorf("row P-2, purged in Salesforce, after the drift check: %d rows, %v; want it deleted", n, r)
	}
	var mine int
	if err := local.QueryRow(ctx, `SELECT count(*) FROM `+q+` WHERE name = 'Mine' AND NOT is_deleted`).Scan(&mine); err != nil || mine != 1 {
		t.Errorf("the local row: %d live (%v), want it left alone", mine, err)
	}
	again, err := e.CheckDrift(ctx, sf, "Contact", time.Time{}, sync.CompareTarget(m))
	if err != nil || again.TargetDrifted != 0 || again.Drifted != 0 || again.TargetChecked != 5 {
		t.Errorf("second pass %+v (%v), want 5 checked, nothing drifted", again, err)
	}
}
