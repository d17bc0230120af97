// Command orgsync runs a two-way Contact sync between Salesforce and an ERP
// on the embedded fake org: OAuth, the Pub/Sub API, CDC decoding, REST
// write-back through sObject Collections, API throttling and durable SQLite
// state, all on loopback with no credentials. It prints every decision the
// engine takes and why.
//
// With -http 127.0.0.1:8080 it then keeps running: the status page is at
// /status/, Prometheus metrics at /metrics, and a change the org rejected
// waits as a dead letter to be requeued from the page. Ctrl-C stops it
// cleanly: the engine drains and commits before the program exits.
//
// With -log debug the engine's own log goes to stderr: every outcome with
// its key, record, source, destination, status and reason; -log info
// keeps dead letters and a summary at most once a minute.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/conflict"
	"github.com/sfsync/sfsync/metrics"
	"github.com/sfsync/sfsync/pubsub"
	"github.com/sfsync/sfsync/reconcile"
	"github.com/sfsync/sfsync/salesforce"
	"github.com/sfsync/sfsync/salesforce/salesforcetest"
	"github.com/sfsync/sfsync/store/sqlite"
	"github.com/sfsync/sfsync/sync"
	"github.com/sfsync/sfsync/sync/synctest"
	"github.com/sfsync/sfsync/throttle"
)

func main() {
	var opts options
	flag.StringVar(&opts.http, "http", "", "after the demo keep running, serving the status page and /metrics on this address (for example 127.0.0.1:8080)")
	logLevel := flag.String("log", "", "write the engine's log to stderr at this level: debug (every outcome), info (a summary a minute, dead letters), warn")
	flag.Parse()
	if *logLevel != "" {
		var level slog.Level
		if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
			fmt.Fprintln(os.Stderr, "orgsync: -log:", err)
			os.Exit(2)
		}
		opts.log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	}
	// Ctrl-C ends ctx; the engine then drains and commits before run returns.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Stdout, opts); err != nil {
		fmt.Fprintln(os.Stderr, "orgsync:", err)
		os.Exit(1)
	}
}

// options are the command's flags, and what tests set instead.
type options struct {
	// http, when set, keeps the demo running after its script with the
	// status page and /metrics served on this address, until ctx ends.
	http string
	// token guards the page's requeue buttons (default: random, printed).
	token string
	// served, when set, is called with the base URL once it serves.
	served func(baseURL string)
	// log, when set, receives the engine's log (see -log).
	log *slog.Logger
}

func run(parent context.Context, out io.Writer, opts options) error {
	// The scripted part has a deadline; a served demo runs until parent ends.
	ctx, cancel := context.WithTimeout(parent, 2*time.Minute)
	defer cancel()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	erpSystem := sfsync.External("erp")

	// The fake org: OAuth and REST over HTTP, change events over gRPC.
	org := salesforcetest.NewOrg(salesforcetest.WithDailyLimit(5000))
	defer org.Close()
	clientID, secret := org.ClientCredentials()
	tokens := salesforce.ClientCredentials(salesforce.ClientCredentialsConfig{TokenURL: org.URL(), ClientID: clientID, ClientSecret: secret, HTTPClient: org.Client()})
	tok, err := tokens.Token(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "== signed in with client credentials: org %s, integration user %s\n", tok.OrgID, tok.UserID)

	limiter := throttle.New(throttle.WithReserve(0.1), throttle.WithLogger(quiet))
	defer limiter.Close()
	sf := salesforce.New(tokens, salesforce.WithHTTPClient(org.Client()), salesforce.WithClientID("sfsync"), salesforce.WithLimiter(limiter), salesforce.WithLogger(quiet))
	ps, err := pubsub.Dial(org.PubSub().Addr(), salesforce.PubSubTokens(tokens), pubsub.WithTLSConfig(org.ClientTLSConfig()), pubsub.WithLogger(quiet))
	if err != nil {
		return err
	}
	defer ps.Close()
	sub := ps.Subscribe("/data/ContactChangeEvent", pubsub.WithWindow(50))
	defer sub.Close()

	dir, err := os.MkdirTemp("", "orgsync")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	state, err := sqlite.Open(ctx, filepath.Join(dir, "state.db"), sqlite.WithLogger(quiet))
	if err != nil {
		return err
	}
	defer state.Close()

	// The ERP stand-in keeps people and publishes its changes to an outbox.
	outbox := synctest.NewLog("erp/person")
	erp := synctest.NewSystem(erpSystem, synctest.WithFeed(outbox))

	sink := salesforce.NewSink(sf, salesforce.WithExternalID("Contact", "External_Id__c"), salesforce.WithReadFields("Contact", "LastName", "Email", "Phone", "External_Id__c"))
	authority := salesforce.NewAuthority(sf, map[string][]string{"Contact": {"LastName", "Email", "Phone", "External_Id__c"}})
	reconciler := reconcile.New(authority, reconcile.WithTenant(tok.OrgID), reconcile.WithLogger(quiet))
	engineLog := quiet
	if opts.log != nil {
		engineLog = opts.log
	}
	engine, err := sync.New(sub, nil,
		sync.WithSource(outbox.Source()),
		sync.WithLogger(engineLog), sync.WithTenant(tok.OrgID), sync.WithClientID("sfsync"), sync.WithStore(state),
		// The summary reports the org's API headroom; Health reports the
		// org paused at its limit.
		sync.WithAPIUsage(tok.OrgID, limiter.Headroom),
		// One instance at a time consumes the subscription; the lease's
		// fencing token guards every commit.
		sync.WithLease(state, "contacts", "orgsync", time.Minute),
		// External_Id__c holds the ERP's id: a contact created on either side
		// stays one record on both.
		sync.WithLinkReader(authority),
		sync.WithMapping(&sync.Mapping{Object: "Contact", External: "person", LinkField: "External_Id__c", Fields: []sync.Field{
			{Salesforce: "LastName", External: "name"},
			{Salesforce: "Email", External: "email"},
			{Salesforce: "Phone", External: "phone"},
		}}),
		// Salesforce owns Email; everything else is last write wins.
		sync.WithPolicy(conflict.FieldOwnership(conflict.Owners{"Email": sfsync.Salesforce}, conflict.LastWriteWins(conflict.WithSkewTolerance(time.Second)))),
		sync.WithReconciler(reconciler),
		sync.WithRoute(sync.Route{From: sfsync.Salesforce, Object: "Contact", Sink: erp}),
		sync.WithRoute(sync.Route{From: erpSystem, Sink: sink}),
	)
	if err != nil {
		return err
	}
	// Operators read the engine, the API budget and the stream through
	// OpenTelemetry; here a manual reader stands in for an exporter.
	reader := sdkmetric.NewManualReader()
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer provider.Shutdown(context.Background())
	reg, err := metrics.Register(provider.Meter("github.com/sfsync/sfsync"),
		metrics.Engine("contacts", engine.Stats), metrics.Limiter(tok.OrgID, limiter), metrics.Subscription("/data/ContactChangeEvent", sub.Stats))
	if err != nil {
		return err
	}
	defer reg.Unregister()

	runParent := ctx
	if opts.http != "" {
		runParent = parent
	}
	runCtx, stop := context.WithCancel(runParent)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- engine.Run(runCtx) }()

	fmt.Fprintln(out, "Salesforce owns Email; other fields go by last write wins. -log debug shows the engine's log, -http its status page.")
	fmt.Fprintf(out, "%-7s %-10s %-18s   %-10s %-18s %-10s %s\n", "record", "from", "its id there", "to", "its id there", "outcome", "why")
	people := &directory{}
	printed := 0
	step := func(title string, origin sfsync.System, outcomes int, act func() error) error {
		fmt.Fprintf(out, "== %s\n", title)
		if err := act(); err != nil {
			return err
		}
		// Events reach the engine on their own time: wait for the step's
		// outcomes, re-checked after every commit.
		var all []sfsync.Outcome
		err := engine.WaitUntil(ctx, func() bool {
			all, err = state.Outcomes(ctx, sfsync.OutcomeQuery{})
			return err == nil && len(all) >= printed+outcomes
		})
		if err != nil {
			return fmt.Errorf("%s: %w", title, err)
		}
		fresh := all[printed:]
		printed = len(all)
		// The ledger's order is commit order, which varies with timing;
		// print each record's outcomes in the order one caused the next.
		slices.SortStableFunc(fresh, func(a, b sfsync.Outcome) int {
			if c := people.find(a.RecordID).order - people.find(b.RecordID).order; c != 0 {
				return c
			}
			return causalRank(a, origin) - causalRank(b, origin)
		})
		for _, o := range fresh {
			p := people.find(o.RecordID)
			fmt.Fprintf(out, "%-7s %-10s %-18s → %-10s %-18s %-10s %s\n", p.name, sideName(o.Source), p.id(o.Source), sideName(o.Destination), p.id(o.Destination), o.Status, o.Reason)
		}
		return nil
	}

	var ada, grace string
	// The ERP's versions; Salesforce stamps its own with the org's clock.
	t0 := time.Now()
	steps := []struct {
		title    string
		origin   sfsync.System
		outcomes int
		act      func() error
	}{
		{"a Salesforce user creates Ada and Grace: both are written to the ERP, whose outbox echoes the writes back (recognised, not written again)", sfsync.Salesforce, 4, func() error {
			ada = org.Insert("Contact", map[string]any{"LastName": "Lovelace", "Email": "ada@example.com", "Phone": "111"})
			grace = org.Insert("Contact", map[string]any{"LastName": "Hopper", "Email": "grace@example.com", "Phone": "222"})
			people.add("Ada", ada, ada)
			people.add("Grace", grace, grace)
			return nil
		}},
		{"the ERP creates person P-7, Turing: upserted into Salesforce by external id, without Email, which is Salesforce's; the ERP's email is set to Salesforce's (empty)", erpSystem, 4, func() error {
			erp.Edit("person", "P-7", map[string]any{"name": "Turing", "email": "alan@example.com", "phone": "777"}, sfsync.Version{Time: t0, Counter: 1})
			if err := engine.WaitUntil(ctx, func() bool { return turingID(org) != "" }); err != nil {
				return fmt.Errorf("waiting for Turing in Salesforce: %w", err)
			}
			people.add("Turing", turingID(org), "P-7")
			return nil
		}},
		{"the ERP changes Ada's phone and email: only Phone goes to Salesforce, and the ERP gets Salesforce's email back", erpSystem, 4, func() error {
			erp.Edit("person", ada, map[string]any{"phone": "333", "email": "ada@erp.example"}, sfsync.Version{Time: t0.Add(time.Minute), Counter: 2})
			return nil
		}},
		{"a Salesforce user edits Turing's phone: the change reaches ERP person P-7, not a new person", sfsync.Salesforce, 2, func() error {
			return org.EditAsUser("Contact", people.find("P-7").sfID, map[string]any{"Phone": "778"})
		}},
		{"Salesforce sends a gap event for Grace (it could not describe a change): the engine re-reads her; the ERP already has what it reads (no-op)", sfsync.Salesforce, 2, func() error {
			org.EmitGap("Contact", grace)
			return nil
		}},
	}
	for _, s := range steps {
		if err := step(s.title, s.origin, s.outcomes, s.act); err != nil {
			stop()
			<-done
			return err
		}
	}
	if opts.http == "" {
		stop()
		if err := <-done; err != nil {
			return err
		}
	}

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		return err
	}
	fmt.Fprintf(out, "== what an operator sees (OpenTelemetry): %s\n", operatorView(rm))
	if err := printCounts(out, engine.Stats()); err != nil {
		return err
	}

	fmt.Fprintln(out, "== both systems now")
	row := "%-7s %-18s %-9s %-18s %-5s | %-18s %-9s %-18s %s\n"
	fmt.Fprintf(out, row, "record", "Salesforce Contact", "LastName", "Email", "Phone", "ERP person", "name", "email", "phone")
	var differ []string
	for _, p := range people.all {
		rec, _ := org.Record("Contact", p.sfID)
		per, _ := erp.Record("person", p.erpID)
		sf := []any{rec["LastName"], rec["Email"], rec["Phone"]}
		ep := []any{per.Fields["name"], per.Fields["email"], per.Fields["phone"]}
		fmt.Fprintf(out, row, p.name, p.sfID, show(sf[0]), show(sf[1]), show(sf[2]), p.erpID, show(ep[0]), show(ep[1]), show(ep[2]))
		for i, f := range []string{"name", "email", "phone"} {
			if show(sf[i]) != show(ep[i]) {
				differ = append(differ, p.name+"'s "+f)
			}
		}
		if _, twice := erp.Record("person", p.sfID); twice && p.sfID != p.erpID {
			differ = append(differ, p.name+" is twice in the ERP")
		}
	}
	if len(differ) == 0 {
		fmt.Fprintln(out, "Both systems are equal. Ada's email stays ada@example.com although the ERP set ada@erp.example: field ownership keeps Email in Salesforce, by design.")
	} else {
		fmt.Fprintf(out, "The systems differ: %s.\n", strings.Join(differ, ", "))
	}
	if opts.http == "" {
		return nil
	}
	d := served{
		engine: engine, state: state, limiter: limiter, tenant: tok.OrgID, sub: sub, outbox: outbox.Stream(),
		reconciler: reconciler, org: org, erp: erp,
	}
	err = d.serve(ctx, parent, out, opts)
	stop()
	if runErr := <-done; err == nil && runErr != nil {
		err = runErr
	}
	if err == nil {
		s := engine.Stats()
		fmt.Fprintf(out, "\n== stopped: drained and committed; %d changes received, %d outcomes, %d in flight, dead letters now %d\n", s.Received, s.Processed, s.InFlight, countDeadLetters(state))
	}
	return err
}

// person is one contact as both systems know it: the ERP keeps a contact
// created in Salesforce under its Salesforce id, and one it created itself
// under its own id, which Salesforce holds in External_Id__c.
type person struct {
	name, sfID, erpID string
	order             int
}

// id is the person's id in the given system.
func (p person) id(sys sfsync.System) string {
	if sys == sfsync.Salesforce {
		return p.sfID
	}
	return p.erpID
}

// directory finds a person by either system's id, in the order the script
// introduced them.
type directory struct{ all []person }

func (d *directory) add(name, sfID, erpID string) {
	d.all = append(d.all, person{name: name, sfID: sfID, erpID: erpID, order: len(d.all)})
}

func (d *directory) find(id string) person {
	for _, p := range d.all {
		if p.sfID == id || p.erpID == id {
			return p
		}
	}
	return person{name: "?", sfID: id, erpID: id, order: len(d.all)}
}

// causalRank orders one record's outcomes within a step, causes first: the
// decisions on the change that started the step (a gap's re-read before
// what the re-read found), then the engine's own follow-up writes, then
// the echoes, the echo of the first write first.
func causalRank(o sfsync.Outcome, origin sfsync.System) int {
	switch {
	case o.Status == sfsync.StatusEcho && o.Source != origin:
		return 3
	case o.Status == sfsync.StatusEcho:
		return 4
	case o.Source != origin:
		return 2
	case o.Status == sfsync.StatusStale:
		return 1
	}
	return 0
}

func sideName(sys sfsync.System) string {
	if sys == sfsync.Salesforce {
		return "Salesforce"
	}
	return "ERP"
}

// turingID is the Salesforce id of the contact the ERP created as P-7, or
// "" until the engine has upserted it.
func turingID(org *salesforcetest.Org) string {
	for _, r := range org.Records("Contact") {
		if r["External_Id__c"] == "P-7" {
			id, _ := r["Id"].(string)
			return id
		}
	}
	return ""
}

// show prints a field's value, "-" for none.
func show(v any) string {
	if v == nil || v == "" {
		return "-"
	}
	return fmt.Sprint(v)
}

// operatorView picks, from what the OpenTelemetry reader collected, the
// instruments an operator watches first.
func operatorView(rm metricdata.ResourceMetrics) string {
	want := []string{"sfsync.changes.processed", "sfsync.changes.dead_letters", "sfsync.write.retries", "sfsync.api.requests.used", "sfsync.api.requests.limit"}
	got := map[string]string{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				if len(d.DataPoints) > 0 {
					got[m.Name] = fmt.Sprint(d.DataPoints[0].Value)
				}
			case metricdata.Gauge[int64]:
				if len(d.DataPoints) > 0 {
					got[m.Name] = fmt.Sprint(d.DataPoints[0].Value)
				}
			}
		}
	}
	var parts []string
	for _, name := range want {
		if v, ok := got[name]; ok {
			parts = append(parts, name+" "+v)
		}
	}
	return strings.Join(parts, ", ")
}

// printCounts prints the engine's counters so that they add up: every
// outcome status, and what received means next to outcomes.
func printCounts(out io.Writer, s sync.Stats) error {
	counts := []struct {
		status sfsync.Status
		n      int64
	}{
		{sfsync.StatusApplied, s.Applied}, {sfsync.StatusEcho, s.Echoes}, {sfsync.StatusReconciled, s.Reconciled},
		{sfsync.StatusStale, s.Stale}, {sfsync.StatusNoop, s.Noops}, {sfsync.StatusDuplicate, s.Duplicates},
		{sfsync.StatusConflictLost, s.Conflicts}, {sfsync.StatusSkipped, s.Skipped}, {sfsync.StatusDeadLettered, s.DeadLetters},
	}
	var sum int64
	var parts []string
	for _, c := range counts {
		sum += c.n
		parts = append(parts, fmt.Sprintf("%s %d", c.status, c.n))
	}
	if sum != s.Processed {
		return fmt.Errorf("the engine counted %d outcomes but %d by status: a status is missing from this demo's count", s.Processed, sum)
	}
	fmt.Fprintf(out, "%d outcomes = %s\n", s.Processed, strings.Join(parts, " + "))
	// Each change received here has one destination, so one outcome; the
	// rest the engine started itself.
	fmt.Fprintf(out, "An outcome is one decision in the ledger: %d for the %d changes received (CDC events and ERP outbox entries), one each,\n", s.Received, s.Received)
	fmt.Fprintf(out, "and %d for the engine's own work: giving the ERP Salesforce's Email back, and what Grace's re-read found.\n", s.Processed-s.Received)
	return nil
}
