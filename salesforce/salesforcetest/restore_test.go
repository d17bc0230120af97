package salesforcetest_test

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/sfsync/sfsync/pubsub/pubsubtest"
	"github.com/sfsync/sfsync/salesforce/salesforcetest"
)

// seededOrg is an org with WithSeed(seed) and the same ten employees.
func seededOrg(t *testing.T, seed uint64, opts ...salesforcetest.Option) *salesforcetest.Org {
	t.Helper()
	clk := newClock()
	org := newOrg(t, append([]salesforcetest.Option{salesforcetest.WithClock(clk.Now), salesforcetest.WithSeed(seed)}, opts...)...)
	if err := org.Load("Employee__c", 10, func(i int) map[string]any {
		return map[string]any{"Name": fmt.Sprintf("E%d", i), "Grade__c": i}
	}); err != nil {
		t.Fatal(err)
	}
	return org
}

// An org regenerated from the same seed and records, with the job of the
// first restored, serves the page after a locator the first org gave, and
// gives its next job a new id.
func TestRestoreBulkJobServesTheSameLocators(t *testing.T) {
	first := seededOrg(t, 7)
	r := call(t, first, "POST", "/jobs/query", map[string]string{"operation": "queryAll", "query": "SELECT Id, Name, Grade__c FROM Employee__c"})
	r.want(t, 200, "")
	var job struct {
		ID string `json:"id"`
	}
	r.json(t, &job)
	page := func(org *salesforcetest.Org, loc string) resp {
		t.Helper()
		p := call(t, org, "GET", "/jobs/query/"+job.ID+"/results?maxRecords=4&locator="+loc, nil, "Accept", "text/csv")
		p.want(t, 200, "")
		return p
	}
	loc := page(first, "").header.Get("Sforce-Locator")
	want := page(first, loc)
	jobs := first.BulkJobs()
	if len(jobs) != 1 || jobs[0].APIVersion != "62.0" || jobs[0].ColumnDelimiter != "COMMA" || jobs[0].LineEnding != "LF" {
		t.Fatalf("BulkJobs = %+v", jobs)
	}

	second := seededOrg(t, 7)
	if err := second.RestoreBulkJob(jobs[0]); err != nil {
		t.Fatal(err)
	}
	if err := second.RestoreBulkJob(jobs[0]); err == nil {
		t.Error("restoring a job that exists succeeded")
	}
	// A client resumes from the locator it stored, without the pages
	// before it.
	got := page(second, loc)
	if !bytes.Equal(got.body, want.body) || got.header.Get("Sforce-Locator") != want.header.Get("Sforce-Locator") {
		t.Errorf("restored job's page after %s:\n%q %s\nwant\n%q %s", loc, got.body, got.header.Get("Sforce-Locator"), want.body, want.header.Get("Sforce-Locator"))
	}
	n := call(t, second, "POST", "/jobs/query", map[string]string{"operation": "query", "query": "SELECT Id FROM Employee__c"})
	n.want(t, 200, "")
	var next struct {
		ID string `json:"id"`
	}
	n.json(t, &next)
	if next.ID == job.ID {
		t.Errorf("a new job got the restored job's id %s", next.ID)
	}

	other := seededOrg(t, 8)
	if err := other.RestoreBulkJob(jobs[0]); err != nil {
		t.Fatal(err)
	}
	if p := call(t, other, "GET", "/jobs/query/"+job.ID+"/results?maxRecords=4&locator="+loc, nil, "Accept", "text/csv"); p.status != 400 {
		t.Errorf("another seed's org took locator %s: %d %s", loc, p.status, p.body)
	}
	if p := page(other, ""); p.header.Get("Sforce-Locator") == loc {
		t.Errorf("another seed gave the same locator %s", loc)
	}
	for _, bad := range []salesforcetest.BulkJob{
		{ID: "001000000000001AAA", Operation: "query", Query: "SELECT Id FROM Employee__c"},
		{ID: jobs[0].ID, Operation: "insert", Query: "SELECT Id FROM Employee__c"},
		{ID: "750000000000099AAA", Operation: "query", Query: "SELECT Nope FROM Employee__c"},
	} {
		if err := other.RestoreBulkJob(bad); err == nil {
			t.Errorf("RestoreBulkJob(%+v) succeeded", bad)
		}
	}
}

// WithPubSubOptions reaches the org's Pub/Sub server: a short keepalive
// arrives on a quiet topic at once.
func TestWithPubSubOptionsKeepalive(t *testing.T) {
	org := newOrg(t, salesforcetest.WithPubSubOptions(pubsubtest.WithKeepalive(20*time.Millisecond)))
	s := subscribe(t, org, salesforcetest.Topic("Employee__c"))
	resp, err := s.stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.GetEvents()) != 0 || len(resp.GetLatestReplayId()) == 0 {
		t.Fatalf("first response on a quiet topic: %v", resp)
	}
}
