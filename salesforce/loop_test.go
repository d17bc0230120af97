package salesforce_test

import (
	"context"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/pubsub"
	"github.com/sfsync/sfsync/salesforce"
	"github.com/sfsync/sfsync/salesforce/salesforcetest"
	"github.com/sfsync/sfsync/store/memory"
	"github.com/sfsync/sfsync/sync"
	"github.com/sfsync/sfsync/sync/synctest"
)

// A change written back to Salesforce comes back through CDC marked with
// our client id and is recognised as an echo, not written to the external
// system again; a Salesforce user's edit reaches the external system, whose
// own echo of that write is not written back to Salesforce.
func TestLoopPreventionThroughTheFakeOrg(t *testing.T) {
	org := salesforcetest.NewOrg()
	defer org.Close()
	tokens := salesforce.StaticToken(salesforce.Token{AccessToken: org.AccessToken(), InstanceURL: org.URL(), OrgID: org.OrgID(), UserID: org.IntegrationUserID()})
	sf := salesforce.New(tokens, salesforce.WithHTTPClient(org.Client()), salesforce.WithLogger(discard()), salesforce.WithClientID("sfsync"))
	ps, err := pubsub.Dial(org.PubSub().Addr(), salesforce.PubSubTokens(tokens), pubsub.WithTLSConfig(org.ClientTLSConfig()), pubsub.WithLogger(discard()))
	if err != nil {
		t.Fatal(err)
	}
	defer ps.Close()
	sub := ps.Subscribe("/data/ContactChangeEvent", pubsub.WithFallback(pubsub.ReplayEarliest))
	defer sub.Close()

	erpLog := synctest.NewLog("erp/person")
	erp := synctest.NewSystem(sfsync.External("erp"), synctest.WithFeed(erpLog))
	sink := salesforce.NewSink(sf, salesforce.WithExternalID("Contact", "External_Id__c"), salesforce.WithReadFields("Contact", "LastName", "Email", "External_Id__c"))
	state := memory.New()
	prog := synctest.NewProgress()
	engine, err := sync.New(prog.Watch(sub), nil,
		sync.WithSource(prog.Watch(erpLog.Source())),
		sync.WithLogger(discard()), sync.WithTenant(org.OrgID()), sync.WithClientID("sfsync"), sync.WithStore(state),
		sync.WithLinkReader(salesforce.NewAuthority(sf, map[string][]string{"Contact": {"External_Id__c"}})),
		sync.WithMapping(&sync.Mapping{Object: "Contact", External: "person", LinkField: "External_Id__c", Fields: []sync.Field{
			{Salesforce: "LastName", External: "last_name"},
			{Salesforce: "Email", External: "email"},
		}}),
		sync.WithRoute(sync.Route{From: sfsync.Salesforce, Object: "Contact", Sink: erp}),
		sync.WithRoute(sync.Route{From: sfsync.External("erp"), Sink: sink}),
	)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- engine.Run(runCtx) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()

	outcomes := func(status sfsync.Status, from sfsync.System) int {
		all, err := state.Outcomes(ctx, sfsync.OutcomeQuery{})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, o := range all {
			if o.Status == status && o.Source == from {
				n++
			}
		}
		return n
	}

	// 1. The ERP creates a person; the engine upserts it into Salesforce,
	// whose CDC event carries client=sfsync and is skipped as an echo.
	erp.Edit("person", "P-1", map[string]any{"last_name": "Lovelace", "email": "ada@example.com"}, sfsync.Version{Time: time.Now(), Counter: 1})
	if err := prog.Until(ctx, "the Salesforce echo of the upsert", func() bool { return outcomes(sfsync.StatusEcho, sfsync.Salesforce) == 1 }); err != nil {
		t.Fatal(err)
	}
	recs := org.Records("Contact")
	if len(recs) != 1 || recs[0]["LastName"] != "Lovelace" || recs[0]["External_Id__c"] != "P-1" {
		t.Fatalf("Salesforce contacts = %v", recs)
	}
	if changes, _ := erp.Writes(); changes != 0 {
		t.Fatalf("the echo of our own write reached the ERP: %d writes", changes)
	}

	// 2. A Salesforce user creates a contact: it reaches the ERP, and the
	// ERP's outbox echo of that write is not written back to Salesforce.
	apiWrites := org.Writes()
	id := org.Insert("Contact", map[string]any{"LastName": "Hopper", "Email": "grace@example.com"})
	if err := prog.Until(ctx, "the ERP echo of the write", func() bool { return outcomes(sfsync.StatusEcho, sfsync.External("erp")) == 1 }); err != nil {
		t.Fatal(err)
	}
	rec, ok := erp.Record("person", id)
	if !ok || rec.Fields["last_name"] != "Hopper" || rec.Fields["email"] != "grace@example.com" {
		t.Fatalf("ERP person %s = %v", id, rec.Fields)
	}
	if n := org.Writes(); n != apiWrites {
		t.Fatalf("the ERP's echo was written back to Salesforce: %d API writes, want %d", n, apiWrites)
	}

	// 3. A Salesforce user edits the contact the ERP created: the change
	// reaches the ERP under the ERP's own id, not as a new person.
	var p1 string
	for _, r := range org.Records("Contact") {
		if r["External_Id__c"] == "P-1" {
			p1, _ = r["Id"].(string)
		}
	}
	if err := org.EditAsUser("Contact", p1, map[string]any{"Email": "ada@new.example"}); err != nil {
		t.Fatal(err)
	}
	if err := prog.Until(ctx, "the edit to reach person P-1", func() bool {
		rec, _ := erp.Record("person", "P-1")
		return rec.Fields["email"] == "ada@new.example"
	}); err != nil {
		t.Fatal(err)
	}
	if _, ok := erp.Record("person", p1); ok {
		t.Fatalf("the contact created by the ERP came back to it under its Salesforce id %s", p1)
	}

	// 4. The user deletes that contact: the deletion reaches person P-1.
	if err := org.DeleteAsUser("Contact", p1); err != nil {
		t.Fatal(err)
	}
	if err := prog.Until(ctx, "the deletion to reach person P-1", func() bool {
		rec, _ := erp.Record("person", "P-1")
		return rec.Deleted
	}); err != nil {
		t.Fatal(err)
	}
}
