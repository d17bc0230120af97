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

	printed := 0
	step := func(title string, outcomes int, act func() error) error {
		fmt.Fprintf(out, "\n== %s\n", title)
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
		slices.SortFunc(fresh, func(a, b sfsync.Outcome) int { return compare(a.Source, b.Source, a.RecordID, b.RecordID) })
		for _, o := range fresh {
			fmt.Fprintf(out, "%-10s %-18s → %-10s %-14s %s\n", o.Source, o.RecordID, o.Destination, o.Status, o.Reason)
		}
		return nil
	}

	var ada, grace string
	steps := []struct {
		title    string
		outcomes int
		act      func() error
	}{
		{"a Salesforce user creates two contacts; the ERP's outbox echoes those writes: recognised, not written back", 4, func() error {
			ada = org.Insert("Contact", map[string]any{"LastName": "Lovelace", "Email": "ada@example.com", "Phone": "111"})
			grace = org.Insert("Contact", map[string]any{"LastName": "Hopper", "Email": "grace@example.com", "Phone": "222"})
			return nil
		}},
		{"the ERP creates a person: upserted into Salesforce by external id (Email is Salesforce's, so not taken, and the ERP is given Salesforce's, none); the CDC events come back as our echoes", 4, func() error {
			erp.Edit("person", "P-7", map[string]any{"name": "Turing", "email": "alan@example.com", "phone": "777"}, sfsync.Version{Time: time.Now(), Counter: 1})
			return nil
		}},
		{"the ERP changes Ada's phone and email: Salesforce owns Email, so only Phone goes back, and the ERP gets Salesforce's email back", 4, func() error {
			erp.Edit("person", ada, map[string]any{"phone": "333", "email": "ada@erp.example"}, sfsync.Version{Time: time.Now().Add(time.Minute), Counter: 2})
			return nil
		}},
		{"a Salesforce user edits Turing, whom the ERP created: the change reaches ERP person P-7, not a new person", 2, func() error {
			for _, r := range org.Records("Contact") {
				if r["External_Id__c"] == "P-7" {
					id, _ := r["Id"].(string)
					return org.EditAsUser("Contact", id, map[string]any{"Phone": "778"})
				}
			}
			return fmt.Errorf("no contact for ERP person P-7")
		}},
		{"Salesforce could not describe a change to Grace (a gap event): re-read and reconciled", 2, func() error {
			org.EmitGap("Contact", grace)
			return nil
		}},
	}
	for _, s := range steps {
		if err := step(s.title, s.outcomes, s.act); err != nil {
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

	fmt.Fprintln(out, "\n== final state")
	for _, id := range []string{ada, grace} {
		rec, _ := org.Record("Contact", id)
		p, _ := erp.Record("person", id)
		fmt.Fprintf(out, "Salesforce %s: %v %v %v | ERP: %v %v %v\n", id, rec["LastName"], rec["Email"], rec["Phone"], p.Fields["name"], p.Fields["email"], p.Fields["phone"])
	}
	for _, r := range org.Records("Contact") {
		if r["External_Id__c"] == "P-7" {
			p, _ := erp.Record("person", "P-7")
			_, twice := erp.Record("person", r["Id"].(string))
			fmt.Fprintf(out, "Salesforce %s (ERP P-7): %v %v %v | ERP: %v %v %v; also under its Salesforce id: %v\n",
				r["Id"], r["LastName"], r["Email"], r["Phone"], p.Fields["name"], p.Fields["email"], p.Fields["phone"], twice)
		}
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		return err
	}
	fmt.Fprintln(out, "\n== what an operator sees (OpenTelemetry)")
	for _, m := range rm.ScopeMetrics[0].Metrics {
		switch d := m.Data.(type) {
		case metricdata.Sum[int64]:
			if m.Name == "sfsync.changes.processed" || m.Name == "sfsync.changes.dead_letters" || m.Name == "sfsync.write.retries" {
				fmt.Fprintf(out, "%-32s %d\n", m.Name, d.DataPoints[0].Value)
			}
		case metricdata.Gauge[int64]:
			if m.Name == "sfsync.api.requests.used" || m.Name == "sfsync.api.requests.limit" {
				fmt.Fprintf(out, "%-32s %d\n", m.Name, d.DataPoints[0].Value)
			}
		case metricdata.Gauge[float64]:
			if m.Name == "sfsync.dedup.hit_ratio" {
				fmt.Fprintf(out, "%-32s %g\n", m.Name, d.DataPoints[0].Value)
			}
		}
	}

	s := engine.Stats()
	used, max := org.APIUsage()
	fmt.Fprintf(out, "\nstats: processed %d, applied %d, echoes %d, conflicts %d, reconciled %d, duplicates %d, dead letters %d; API usage %d/%d\n",
		s.Processed, s.Applied, s.Echoes, s.Conflicts, s.Reconciled, s.Duplicates, s.DeadLetters, used, max)
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
		fmt.Fprintf(out, "\n== stopped: drained and committed; processed %d, in flight %d, dead letters now %d\n", s.Processed, s.InFlight, countDeadLetters(state))
	}
	return err
}

func compare(a, b sfsync.System, x, y string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}
