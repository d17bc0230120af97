package salesforce_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/salesforce"
	"github.com/sfsync/sfsync/salesforce/salesforcetest"
	"github.com/sfsync/sfsync/throttle"
)

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func orgClient(t testing.TB, org *salesforcetest.Org, opts ...salesforce.Option) *salesforce.Client {
	t.Helper()
	tok := salesforce.StaticToken(salesforce.Token{AccessToken: org.AccessToken(), InstanceURL: org.URL(), OrgID: org.OrgID(), UserID: org.IntegrationUserID()})
	return salesforce.New(tok, append([]salesforce.Option{salesforce.WithHTTPClient(org.Client()), salesforce.WithLogger(discard())}, opts...)...)
}

func contactChange(ext string, i int, fields map[string]any) sfsync.Change {
	return sfsync.Change{Source: sfsync.External("erp"), Object: "Contact", RecordID: ext, Op: sfsync.OpUpdate,
		Fields: fields, Key: fmt.Sprintf("erp:%s:%d", ext, i), Version: sfsync.Version{Counter: int64(i + 1)}}
}

// 450 changes to 300 contacts cost two collections calls: changes to the
// same record coalesce, records go 200 to a call.
func TestSinkCoalescesAndBatches(t *testing.T) {
	org := salesforcetest.NewOrg()
	defer org.Close()
	sink := salesforce.NewSink(orgClient(t, org), salesforce.WithExternalID("Contact", "External_Id__c"))
	var changes []sfsync.Change
	for i := range 300 {
		changes = append(changes, contactChange(fmt.Sprintf("P-%03d", i), i, map[string]any{"LastName": fmt.Sprintf("Name%d", i), "Email": "old@example.com"}))
	}
	for i := range 150 {
		changes = append(changes, contactChange(fmt.Sprintf("P-%03d", i), 1000+i, map[string]any{"Email": fmt.Sprintf("new%d@example.com", i)}))
	}
	before, _ := org.APIUsage()
	if err := sink.Write(context.Background(), changes); err != nil {
		t.Fatal(err)
	}
	after, _ := org.APIUsage()
	if calls := after - before; calls != 2 {
		t.Errorf("%d API calls for 450 changes to 300 records, want 2", calls)
	}
	recs := org.Records("Contact")
	if len(recs) != 300 {
		t.Fatalf("%d contacts in the org, want 300", len(recs))
	}
	for _, r := range recs {
		var i int
		fmt.Sscanf(r["External_Id__c"].(string), "P-%03d", &i)
		wantEmail := "old@example.com"
		if i < 150 {
			wantEmail = fmt.Sprintf("new%d@example.com", i)
		}
		if r["Email"] != wantEmail || r["LastName"] != fmt.Sprintf("Name%d", i) {
			t.Fatalf("contact %v: Email %v LastName %v", r["External_Id__c"], r["Email"], r["LastName"])
		}
	}
	// Writing the same changes again is idempotent: upserts by external id.
	if err := sink.Write(context.Background(), changes); err != nil {
		t.Fatal(err)
	}
	if n := len(org.Records("Contact")); n != 300 {
		t.Fatalf("a repeated write made %d contacts", n)
	}
}

func TestSinkReportsPerRecordOutcomes(t *testing.T) {
	org := salesforcetest.NewOrg()
	defer org.Close()
	org.AddValidationRule("Contact", func(f map[string]any) (string, string, bool) {
		if e, _ := f["Email"].(string); e == "bad" {
			return "Email must contain @", "Email", false
		}
		return "", "", true
	})
	sink := salesforce.NewSink(orgClient(t, org), salesforce.WithExternalID("Contact", "External_Id__c"))
	changes := []sfsync.Change{
		contactChange("P-1", 0, map[string]any{"LastName": "One", "Email": "one@example.com"}),
		contactChange("P-2", 1, map[string]any{"LastName": "Two", "Email": "bad"}),
		contactChange("P-3", 2, map[string]any{"LastName": "Three", "Email": "three@example.com"}),
	}
	err := sink.Write(context.Background(), changes)
	var be *sfsync.BatchError
	if !errors.As(err, &be) || len(be.Errs) != 3 {
		t.Fatalf("Write = %v, want a BatchError for 3 changes", err)
	}
	if be.Errs[0] != nil || be.Errs[2] != nil || !sfsync.IsPermanent(be.Errs[1]) {
		t.Fatalf("per-change errors = %v", be.Errs)
	}
	// Lock contention fails the call's records as retryable.
	org.InjectFault(salesforcetest.Fault{Method: "PATCH", PathContains: "/composite/sobjects", Status: 400, Code: "UNABLE_TO_LOCK_ROW", Message: "unable to obtain exclusive access to this record", Times: 1})
	err = sink.Write(context.Background(), changes[:1])
	if err == nil || !sfsync.IsRetryable(err) {
		t.Fatalf("Write under lock contention = %v, want retryable", err)
	}
}

func TestSinkReadsCurrentStateInBulk(t *testing.T) {
	org := salesforcetest.NewOrg()
	defer org.Close()
	sink := salesforce.NewSink(orgClient(t, org), salesforce.WithExternalID("Contact", "External_Id__c"), salesforce.WithReadFields("Contact", "Email"))
	for i := range 5 {
		org.Insert("Contact", map[string]any{"LastName": "N", "Email": fmt.Sprintf("e%d@example.com", i), "External_Id__c": fmt.Sprintf("P-%d", i)})
	}
	before, _ := org.APIUsage()
	got, err := sink.Read(context.Background(), "Contact", []string{"P-0", "P-3", "P-9"})
	if err != nil {
		t.Fatal(err)
	}
	after, _ := org.APIUsage()
	if after-before != 1 {
		t.Errorf("%d calls to read 3 records, want 1", after-before)
	}
	if len(got) != 2 || got["P-3"].Fields["Email"] != "e3@example.com" || got["P-0"].Version.Time.IsZero() {
		t.Fatalf("Read = %+v", got)
	}
}

// A deleted record is read as a tombstone, by external id and by
// Salesforce id: without it the engine would take the record for one
// never created, and an external change would create it again.
func TestSinkReadsDeletedRecordsAsTombstones(t *testing.T) {
	org := salesforcetest.NewOrg()
	defer org.Close()
	sink := salesforce.NewSink(orgClient(t, org), salesforce.WithExternalID("Contact", "External_Id__c"), salesforce.WithReadFields("Contact", "Email"))
	gone := org.Insert("Contact", map[string]any{"LastName": "N", "Email": "old@example.com", "External_Id__c": "P-1"})
	if err := org.DeleteAsUser("Contact", gone); err != nil {
		t.Fatal(err)
	}
	// The external id was then used again by a record created anew.
	org.Insert("Contact", map[string]any{"LastName": "N", "Email": "new@example.com", "External_Id__c": "P-1"})
	org.Insert("Contact", map[string]any{"LastName": "N", "External_Id__c": "P-2"})
	other := org.Insert("Contact", map[string]any{"LastName": "N", "External_Id__c": "P-3"})
	if err := org.DeleteAsUser("Contact", other); err != nil {
		t.Fatal(err)
	}
	got, err := sink.Read(context.Background(), "Contact", []string{"P-1", "P-3", gone})
	if err != nil {
		t.Fatal(err)
	}
	if r := got["P-1"]; !r.Exists || r.Deleted || r.Fields["Email"] != "new@example.com" {
		t.Errorf("P-1 read as %+v, want the live record", r)
	}
	if r := got["P-3"]; !r.Exists || !r.Deleted || r.Version.Time.IsZero() {
		t.Errorf("P-3 read as %+v, want a versioned tombstone", r)
	}
	if r := got[gone]; !r.Exists || !r.Deleted {
		t.Errorf("%s read as %+v, want a tombstone", gone, r)
	}
}

// At steady state the limiter keeps the reserve: background work stops
// before the org's limit, so no call meets REQUEST_LIMIT_EXCEEDED. After a
// limit error everything pauses until the limits probe sees headroom.
func TestThrottleKeepsTheReserveAndRecovers(t *testing.T) {
	org := salesforcetest.NewOrg(salesforcetest.WithDailyLimit(100))
	defer org.Close()
	ticks := make(chan time.Time)
	var client *salesforce.Client
	limiter := throttle.New(throttle.WithRate(rate.Inf, 1), throttle.WithReserve(0.2), throttle.WithLogger(discard()),
		throttle.WithLimitsProbe(func(ctx context.Context) (int, int, error) { return client.LimitsProbe()(ctx) }, time.Hour),
		throttle.WithProbeTicks(ticks))
	defer limiter.Close()
	client = orgClient(t, org, salesforce.WithLimiter(limiter))
	low := salesforce.WithPriority(context.Background(), throttle.PriorityLow)
	calls := 0
	for limiter.Allowed(throttle.PriorityLow) {
		if _, err := client.Limits(low); err != nil {
			t.Fatalf("call %d at steady state: %v", calls, err)
		}
		calls++
		if calls > 100 {
			t.Fatal("low-priority work never stopped at the reserve")
		}
	}
	used, max := org.APIUsage()
	if used > max-20 || used < max-21 {
		t.Fatalf("background work stopped at %d/%d, want at the reserve (80)", used, max)
	}
	// Another consumer of the org uses the rest of the day's budget.
	org.SetDailyLimit(used)
	_, err := client.Create(context.Background(), "Contact", map[string]any{"LastName": "Late"})
	if !errors.Is(err, salesforce.ErrDailyLimitExceeded) {
		t.Fatalf("Create over the limit = %v, want ErrDailyLimitExceeded", err)
	}
	if !limiter.Headroom().Paused {
		t.Fatal("the limiter did not pause after a limit error")
	}
	done := make(chan error, 1)
	go func() {
		_, err := client.Create(context.Background(), "Contact", map[string]any{"LastName": "Waiting"})
		done <- err
	}()
	org.SetDailyLimit(1000) // a new day
	ticks <- time.Time{}
	if err := <-done; err != nil {
		t.Fatalf("a call after headroom returned failed: %v", err)
	}
	if limiter.Headroom().Paused {
		t.Fatal("still paused after the probe saw headroom")
	}
}
