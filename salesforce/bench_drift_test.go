package salesforce_test

import (
	"context"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/reconcile"
	"github.com/sfsync/sfsync/salesforce"
	"github.com/sfsync/sfsync/store/memory"
	"github.com/sfsync/sfsync/sync"
	"github.com/sfsync/sfsync/sync/synctest"
)

// BenchmarkCheckDrift is a drift pass over an object of
// SFSYNC_BENCH_RECORDS records (20,000 by default) whose versions the
// engine holds, with 100 of them changed where no event told: it reports
// the API calls of the pass and the records re-read. The version map is
// filled as a finished backfill leaves it.
func BenchmarkCheckDrift(b *testing.B) {
	n := benchRecords(b)
	const drifted = 100
	org := benchOrg(b, n)
	ctx := context.Background()
	state := memory.New()
	var applied []sfsync.AppliedVersion
	for _, r := range org.Records("Employee__c") {
		s, _ := r["SystemModstamp"].(string)
		stamp, err := salesforce.ParseDateTime(s)
		if err != nil {
			b.Fatalf("SystemModstamp %q: %v", s, err)
		}
		key := (&sfsync.Change{Object: "Employee__c", RecordID: r["Id"].(string)}).RecordKey()
		applied = append(applied, sfsync.AppliedVersion{Record: key, Source: sfsync.Salesforce, Version: sfsync.Version{Time: stamp}})
	}
	if err := state.PutAppliedVersions(ctx, applied); err != nil {
		b.Fatal(err)
	}
	all := org.Records("Employee__c")
	for i := 0; i < drifted; i++ {
		id := all[i*(len(all)/drifted)]["Id"].(string)
		if err := org.EditAsUser("Employee__c", id, map[string]any{"Name": "changed behind the engine's back"}); err != nil {
			b.Fatal(err)
		}
	}
	fields := map[string][]string{"Employee__c": {"Name", "Grade__c"}}
	sf := orgClient(b, org)
	authority := salesforce.NewAuthority(sf, fields, salesforce.WithBulkOptions(fastPolls))
	external := synctest.NewSystem(sfsync.External("erp"))
	idle := synctest.NewLog("idle")
	e, err := sync.New(idle.Source(), external, sync.WithStore(state), sync.WithLogger(discard()),
		sync.WithReconciler(reconcile.New(authority, reconcile.WithLogger(discard()))))
	if err != nil {
		b.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- e.Run(runCtx) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			b.Error(err)
		}
	}()
	var report sync.DriftReport
	var calls int
	for b.Loop() {
		org.ResetUsage()
		report, err = e.CheckDrift(ctx, authority, "Employee__c", time.Time{})
		if err != nil {
			b.Fatal(err)
		}
		calls, _ = org.APIUsage()
	}
	if report.Checked != int64(n) || report.Drifted < drifted {
		b.Fatalf("drift pass %+v over %d records with %d drifted", report, n, drifted)
	}
	b.ReportMetric(float64(calls), "api-calls/pass")
	b.ReportMetric(float64(report.Drifted), "reread/pass")
	b.ReportMetric(float64(report.Checked), "checked/pass")
}
