package salesforce_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/pubsub"
	"github.com/sfsync/sfsync/salesforce"
	"github.com/sfsync/sfsync/salesforce/salesforcetest"
)

// C3, C5: transient failures injected into the org are retryable, and the
// request after the fault succeeds.
func TestFakeOrgTransientFaultsAreRetryable(t *testing.T) {
	ctx := foCtx(t)
	org := salesforcetest.NewOrg()
	defer org.Close()
	c := orgClient(t, org)
	id := org.Insert("Contact", map[string]any{"LastName": "Locked"})

	for _, tc := range []struct {
		name   string
		fault  salesforcetest.Fault
		status int
		code   string
	}{
		{"lock contention", salesforcetest.Fault{Method: http.MethodPatch, PathContains: "/sobjects/Contact/", Code: "UNABLE_TO_LOCK_ROW"}, 400, "UNABLE_TO_LOCK_ROW"},
		{"record lock", salesforcetest.Fault{RecordID: id}, 400, "UNABLE_TO_LOCK_ROW"},
		{"server unavailable", salesforcetest.Fault{Status: 503, Code: "SERVER_UNAVAILABLE"}, 503, "SERVER_UNAVAILABLE"},
		{"unknown exception", salesforcetest.Fault{Status: 500, Code: "UNKNOWN_EXCEPTION"}, 500, "UNKNOWN_EXCEPTION"},
		{"HTML 502 from the edge", salesforcetest.Fault{Status: 502}, 502, ""},
		{"HTML 504 from the edge", salesforcetest.Fault{Status: 504}, 504, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			org.InjectFault(tc.fault)
			before := foUsed(org)
			clientUsed, _ := c.Usage()
			email := "after-" + strings.ReplaceAll(tc.name, " ", "-") + "@example.com"
			err := c.Update(ctx, "Contact", id, map[string]any{"Email": email})
			foWantKind(t, tc.name, err, sfsync.KindRetryable)
			ae := foAPIError(t, err)
			if ae.Status != tc.status || ae.Code != tc.code {
				t.Fatalf("APIError %d %q, want %d %q", ae.Status, ae.Code, tc.status, tc.code)
			}
			if tc.code == "" {
				// An HTML body is kept as text, not parsed as JSON, and
				// carries no Sforce-Limit-Info.
				if !strings.HasPrefix(ae.Body, "<html>") || !strings.Contains(err.Error(), fmt.Sprintf("HTTP %d", tc.status)) {
					t.Fatalf("HTML error body %q, message %v", ae.Body, err)
				}
				if strings.Contains(err.Error(), "decoding") {
					t.Fatalf("HTML body decoded as JSON: %v", err)
				}
				if foUsed(org) != before {
					t.Fatal("an edge error counted against the daily limit")
				}
				if u, _ := c.Usage(); u != clientUsed {
					t.Fatalf("client usage moved from %d to %d on an edge error", clientUsed, u)
				}
			} else if foUsed(org) != before+1 {
				t.Fatalf("%d calls counted, want 1", foUsed(org)-before)
			}
			if rec, _ := org.Record("Contact", id); rec["Email"] == email {
				t.Fatalf("a failed update wrote %v", rec["Email"])
			}
			// The fault is spent: the retry succeeds.
			if err := c.Update(ctx, "Contact", id, map[string]any{"Email": "ok@example.com"}); err != nil {
				t.Fatalf("retry: %v", err)
			}
		})
	}

	// A record fault inside a collection fails that record only.
	other := org.Insert("Contact", map[string]any{"LastName": "Free"})
	org.InjectFault(salesforcetest.Fault{RecordID: id, Code: "UNABLE_TO_LOCK_ROW"})
	res, err := c.UpdateRecords(ctx, "Contact", []map[string]any{{"Id": other, "Email": "free@example.com"}, {"Id": id, "Email": "locked@example.com"}}, false)
	if err != nil {
		t.Fatal(err)
	}
	if !res[0].Success {
		t.Fatalf("unlocked record: %+v", res[0])
	}
	foWantRecordError(t, "locked record", res[1], "UNABLE_TO_LOCK_ROW", sfsync.KindRetryable)
	if rec, _ := org.Record("Contact", id); rec["Email"] == "locked@example.com" {
		t.Fatal("the locked record was written")
	}
}

// C4: the daily limit is rate limiting (ErrDailyLimitExceeded); the
// concurrency limit is retryable and is not the daily limit.
func TestFakeOrgDailyLimit(t *testing.T) {
	ctx := foCtx(t)
	org := salesforcetest.NewOrg(salesforcetest.WithDailyLimit(2))
	defer org.Close()
	c := orgClient(t, org)
	for range 2 {
		if _, err := c.Limits(ctx); err != nil {
			t.Fatal(err)
		}
	}
	_, err := c.Create(ctx, "Contact", map[string]any{"LastName": "Over"})
	foWantKind(t, "call beyond the daily limit", err, sfsync.KindRateLimited)
	if !errors.Is(err, salesforce.ErrDailyLimitExceeded) {
		t.Fatalf("error %v does not match ErrDailyLimitExceeded", err)
	}
	if ae := foAPIError(t, err); ae.Status != http.StatusForbidden || ae.Code != "REQUEST_LIMIT_EXCEEDED" {
		t.Fatalf("APIError %d %s", ae.Status, ae.Code)
	}
	if used, max := c.Usage(); used != 2 || max != 2 {
		t.Fatalf("usage %d/%d, want 2/2", used, max)
	}
	if n := len(org.Records("Contact")); n != 0 {
		t.Fatal("a refused call wrote")
	}
	org.SetDailyLimit(10)
	if _, err := c.Create(ctx, "Contact", map[string]any{"LastName": "Later"}); err != nil {
		t.Fatalf("after the limit was raised: %v", err)
	}
}

func TestFakeOrgConcurrencyLimit(t *testing.T) {
	ctx := foCtx(t)
	org := salesforcetest.NewOrg(salesforcetest.WithConcurrencyLimit(1))
	defer org.Close()
	c := orgClient(t, org)
	block := make(chan struct{})
	released := false
	release := func() {
		if !released {
			released = true
			close(block)
		}
	}
	defer release()
	org.InjectFault(salesforcetest.Fault{Method: http.MethodGet, PathContains: "/limits", Block: block})
	held := make(chan error, 1)
	go func() {
		_, err := c.Limits(ctx)
		held <- err
	}()
	org.WaitInFlight(1)

	before := foUsed(org)
	_, err := c.Create(ctx, "Contact", map[string]any{"LastName": "Concurrent"})
	foWantKind(t, "call beyond the concurrency limit", err, sfsync.KindRetryable)
	if errors.Is(err, salesforce.ErrDailyLimitExceeded) {
		t.Fatalf("concurrency limit %v matches ErrDailyLimitExceeded", err)
	}
	ae := foAPIError(t, err)
	if ae.Status != http.StatusForbidden || ae.Code != "REQUEST_LIMIT_EXCEEDED" || !strings.Contains(ae.Message, "ConcurrentRequests") {
		t.Fatalf("APIError %d %s %q", ae.Status, ae.Code, ae.Message)
	}
	if foUsed(org) != before || len(org.Records("Contact")) != 0 {
		t.Fatal("a refused concurrent call counted or wrote")
	}
	release()
	if err := <-held; err != nil {
		t.Fatalf("held call: %v", err)
	}
	if _, err := c.Create(ctx, "Contact", map[string]any{"LastName": "Concurrent"}); err != nil {
		t.Fatalf("after the held call ended: %v", err)
	}
}

// C1, A10: every write carries Sforce-Call-Options client=sfsync, which the
// org puts into the changeOrigin of its change events.
func TestFakeOrgWritesCarryClientID(t *testing.T) {
	ctx := foCtx(t)
	org := salesforcetest.NewOrg()
	defer org.Close()
	id, secret := org.ClientCredentials()
	tokens := salesforce.ClientCredentials(salesforce.ClientCredentialsConfig{TokenURL: org.URL(), ClientID: id, ClientSecret: secret, HTTPClient: org.Client()})
	c := salesforce.New(tokens, salesforce.WithHTTPClient(org.Client()), salesforce.WithLogger(discard()))
	if c.ClientID() != "sfsync" {
		t.Fatalf("default client id %q", c.ClientID())
	}

	// Every kind of write.
	a, err := c.Create(ctx, "Contact", map[string]any{"LastName": "A"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Update(ctx, "Contact", a, map[string]any{"Email": "a@example.com"}); err != nil {
		t.Fatal(err)
	}
	up, err := c.Upsert(ctx, "Contact", "External_Id__c", "W-1", map[string]any{"LastName": "W"})
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.CreateRecords(ctx, "Contact", []map[string]any{{"LastName": "B"}}, false)
	if err != nil || res[0].Err() != nil {
		t.Fatal(err, res)
	}
	b := res[0].ID
	if res, err = c.UpdateRecords(ctx, "Contact", []map[string]any{{"Id": b, "Email": "b@example.com"}}, false); err != nil || res[0].Err() != nil {
		t.Fatal(err, res)
	}
	if res, err = c.UpsertRecords(ctx, "Contact", "External_Id__c", []map[string]any{{"External_Id__c": "W-1", "Email": "w@example.com"}}, false); err != nil || res[0].Err() != nil {
		t.Fatal(err, res)
	}
	if err := c.Delete(ctx, "Contact", a); err != nil {
		t.Fatal(err)
	}
	if res, err = c.DeleteRecords(ctx, []string{b}, false); err != nil || res[0].Err() != nil {
		t.Fatal(err, res)
	}
	// A UI edit ends the sequence.
	ui := org.Insert("Contact", map[string]any{"LastName": "UI"})

	ps, err := pubsub.Dial(org.PubSub().Addr(), salesforce.PubSubTokens(tokens), pubsub.WithTLSConfig(org.ClientTLSConfig()), pubsub.WithLogger(discard()))
	if err != nil {
		t.Fatal(err)
	}
	defer ps.Close()
	sub := ps.Subscribe("/data/ContactChangeEvent", pubsub.WithFallback(pubsub.ReplayEarliest))
	defer sub.Close()

	type seen struct {
		op     sfsync.Op
		record string
	}
	var got []seen
	for done := false; !done; {
		rctx, cancel := context.WithCancel(ctx)
		changes, err := sub.Receive(rctx)
		cancel()
		if err != nil {
			t.Fatalf("receive after %v: %v", got, err)
		}
		for _, ch := range changes {
			if ch.Tenant != org.OrgID() {
				t.Errorf("change tenant %q, want %q", ch.Tenant, org.OrgID())
			}
			if ch.RecordID == ui {
				if ch.Origin.Client == "sfsync" || ch.Origin.ChangeOrigin != salesforcetest.UIOrigin {
					t.Errorf("UI change origin %+v", ch.Origin)
				}
				done = true
				continue
			}
			got = append(got, seen{ch.Op, ch.RecordID})
			if ch.Origin.Client != "sfsync" || !strings.HasSuffix(ch.Origin.ChangeOrigin, ";client=sfsync") ||
				!strings.HasPrefix(ch.Origin.ChangeOrigin, "com/salesforce/api/rest/"+c.APIVersion()) || ch.Origin.User != org.IntegrationUserID() {
				t.Errorf("%v of %s: origin %+v; want client sfsync via REST %s by %s", ch.Op, ch.RecordID, ch.Origin, c.APIVersion(), org.IntegrationUserID())
			}
		}
	}
	// 8 API writes: create a, update a, upsert W-1, create b, update b,
	// upsert W-1, delete a, delete b.
	want := []seen{{sfsync.OpCreate, a}, {sfsync.OpUpdate, a}, {sfsync.OpCreate, up.ID}, {sfsync.OpCreate, b},
		{sfsync.OpUpdate, b}, {sfsync.OpUpdate, up.ID}, {sfsync.OpDelete, a}, {sfsync.OpDelete, b}}
	if len(got) != len(want) {
		t.Fatalf("API changes %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("change %d = %v, want %v (all %v)", i, got[i], want[i], got)
		}
	}
}
