package salesforce_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/reconcile"
	"github.com/sfsync/sfsync/salesforce"
	"github.com/sfsync/sfsync/salesforce/salesforcetest"
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

// BenchmarkCheckDriftLinkedTarget is a drift pass that compares the
// target (sync.CompareTarget) of a linked mapping over SFSYNC_BENCH_RECORDS
// Employee__c records (20,000 by default; every 100th not linked yet),
// synced by a reconciliation first: 50 records changed in Salesforce and
// 50 in the target, and 10 lost there, where no event told. It reports
// the API calls of a full pass, and of a windowed pass that finds 50 more
// records changed in the target outside Salesforce's window, whose
// Salesforce ids it lists the links once more to find.
func BenchmarkCheckDriftLinkedTarget(b *testing.B) {
	n := benchRecords(b)
	const object, link = "Employee__c", "External_Id__c"
	clk := &testClock{now: time.Now().Truncate(time.Second)}
	org := salesforcetest.NewOrg(salesforcetest.WithDailyLimit(1<<30), salesforcetest.WithClock(clk.Now))
	b.Cleanup(org.Close)
	linkOf := func(i int) string { return fmt.Sprintf("E-%d", i) }
	err := org.Load(object, n, func(i int) map[string]any {
		f := map[string]any{"Name": fmt.Sprintf("Employee %d", i), "Grade__c": i % 12}
		if i%100 != 0 {
			f[link] = linkOf(i)
		}
		return f
	})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	authority := salesforce.NewAuthority(orgClient(b, org), map[string][]string{object: {"Name", "Grade__c", link}},
		salesforce.WithBulkOptions(fastPolls))
	mapping := &sync.Mapping{Object: object, LinkField: link, Fields: []sync.Field{
		{Salesforce: "Name", External: "name"}, {Salesforce: "Grade__c", External: "grade"},
	}}
	external := synctest.NewSystem(sfsync.External("erp"))
	e, err := sync.New(synctest.NewLog("idle").Source(), external, sync.WithStore(memory.New()), sync.WithLogger(discard()),
		sync.WithMapping(mapping), sync.WithLinkReader(authority),
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
	if err := e.Reconcile(ctx, sfsync.Scope{Object: object, Reason: "set-up"}); err != nil {
		b.Fatal(err)
	}
	// Drift of a later second than the set-up's versions, on both sides.
	clk.Advance(2 * time.Second)
	all := org.Records(object)
	step := len(all) / 200
	for i := range 50 {
		if err := org.EditAsUser(object, all[i*step]["Id"].(string), map[string]any{"Name": "changed in Salesforce"}); err != nil {
			b.Fatal(err)
		}
	}
	// The target's ids: links, else Salesforce ids (every 100th record).
	targetID := func(r map[string]any) string {
		if l, _ := r[link].(string); l != "" {
			return l
		}
		return r["Id"].(string)
	}
	local := sfsync.Version{Time: clk.Now().Add(time.Minute)}
	for i := range 50 {
		external.EditSilently(object, targetID(all[(50+i)*step+1]), map[string]any{"name": "changed in the target"}, local)
	}
	for i := range 10 {
		external.PurgeSilently(object, targetID(all[(100+i)*step+1]))
	}
	var full, windowed sync.DriftReport
	var fullCalls, windowedCalls int
	for b.Loop() {
		org.ResetUsage()
		full, err = e.CheckDrift(ctx, authority, object, time.Time{}, sync.CompareTarget(external))
		if err != nil {
			b.Fatal(err)
		}
		fullCalls, _ = org.APIUsage()

		later := sfsync.Version{Time: local.Time.Add(time.Minute)}
		for i := range 50 {
			external.EditSilently(object, targetID(all[(150+i)*step+1]), map[string]any{"name": "changed in the target again"}, later)
		}
		org.ResetUsage()
		windowed, err = e.CheckDrift(ctx, authority, object, later.Time, sync.CompareTarget(external))
		if err != nil {
			b.Fatal(err)
		}
		windowedCalls, _ = org.APIUsage()
	}
	if full.Checked != int64(n) || full.Drifted != 50 || full.TargetDrifted != 60 || windowed.TargetDrifted != 50 {
		b.Fatalf("full pass %+v, windowed pass %+v over %d records: want 50 drifted in Salesforce, 60 in the target, then 50", full, windowed, n)
	}
	for _, r := range all[:200*step] {
		if rec, ok := external.Record(object, targetID(r)); !ok || rec.Deleted || rec.Fields["name"] == "changed in the target" || rec.Fields["name"] == "changed in the target again" {
			b.Fatalf("%s in the target after the passes: %+v (exists %v); want Salesforce's state", targetID(r), rec, ok)
		}
	}
	b.ReportMetric(float64(fullCalls), "api-calls/full-pass")
	b.ReportMetric(float64(windowedCalls), "api-calls/windowed-pass")
	b.ReportMetric(float64(full.Drifted+full.TargetDrifted), "reread/full-pass")
}
