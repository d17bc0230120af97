package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	stdsync "sync"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/reconcile"
	"github.com/sfsync/sfsync/salesforce"
	"github.com/sfsync/sfsync/sync"
	"github.com/sfsync/sfsync/sync/synctest"
)

// The drift row: an object of the fake org (the backfill rows' org
// process) synced whole into an external system, then records changed on
// either side where no event tells, then one drift pass
// (Engine.CheckDrift over salesforce.Authority.Versions) against the
// baseline of a re-emitting reconciliation (Engine.Reconcile of the whole
// object), which reads and emits every record.

// driftEach is how many records are changed on each side; driftLost is
// how many more are lost in the external system.
const (
	driftEach = 50
	driftLost = 10
)

// callCounter counts the consumer's HTTP requests to the org by kind.
type callCounter struct {
	next http.RoundTripper
	mu   stdsync.Mutex
	n    map[string]int
}

func (c *callCounter) RoundTrip(req *http.Request) (*http.Response, error) {
	c.mu.Lock()
	c.n[callKind(req)]++
	c.mu.Unlock()
	return c.next.RoundTrip(req)
}

// take returns the counts so far and starts again from zero.
func (c *callCounter) take() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.n
	c.n = map[string]int{}
	return n
}

// callKind names what a request to the org is for.
func callKind(req *http.Request) string {
	p := req.URL.Path
	switch {
	case strings.Contains(p, "/oauth2/"):
		return "sign-in"
	case strings.HasSuffix(p, "/jobs/query") && req.Method == http.MethodPost:
		return "job create"
	case strings.Contains(p, "/jobs/query/") && strings.HasSuffix(p, "/results"):
		return "result page"
	case strings.Contains(p, "/jobs/query/") && req.Method == http.MethodDelete:
		return "job delete"
	case strings.Contains(p, "/jobs/query/"):
		return "job poll"
	case strings.HasSuffix(p, "/describe"):
		return "describe"
	case strings.HasSuffix(p, "/queryAll") || strings.HasSuffix(p, "/query"):
		if strings.Contains(strings.ToUpper(req.URL.Query().Get("q")), "COUNT()") {
			return "COUNT() query"
		}
		return "REST query"
	}
	return req.Method + " " + p
}

// kinds renders counts as "3 result page, 1 job create, ..." (API calls
// only: signing in is not one), most first, and their sum.
func kinds(n map[string]int) (string, int) {
	type kv struct {
		k string
		v int
	}
	var all []kv
	total := 0
	for k, v := range n {
		if k != "sign-in" {
			all = append(all, kv{k, v})
			total += v
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].v > all[j].v || (all[i].v == all[j].v && all[i].k < all[j].k) })
	parts := make([]string, len(all))
	for i, p := range all {
		parts[i] = fmt.Sprintf("%d %s", p.v, p.k)
	}
	return strings.Join(parts, ", "), total
}

// driftPass is what one pass (drift check or re-emit) measured.
type driftPass struct {
	wall    time.Duration
	calls   map[string]int
	org     int   // calls the org counted
	emitted int64 // changes the reconciler handed to the engine
	written int   // changes written to the external system
	extLeft int   // external-side changes still in place after the pass
	// outcomes of the pass's changes: applied, duplicates, no-ops, stale
	applied, dups, noops, stale int64
}

// outcomes renders the pass's outcome counts.
func (p driftPass) outcomes() string {
	return fmt.Sprintf("outcomes: %d applied, %d duplicate, %d no-op, %d stale", p.applied, p.dups, p.noops, p.stale)
}

func (b *bench) driftRows(ctx context.Context) []row {
	n := b.o.drift
	name := fmt.Sprintf("drift pass (%d rec, %d drifted)", n, 2*driftEach+driftLost)
	fail := func(err error) []row { return []row{{name: name, err: err}} }
	org, err := startOrg(ctx, n)
	if err != nil {
		return fail(err)
	}
	defer org.close()
	counter := &callCounter{next: http.DefaultTransport, n: map[string]int{}}
	hc := &http.Client{Transport: counter}
	tokens := salesforce.ClientCredentials(salesforce.ClientCredentialsConfig{TokenURL: org.url, ClientID: org.clientID, ClientSecret: org.secret, HTTPClient: hc})
	sf := salesforce.New(tokens, salesforce.WithHTTPClient(hc), salesforce.WithLogger(b.log))
	authority := salesforce.NewAuthority(sf, map[string][]string{bfObject: bfFields},
		salesforce.WithBulkOptions(salesforce.WithPollInterval(bfPoll, time.Second)))
	reconciler := reconcile.New(authority, reconcile.WithTenant(org.orgID), reconcile.WithLogger(b.log))
	mapped := make([]sync.Field, len(bfFields))
	for i, f := range bfFields {
		mapped[i] = sync.Field{Salesforce: f, External: f}
	}
	store, _, err := openSQLite(ctx, b.log, b.o.sqliteCache, b.dir, "drift")
	if err != nil {
		return fail(err)
	}
	defer store.Close()
	// No events reach the engine: every change below is one no event told.
	idle := synctest.NewLog("idle")
	external := synctest.NewSystem(sfsync.External("erp"))
	engine, err := sync.New(idle.Source(), external, sync.WithLogger(b.log), sync.WithTenant(org.orgID), sync.WithStore(store),
		sync.WithMapping(&sync.Mapping{Object: bfObject, External: "employee", Fields: mapped}),
		sync.WithReconciler(reconciler))
	if err != nil {
		return fail(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	ran := make(chan error, 1)
	go func() { ran <- engine.Run(runCtx) }()
	defer func() {
		stop()
		<-ran
	}()
	whole := sfsync.Scope{Tenant: org.orgID, Object: bfObject, Reason: "bench"}

	// The external system in sync, and the version map as a finished
	// backfill leaves it.
	if err := engine.Reconcile(ctx, whole); err != nil {
		return fail(fmt.Errorf("initial sync: %w", err))
	}
	// Drift on both sides: Salesforce records edited (their events never
	// reach the engine), external records edited without an event.
	changed, err := org.ints(fmt.Sprintf("drift %d", driftEach))
	if err != nil {
		return fail(err)
	}
	if len(changed) != 1 || changed[0] != driftEach {
		return fail(fmt.Errorf("org changed %v records, want %d", changed, driftEach))
	}
	var extIDs []string // in the order of their versions, as the org made them
	for rec, err := range external.Scan(ctx, "employee", nil, time.Time{}) {
		if err != nil {
			return fail(err)
		}
		extIDs = append(extIDs, rec.ID)
	}
	if len(extIDs) != n {
		return fail(fmt.Errorf("external system holds %d records after the initial sync, want %d", len(extIDs), n))
	}
	const extChanged = "changed in the external system"
	extDrifted := make([]string, driftEach)
	for i := range driftEach {
		// Offset from the Salesforce side's picks, so no record drifts on
		// both sides.
		extDrifted[i] = extIDs[(i*(n/driftEach)+n/(2*driftEach))%n]
		external.EditSilently("employee", extDrifted[i], map[string]any{"Title__c": extChanged}, sfsync.Version{Time: time.Now()})
	}
	// And records lost in the external system where no event told.
	extLost := make([]string, driftLost)
	for i := range driftLost {
		extLost[i] = extIDs[(i*(n/driftLost)+n/(4*driftLost))%n]
		external.PurgeSilently("employee", extLost[i])
	}
	// extLeft counts the external-side changes still in place: edits
	// there, and records still missing.
	extLeft := func() int {
		left := 0
		for _, id := range extDrifted {
			if r, ok := external.Record("employee", id); ok && r.Fields["Title__c"] == extChanged {
				left++
			}
		}
		for _, id := range extLost {
			if r, ok := external.Record("employee", id); !ok || r.Deleted {
				left++
			}
		}
		return left
	}

	measure := func(run func() error) (driftPass, error) {
		counter.take()
		if _, err := org.ints("reset"); err != nil {
			return driftPass{}, err
		}
		emitted := reconciler.Stats().Emitted
		written, _ := external.Writes()
		before := engine.Stats()
		start := time.Now()
		if err := run(); err != nil {
			return driftPass{}, err
		}
		p := driftPass{wall: time.Since(start), calls: counter.take(), emitted: reconciler.Stats().Emitted - emitted}
		after := engine.Stats()
		p.applied, p.dups = after.Applied-before.Applied, after.Duplicates-before.Duplicates
		p.noops, p.stale = after.Noops-before.Noops, after.Stale-before.Stale
		now, _ := external.Writes()
		p.written = now - written
		var err error
		p.org, err = org.usage()
		return p, err
	}
	var report sync.DriftReport
	check, err := measure(func() error {
		var err error
		report, err = engine.CheckDrift(ctx, authority, bfObject, time.Time{}, sync.CompareTarget(external))
		return err
	})
	if err != nil {
		return fail(fmt.Errorf("drift pass: %w", err))
	}
	check.extLeft = extLeft()
	reemit, err := measure(func() error { return engine.Reconcile(ctx, whole) })
	if err != nil {
		return fail(fmt.Errorf("re-emitting reconciliation: %w", err))
	}
	reemit.extLeft = extLeft()
	if report.Checked != int64(n) || report.TargetChecked != int64(n-driftLost) {
		return fail(fmt.Errorf("drift pass checked %d of %d records, %d of %d in the external system", report.Checked, n, report.TargetChecked, n-driftLost))
	}
	checkKinds, checkCalls := kinds(check.calls)
	reKinds, reCalls := kinds(reemit.calls)
	if checkCalls != check.org || reCalls != reemit.org {
		return fail(errors.New("the calls counted by kind differ from the org's count"))
	}
	return []row{{
		name: name, goal: "report",
		ratio: fmt.Sprintf("%d vs %d calls, %d vs %d records emitted", checkCalls, reCalls, check.emitted, reemit.emitted),
		measured: fmt.Sprintf("CheckDrift with CompareTarget: %.1f s; %d calls: %s; %d Salesforce versions checked, %d drifted there; %d external versions checked, %d drifted there; %d records re-read, %d written (%s); external-side changes left: %d of %d",
			check.wall.Seconds(), checkCalls, checkKinds, report.Checked, report.Drifted, report.TargetChecked, report.TargetDrifted,
			check.emitted, check.written, check.outcomes(), check.extLeft, driftEach+driftLost),
		baseline: fmt.Sprintf("Reconcile of the whole object (re-emit), after it: %.1f s; %d calls: %s; %d records emitted, %d written (%s); external-side changes left: %d of %d",
			reemit.wall.Seconds(), reCalls, reKinds, reemit.emitted, reemit.written, reemit.outcomes(), reemit.extLeft, driftEach+driftLost),
	}}
}
