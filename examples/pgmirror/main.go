// Command pgmirror mirrors Contacts and Accounts of the embedded fake org
// into a real PostgreSQL database, then edits the tables as a user would
// with psql (UPDATE, INSERT, DELETE) and shows the edits reach Salesforce
// and come back as echoes that are ignored. It prints every decision the
// engine takes and why, and the rows as SQL sees them.
//
//	eval "$(bash .ci/start-postgres.sh)"
//	go run ./examples/pgmirror                # uses $SFSYNC_TEST_POSTGRES
//	go run ./examples/pgmirror -db postgres://user@host/db -schema salesforce_demo
//
// Against a real org, replace the fake org's client credentials with
// salesforce.JWTBearer or salesforce.ClientCredentials for your connected
// app and dial pubsub.DefaultEndpoint, as README.md's minimal engine does;
// the mirror, routes and policy stay as they are here. The org needs an
// external id field External_Id__c on Contact and Account (for rows created
// in PostgreSQL) and Change Data Capture enabled for both objects.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/conflict"
	"github.com/sfsync/sfsync/pgmirror"
	"github.com/sfsync/sfsync/pubsub"
	"github.com/sfsync/sfsync/salesforce"
	"github.com/sfsync/sfsync/salesforce/salesforcetest"
	"github.com/sfsync/sfsync/store/memory"
	"github.com/sfsync/sfsync/sync"
	"github.com/sfsync/sfsync/sync/synctest"
)

func main() {
	db := flag.String("db", os.Getenv("SFSYNC_TEST_POSTGRES"), "PostgreSQL connection string (default $SFSYNC_TEST_POSTGRES)")
	schema := flag.String("schema", "salesforce_demo", "schema of the mirrored tables (created if missing; nothing in it is dropped)")
	flag.Parse()
	if *db == "" {
		fmt.Fprintln(os.Stderr, "pgmirror: no database: pass -db or set SFSYNC_TEST_POSTGRES (eval \"$(bash .ci/start-postgres.sh)\" starts one)")
		os.Exit(2)
	}
	if err := run(context.Background(), os.Stdout, *db, *schema); err != nil {
		fmt.Fprintln(os.Stderr, "pgmirror:", err)
		os.Exit(1)
	}
}

func mappings() (contact, account *sync.Mapping) {
	contact = &sync.Mapping{Object: "Contact", External: "contact", LinkField: "External_Id__c", Fields: []sync.Field{
		{Salesforce: "FirstName", External: "first_name"},
		{Salesforce: "LastName", External: "last_name"},
		{Salesforce: "Email", External: "email"},
		{Salesforce: "Phone", External: "phone"},
		{Salesforce: "DoNotCall", External: "do_not_call"},
	}}
	account = &sync.Mapping{Object: "Account", External: "account", LinkField: "External_Id__c", Fields: []sync.Field{
		{Salesforce: "Name", External: "name"},
		{Salesforce: "Industry", External: "industry"},
		{Salesforce: "AnnualRevenue", External: "annual_revenue"},
	}}
	return contact, account
}

func run(ctx context.Context, out io.Writer, dsn, schema string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))

	// The fake org: OAuth and REST over HTTPS, change events over gRPC with
	// TLS, as Salesforce serves them; its certificates are trusted through
	// org.Client() and org.ClientTLSConfig().
	org := salesforcetest.NewOrg()
	defer org.Close()
	clientID, secret := org.ClientCredentials()
	tokens := salesforce.ClientCredentials(salesforce.ClientCredentialsConfig{TokenURL: org.URL(), ClientID: clientID, ClientSecret: secret, HTTPClient: org.Client()})
	tok, err := tokens.Token(ctx)
	if err != nil {
		return err
	}
	sf := salesforce.New(tokens, salesforce.WithHTTPClient(org.Client()), salesforce.WithClientID("sfsync"), salesforce.WithLogger(quiet))
	ps, err := pubsub.Dial(org.PubSub().Addr(), salesforce.PubSubTokens(tokens), pubsub.WithTLSConfig(org.ClientTLSConfig()), pubsub.WithLogger(quiet))
	if err != nil {
		return err
	}
	defer ps.Close()
	contacts := ps.Subscribe("/data/ContactChangeEvent")
	defer contacts.Close()
	accounts := ps.Subscribe("/data/AccountChangeEvent")
	defer accounts.Close()

	// The mirror: one table per object, a capture trigger, and columns
	// typed as the org describes the fields (DoNotCall boolean,
	// AnnualRevenue numeric, the rest text).
	contact, account := mappings()
	contactDescribe, err := sf.Describe(ctx, "Contact")
	if err != nil {
		return err
	}
	accountDescribe, err := sf.Describe(ctx, "Account")
	if err != nil {
		return err
	}
	mirror, err := pgmirror.Open(ctx, dsn, pgmirror.WithSchema(schema), pgmirror.WithLogger(quiet),
		pgmirror.WithTable(pgmirror.Table{Mapping: contact, Types: pgmirror.TypesFrom(contact, contactDescribe)}),
		pgmirror.WithTable(pgmirror.Table{Mapping: account, Types: pgmirror.TypesFrom(account, accountDescribe)}))
	if err != nil {
		return err
	}
	defer mirror.Close()
	local := mirror.Source()
	defer local.Close()
	fmt.Fprintf(out, "== mirroring Contact and Account of org %s into schema %s\n", tok.OrgID, schema)

	fields := map[string][]string{
		"Contact": {"FirstName", "LastName", "Email", "Phone", "DoNotCall", "External_Id__c"},
		"Account": {"Name", "Industry", "AnnualRevenue", "External_Id__c"},
	}
	sink := salesforce.NewSink(sf, salesforce.WithExternalID("Contact", "External_Id__c"), salesforce.WithExternalID("Account", "External_Id__c"),
		salesforce.WithReadFields("Contact", fields["Contact"]...), salesforce.WithReadFields("Account", fields["Account"]...))
	state := memory.New()
	prog := synctest.NewProgress()
	engine, err := sync.New(mirror.LearnIDs(prog.Watch(contacts)), nil,
		sync.WithSource(mirror.LearnIDs(prog.Watch(accounts))),
		sync.WithSource(prog.Watch(local)),
		sync.WithLogger(quiet), sync.WithTenant(tok.OrgID), sync.WithClientID("sfsync"), sync.WithStore(state),
		sync.WithMapping(contact), sync.WithMapping(account),
		sync.WithLinkReader(salesforce.NewAuthority(sf, fields)),
		// Salesforce owns Email; everything else is last write wins, on the
		// rows' per-field versions.
		sync.WithPolicy(conflict.FieldOwnership(conflict.Owners{"Email": sfsync.Salesforce}, conflict.LastWriteWins())),
		sync.WithRoute(sync.Route{From: sfsync.Salesforce, Sink: mirror}),
		sync.WithRoute(sync.Route{From: mirror.System(), Sink: mirror.Track(sink)}),
	)
	if err != nil {
		return err
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- engine.Run(runCtx) }()

	pool := mirror.Pool()
	ct, _ := mirror.Table("contact")
	at, _ := mirror.Table("account")
	sqlExec := func(q string, args ...any) error {
		fmt.Fprintf(out, "psql> %s\n", q)
		_, err := pool.Exec(ctx, q, args...)
		return err
	}
	printed := 0
	step := func(title string, outcomes int, act func() error) error {
		fmt.Fprintf(out, "\n== %s\n", title)
		// The fake org stamps changes with whole seconds, as Salesforce's
		// examples do; each step starts in a new second so that last write
		// wins sees the steps in the order they are made.
		time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second)))
		if err := act(); err != nil {
			return err
		}
		var all []sfsync.Outcome
		err := prog.Until(ctx, title, func() bool {
			all, err = state.Outcomes(ctx, sfsync.OutcomeQuery{})
			return err == nil && len(all) >= printed+outcomes
		})
		if err != nil {
			return err
		}
		fresh := all[printed:]
		printed = len(all)
		slices.SortStableFunc(fresh, func(a, b sfsync.Outcome) int { return cmpStrings(string(a.Source), string(b.Source)) })
		for _, o := range fresh {
			fmt.Fprintf(out, "%-17s %-9s %-36s → %-17s %-13s %s\n", o.Source, o.Object, o.RecordID, o.Destination, o.Status, o.Reason)
		}
		return nil
	}

	var ada, acme string
	steps := []struct {
		title    string
		outcomes int
		act      func() error
	}{
		{"a Salesforce user creates a contact and an account: both become rows", 2, func() error {
			ada = org.Insert("Contact", map[string]any{"FirstName": "Ada", "LastName": "Lovelace", "Email": "ada@example.com", "Phone": "111", "DoNotCall": true})
			acme = org.Insert("Account", map[string]any{"Name": "Acme", "Industry": "Machinery", "AnnualRevenue": 1200000.0})
			return nil
		}},
		{"UPDATE in PostgreSQL: written to Salesforce; its change event comes back as our echo, ignored", 2, func() error {
			return sqlExec(`UPDATE `+ct+` SET phone = '222' WHERE sfid = $1`, ada)
		}},
		{"UPDATE of Email in PostgreSQL: Salesforce owns Email, so the policy keeps Salesforce's, and the engine puts it back in the row", 2, func() error {
			return sqlExec(`UPDATE `+ct+` SET email = 'ada@local.example' WHERE sfid = $1`, ada)
		}},
		{"INSERT in PostgreSQL: upserted into Salesforce by its link (a retry cannot duplicate it); the Salesforce id is written back", 2, func() error {
			return sqlExec(`INSERT INTO ` + ct + ` (first_name, last_name, email, phone) VALUES ('Grace', 'Hopper', 'grace@example.com', '333')`)
		}},
		{"a Salesforce user edits the new contact: the change reaches the same row, by its link", 1, func() error {
			var id string
			if err := pool.QueryRow(ctx, `SELECT sfid FROM `+ct+` WHERE last_name = 'Hopper' AND sfid IS NOT NULL`).Scan(&id); err != nil {
				return fmt.Errorf("the Salesforce id was not written back to the inserted row: %w", err)
			}
			return org.EditAsUser("Contact", id, map[string]any{"Title": "Rear Admiral", "Phone": "334"})
		}},
		{"UPDATE of an account's revenue in PostgreSQL, numeric to Salesforce's double", 2, func() error {
			return sqlExec(`UPDATE `+at+` SET annual_revenue = annual_revenue * 2 WHERE sfid = $1`, acme)
		}},
		{"DELETE in PostgreSQL: the contact is deleted in Salesforce", 2, func() error {
			return sqlExec(`DELETE FROM `+ct+` WHERE sfid = $1`, ada)
		}},
	}
	for _, s := range steps {
		if err := step(s.title, s.outcomes, s.act); err != nil {
			stop()
			<-done
			return err
		}
	}
	stop()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		return err
	}

	fmt.Fprintln(out, "\n== the tables, as SQL sees them")
	for _, q := range []string{
		`SELECT coalesce(sfid, '-'), coalesce(external_id__c, '-'), first_name || ' ' || last_name, coalesce(email, '-'), coalesce(phone, '-'), is_deleted, coalesce(sfsync_last_op, 'local') FROM ` + ct + ` ORDER BY id`,
		`SELECT coalesce(sfid, '-'), coalesce(external_id__c, '-'), name, coalesce(industry, '-'), coalesce(annual_revenue::text, '-'), is_deleted, coalesce(sfsync_last_op, 'local') FROM ` + at + ` ORDER BY id`,
	} {
		rows, err := pool.Query(ctx, q)
		if err != nil {
			return err
		}
		for rows.Next() {
			var sfid, link, name, a, b, op string
			var deleted bool
			if err := rows.Scan(&sfid, &link, &name, &a, &b, &deleted, &op); err != nil {
				rows.Close()
				return err
			}
			if len(link) > 8 {
				link = link[:8] + "…"
			}
			fmt.Fprintf(out, "%-18s %-9s %-14s %-20s %-10s deleted=%-5v last op %s\n", sfid, link, name, a, b, deleted, op)
		}
		rows.Close()
	}
	fmt.Fprintln(out, "\n== the outbox of local changes (state per change, as operators query it)")
	rows, err := pool.Query(ctx, `SELECT id, tbl, op, state, coalesce(error_message, '') FROM `+pgmirrorOutbox(mirror)+` ORDER BY id`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var tbl, op, st, msg string
		if err := rows.Scan(&id, &tbl, &op, &st, &msg); err != nil {
			return err
		}
		fmt.Fprintf(out, "%3d %-8s %-7s %-8s %s\n", id, tbl, op, st, msg)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, id := range []string{ada} {
		rec, ok := org.Record("Contact", id)
		fmt.Fprintf(out, "\nin Salesforce, contact %s exists: %v %v\n", id, ok && rec["IsDeleted"] != true, rec["Phone"])
	}
	s := engine.Stats()
	fmt.Fprintf(out, "stats: processed %d, applied %d, echoes %d, conflicts %d, dead letters %d\n", s.Processed, s.Applied, s.Echoes, s.Conflicts, s.DeadLetters)
	return nil
}

func pgmirrorOutbox(m *pgmirror.Mirror) string {
	return fmt.Sprintf("%q.sfsync_outbox", m.Schema())
}

func cmpStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
