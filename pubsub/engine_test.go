package pubsub_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/internal/cdcschema"
	"github.com/sfsync/sfsync/pubsub"
	"github.com/sfsync/sfsync/pubsub/pubsubtest"
	"github.com/sfsync/sfsync/store/memory"
	"github.com/sfsync/sfsync/store/sqlite"
	"github.com/sfsync/sfsync/sync"
	"github.com/sfsync/sfsync/sync/synctest"
)

// The engine consumes Account change events through a Pub/Sub
// subscription that the server drops and duplicates, and keeps an external
// system exactly in step: every change has one outcome and took effect once.
func TestEngineOverPubSubWithDisconnectsAndDuplicates(t *testing.T) {
	e := newEnv(t, nil)
	const records, updates = 40, 5
	var last []byte
	for u := range updates {
		for r := range records {
			key, commit := e.txs.Next()
			payload, err := e.account.Encode(cdcschema.Header{
				RecordIDs: []string{fmt.Sprintf("001%015d", r)}, ChangeType: "UPDATE",
				ChangeOrigin: "com/salesforce/api/soap/62.0;client=SfdcInternalAPI/", TransactionKey: key,
				SequenceNumber: 1, CommitTimestamp: int64(1714156703000 + u*1000), CommitNumber: commit, CommitUser: "005000000000009AAA",
				ChangedFields: []string{"Industry", "BillingAddress.Street", "LastModifiedDate"},
			}, map[string]any{"Industry": fmt.Sprintf("industry-%d", u), "BillingAddress.Street": fmt.Sprintf("%d Main St", u), "LastModifiedDate": int64(1714156703000 + u*1000)})
			if err != nil {
				t.Fatal(err)
			}
			if last, err = e.srv.AppendEncoded(topic, e.schemaID, payload); err != nil {
				t.Fatal(err)
			}
		}
	}
	e.srv.InjectFault(pubsubtest.Fault{DisconnectAfter: 70, DuplicateNext: 30})

	erp := synctest.NewSystem(sfsync.External("erp"))
	store, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "state.db"), sqlite.WithLogger(quiet()))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	src := e.client.Subscribe(topic, pubsub.WithWindow(25), fastRetry(), pubsub.WithJitterSeed(3))
	defer src.Close()
	prog := synctest.NewProgress()
	engine, err := sync.New(prog.Watch(src), erp,
		sync.WithLogger(quiet()), sync.WithTenant(creds.TenantID), sync.WithStore(store),
		sync.WithMapping(&sync.Mapping{Object: "Account", External: "company", Fields: []sync.Field{
			{Salesforce: "Industry", External: "industry"},
			{Salesforce: "BillingStreet", External: "street"},
		}}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- engine.Run(runCtx) }()
	if err := prog.Until(ctx, "the checkpoint at the last event", func() bool {
		cp, err := store.LoadCheckpoint(ctx, topic)
		return err == nil && string(cp.Token) == string(last)
	}); err != nil {
		t.Fatal(err)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	for r := range records {
		rec, ok := erp.Record("company", fmt.Sprintf("001%015d", r))
		if !ok || rec.Fields["industry"] != fmt.Sprintf("industry-%d", updates-1) || rec.Fields["street"] != fmt.Sprintf("%d Main St", updates-1) {
			t.Fatalf("record %d in the external system = %v", r, rec.Fields)
		}
	}
	for key, n := range erp.AppliedKeys() {
		if n != 1 {
			t.Errorf("change %s took effect %d times", key, n)
		}
	}
	outcomes, err := store.Outcomes(ctx, sfsync.OutcomeQuery{})
	if err != nil {
		t.Fatal(err)
	}
	// Every change has exactly one deciding outcome; redeliveries are
	// recorded as recognised duplicates.
	perKey, duplicates := map[string]int{}, 0
	for _, o := range outcomes {
		if o.Status == sfsync.StatusDuplicate {
			duplicates++
			continue
		}
		perKey[o.Key]++
	}
	if len(perKey) != records*updates {
		t.Errorf("%d changes have outcomes, want %d", len(perKey), records*updates)
	}
	for k, n := range perKey {
		if n != 1 {
			t.Errorf("change %s has %d deciding outcomes", k, n)
		}
	}
	if duplicates == 0 {
		t.Error("no redelivery was recognised as a duplicate; the faults did not bite")
	}
	if st := src.Stats(); st.Reconnects == 0 {
		t.Errorf("the server's disconnect did not happen: %+v", st)
	}
	cp, err := store.LoadCheckpoint(ctx, topic)
	if err != nil || string(cp.Token) != string(last) {
		t.Errorf("checkpoint %x (%v), want the last replay id %x", cp.Token, err, last)
	}
}

// On a quiet topic the checkpoint follows the keepalives' replay ids, so a
// restart after days without events resumes inside the retention instead of
// backfilling.
func TestEngineCheckpointsKeepaliveReplayIDs(t *testing.T) {
	e := newEnv(t, nil, pubsubtest.WithKeepalive(5*time.Millisecond))
	e.appendUpdates(t, 0, 3)
	// Events on another topic move the bus past this topic's last event.
	other, err := cdcschema.New("Contact", cdcschema.ContactFields()...)
	if err != nil {
		t.Fatal(err)
	}
	otherID, err := e.srv.AddTopic("/data/ContactChangeEvent", other.JSON)
	if err != nil {
		t.Fatal(err)
	}
	key, commit := e.txs.Next()
	payload, err := other.Encode(cdcschema.Header{RecordIDs: []string{"003A"}, ChangeType: "DELETE", TransactionKey: key, SequenceNumber: 1, CommitNumber: commit}, nil)
	if err != nil {
		t.Fatal(err)
	}
	newest, err := e.srv.AppendEncoded("/data/ContactChangeEvent", otherID, payload)
	if err != nil {
		t.Fatal(err)
	}

	store := memory.New()
	erp := synctest.NewSystem(sfsync.External("erp"))
	src := e.client.Subscribe(topic, fastRetry())
	defer src.Close()
	prog := synctest.NewProgress()
	engine, err := sync.New(prog.Watch(src), erp, sync.WithLogger(quiet()), sync.WithTenant(creds.TenantID), sync.WithStore(store),
		sync.WithMapping(&sync.Mapping{Object: "Account", External: "company", Fields: []sync.Field{{Salesforce: "Industry", External: "industry"}}}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- engine.Run(runCtx) }()
	if err := prog.Until(ctx, "the checkpoint at the keepalive's replay id", func() bool {
		cp, err := store.LoadCheckpoint(ctx, topic)
		return err == nil && string(cp.Token) == string(newest)
	}); err != nil {
		t.Fatal(err)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if rec, ok := erp.Record("company", fmt.Sprintf("001%015d", i)); !ok || rec.Fields["industry"] != fmt.Sprintf("I%d", i) {
			t.Errorf("company %d = %v", i, rec.Fields)
		}
	}
	if outcomes := must(store.Outcomes(ctx, sfsync.OutcomeQuery{})); len(outcomes) != 3 {
		t.Errorf("%d outcomes, want 3: keepalives record none", len(outcomes))
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
