package pgmirror

import (
	"context"
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
