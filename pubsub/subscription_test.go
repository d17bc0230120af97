package pubsub_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	stdsync "sync"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/internal/cdcschema"
	"github.com/sfsync/sfsync/pubsub"
	"github.com/sfsync/sfsync/pubsub/pubsubtest"
	"github.com/sfsync/sfsync/store/memory"
)

const topic = "/data/AccountChangeEvent"

var creds = pubsub.Credentials{AccessToken: "token", InstanceURL: "https://fake.my.salesforce.com", TenantID: "00D000000000001AAA"}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

type clock struct {
	mu  stdsync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

type env struct {
	srv      *pubsubtest.Server
	client   *pubsub.Client
	account  *cdcschema.Schema
	schemaID string
	txs      *cdcschema.Transactions
}

func newEnv(t *testing.T, tokens pubsub.TokenSource, opts ...pubsubtest.Option) *env {
	t.Helper()
	srv := pubsubtest.NewServer(opts...)
	t.Cleanup(srv.Close)
	account, err := cdcschema.New("Account", cdcschema.AccountFields()...)
	if err != nil {
		t.Fatal(err)
	}
	id, err := srv.AddTopic(topic, account.JSON)
	if err != nil {
		t.Fatal(err)
	}
	if tokens == nil {
		tokens = pubsub.StaticToken(creds)
	}
	client, err := pubsub.Dial(srv.Addr(), tokens, transport(srv), pubsub.WithLogger(quiet()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	return &env{srv: srv, client: client, account: account, schemaID: id, txs: cdcschema.NewTransactions()}
}

// transport trusts srv: its certificate, or plaintext when it serves that.
func transport(srv *pubsubtest.Server) pubsub.Option {
	if cfg := srv.ClientTLSConfig(); cfg != nil {
		return pubsub.WithTLSConfig(cfg)
	}
	return pubsub.WithInsecure()
}

// appendUpdates appends n Account updates, record i setting Industry to
// "I<i>", each its own transaction.
func (e *env) appendUpdates(t *testing.T, from, n int) [][]byte {
	t.Helper()
	var ids [][]byte
	for i := from; i < from+n; i++ {
		_, commit := e.txs.Next()
		payload, err := e.account.Encode(cdcschema.Header{
			RecordIDs: []string{fmt.Sprintf("001%015d", i)}, ChangeType: "UPDATE", TransactionKey: fmt.Sprintf("tx-%d", i),
			SequenceNumber: 1, CommitTimestamp: 1714156703000, CommitNumber: commit, ChangedFields: []string{"Industry", "LastModifiedDate"},
		}, map[string]any{"Industry": fmt.Sprintf("I%d", i), "LastModifiedDate": int64(1714156703000)})
		if err != nil {
			t.Fatal(err)
		}
		id, err := e.srv.AppendEncoded(topic, e.schemaID, payload)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

func fastRetry() pubsub.SubscribeOption {
	return pubsub.WithBackOff(func() backoff.BackOff { return &backoff.ZeroBackOff{} })
}

// consume receives until every record of 0..n-1 was seen, committing each
// delivery, and returns how often each record arrived.
func consume(t *testing.T, sub *pubsub.Subscription, n int) map[string]int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	seen := map[string]int{}
	for len(seen) < n {
		changes, err := sub.Receive(ctx)
		if err != nil {
			t.Fatalf("after %d records: %v", len(seen), err)
		}
		for _, c := range changes {
			if want := "I" + strings.TrimLeft(c.RecordID[3:], "0"); c.Fields["Industry"] != want && !(want == "I" && c.Fields["Industry"] == "I0") {
				t.Fatalf("record %s carries %v", c.RecordID, c.Fields)
			}
			seen[c.RecordID]++
		}
		if err := sub.Commit(ctx, changes[len(changes)-1].Position); err != nil {
			t.Fatal(err)
		}
	}
	return seen
}

func TestSubscriptionDeliversInOrderWithinTheWindow(t *testing.T) {
	e := newEnv(t, nil)
	e.appendUpdates(t, 0, 250)
	sub := e.client.Subscribe(topic, pubsub.WithWindow(20), pubsub.WithFallback(pubsub.ReplayEarliest), fastRetry())
	defer sub.Close()
	ctx := context.Background()
	for i := range 250 {
		changes, err := sub.Receive(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(changes) != 1 || changes[0].RecordID != fmt.Sprintf("001%015d", i) || changes[0].Op != sfsync.OpUpdate {
			t.Fatalf("delivery %d = %v", i, changes)
		}
		if changes[0].Position.Stream != topic || len(changes[0].Position.Token) == 0 {
			t.Fatalf("delivery %d has position %+v", i, changes[0].Position)
		}
	}
	if st := e.srv.Stats(); st.MaxOwed > 20 {
		t.Errorf("server owed up to %d events, window is 20", st.MaxOwed)
	}
	if st := sub.Stats(); st.MaxOwed > 20 || st.Events != 250 {
		t.Errorf("subscription stats %+v", st)
	}
}

func TestSubscriptionResumesAfterDisconnectAfterTheLastReceivedEvent(t *testing.T) {
	e := newEnv(t, nil)
	e.appendUpdates(t, 0, 200)
	e.srv.InjectFault(pubsubtest.Fault{DisconnectAfter: 45})
	sub := e.client.Subscribe(topic, pubsub.WithWindow(10), fastRetry(), pubsub.WithJitterSeed(1))
	defer sub.Close()
	seen := consume(t, sub, 200)
	if len(seen) != 200 {
		t.Fatalf("saw %d records, want 200", len(seen))
	}
	if st := sub.Stats(); st.Reconnects == 0 {
		t.Errorf("no reconnect after the server dropped the stream: %+v", st)
	}
	// What arrived before the disconnect is queued or with the consumer:
	// the new stream starts after it and redelivers nothing.
	dups := 0
	for _, n := range seen {
		dups += n - 1
	}
	if dups > 0 {
		t.Errorf("%d duplicate deliveries after the reconnect, want none", dups)
	}
}

func TestSubscriptionResumesFromStoredCheckpoint(t *testing.T) {
	e := newEnv(t, nil)
	ids := e.appendUpdates(t, 0, 30)
	store := memory.New()
	ctx := context.Background()
	if err := store.SaveCheckpoint(ctx, sfsync.Position{Stream: topic, Token: ids[19]}); err != nil {
		t.Fatal(err)
	}
	sub := e.client.Subscribe(topic, fastRetry())
	defer sub.Close()
	if err := sub.Resume(ctx, store); err != nil {
		t.Fatal(err)
	}
	changes, err := sub.Receive(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := changes[0].RecordID; got != fmt.Sprintf("001%015d", 20) {
		t.Fatalf("resumed at %s, want the event after the checkpoint (record 20)", got)
	}
}

func TestSubscriptionReportsExpiredReplayID(t *testing.T) {
	clk := &clock{now: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}
	e := newEnv(t, nil, pubsubtest.WithClock(clk.Now))
	ids := e.appendUpdates(t, 0, 5)
	clk.Advance(73 * time.Hour)
	store := memory.New()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := store.SaveCheckpoint(ctx, sfsync.Position{Stream: topic, Token: ids[2]}); err != nil {
		t.Fatal(err)
	}
	sub := e.client.Subscribe(topic, fastRetry())
	defer sub.Close()
	if err := sub.Resume(ctx, store); err != nil {
		t.Fatal(err)
	}
	_, err := sub.Receive(ctx)
	if !errors.Is(err, pubsub.ErrReplayUnavailable) || !errors.Is(err, sfsync.ErrPositionUnavailable) {
		t.Fatalf("Receive after retention = %v, want ErrReplayUnavailable", err)
	}
	// After the hand-over the subscription continues from its fallback:
	// the expired events are gone, a new one arrives.
	e.appendUpdates(t, 5, 1)
	changes, err := sub.Receive(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if changes[0].RecordID != fmt.Sprintf("001%015d", 5) {
		t.Fatalf("after the fallback got %s", changes[0].RecordID)
	}
}

// rotatingTokens hands out a stale token first and a fresh one on refresh.
type rotatingTokens struct {
	mu        stdsync.Mutex
	current   string
	next      string
	refreshes int
}

func (r *rotatingTokens) Token(context.Context) (pubsub.Credentials, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := creds
	c.AccessToken = r.current
	return c, nil
}

func (r *rotatingTokens) Refresh(ctx context.Context) (pubsub.Credentials, error) {
	r.mu.Lock()
	r.current = r.next
	r.refreshes++
	r.mu.Unlock()
	return r.Token(ctx)
}

func TestTokenRefreshOnUnauthenticated(t *testing.T) {
	tokens := &rotatingTokens{current: "expired-secret", next: "fresh-secret"}
	e := newEnv(t, tokens, pubsubtest.WithTokens("fresh-secret"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	info, err := e.client.GetTopic(ctx, topic)
	if err != nil {
		t.Fatalf("GetTopic after a refresh: %v", err)
	}
	if info.SchemaID != e.schemaID || !info.CanSubscribe {
		t.Errorf("topic info %+v", info)
	}
	// The server rotates tokens: the stream's first attempt fails, the
	// subscription refreshes and reconnects.
	e.srv.SetTokens("rotated-secret")
	tokens.mu.Lock()
	tokens.next = "rotated-secret"
	tokens.mu.Unlock()
	e.appendUpdates(t, 0, 3)
	sub := e.client.Subscribe(topic, fastRetry())
	defer sub.Close()
	consume(t, sub, 3)
	if tokens.refreshes < 2 {
		t.Errorf("%d refreshes, want one per rejection", tokens.refreshes)
	}

	// A token the server never accepts: the error says so without the token.
	bad := newEnv(t, pubsub.StaticToken(pubsub.Credentials{AccessToken: "never-valid-secret", TenantID: creds.TenantID, InstanceURL: creds.InstanceURL}))
	_, err = bad.client.GetTopic(ctx, topic)
	if !errors.Is(err, pubsub.ErrUnauthenticated) || sfsync.KindOf(err) != sfsync.KindAuth {
		t.Fatalf("GetTopic with a bad token = %v", err)
	}
	if strings.Contains(err.Error(), "secret") || strings.Contains(fmt.Sprint(pubsub.Credentials{AccessToken: "a-secret"}), "secret") {
		t.Fatalf("a token leaked into an error or a string: %v", err)
	}
}

// The client dials TLS by default; against a TLS server it authenticates
// and subscribes as over plaintext, and it refuses a server it does not
// trust.
func TestTLS(t *testing.T) {
	srv := pubsubtest.NewServer()
	defer srv.Close()
	account, err := cdcschema.New("Account", cdcschema.AccountFields()...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.AddTopic(topic, account.JSON); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client, err := pubsub.Dial(srv.Addr(), pubsub.StaticToken(creds), pubsub.WithTLSConfig(srv.ClientTLSConfig()), pubsub.WithLogger(quiet()))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	if info, err := client.GetTopic(ctx, topic); err != nil || !info.CanSubscribe {
		t.Fatalf("GetTopic over TLS = %+v, %v", info, err)
	}
	untrusting, err := pubsub.Dial(srv.Addr(), pubsub.StaticToken(creds), pubsub.WithLogger(quiet()))
	if err != nil {
		t.Fatal(err)
	}
	defer untrusting.Close()
	if _, err := untrusting.GetTopic(ctx, topic); err == nil {
		t.Fatal("a client with the system roots trusted a self-signed server")
	}
}

// The org adds a field mid-stream: events after it carry a new schema id,
// whose bitmap positions differ, and still decode to the right fields.
func TestSubscriptionFollowsASchemaChange(t *testing.T) {
	e := newEnv(t, nil)
	e.appendUpdates(t, 0, 2)
	fields := slices.Insert(cdcschema.AccountFields(), 2, cdcschema.Field{Name: "RecordTypeId", Kind: cdcschema.String})
	v2, err := cdcschema.New("Account", fields...)
	if err != nil {
		t.Fatal(err)
	}
	v2ID, err := e.srv.SetSchema(topic, v2.JSON)
	if err != nil {
		t.Fatal(err)
	}
	v1ID := e.schemaID
	if v2ID == v1ID {
		t.Fatal("a changed schema kept its id")
	}
	e.account, e.schemaID = v2, v2ID
	e.appendUpdates(t, 2, 2)
	sub := e.client.Subscribe(topic, fastRetry())
	defer sub.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := range 4 {
		changes, err := sub.Receive(ctx)
		if err != nil {
			t.Fatal(err)
		}
		c := changes[0]
		if c.Fields["Industry"] != fmt.Sprintf("I%d", i) || len(c.Fields) != 2 {
			t.Fatalf("event %d (schema %s) decoded to %v", i, c.Schema, c.Fields)
		}
		if want := map[bool]string{true: v2ID, false: v1ID}[i >= 2]; c.Schema != want {
			t.Fatalf("event %d has schema %s, want %s", i, c.Schema, want)
		}
	}
}
