package salesforce_test

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/salesforce"
	"github.com/sfsync/sfsync/salesforce/salesforcetest"
)

// scanAll collects a scan, failing the test on an error.
func scanAll(t *testing.T, a *salesforce.Authority, object string, ids []string, since time.Time) []sfsync.Record {
	t.Helper()
	var out []sfsync.Record
	for rec, err := range a.Scan(foCtx(t), object, ids, since) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, rec)
	}
	return out
}

// Above the threshold a whole-object scan runs as one Bulk job; below it,
// and for record ids, through REST. The records are the same either way,
// deleted ones included, so the engine cannot tell the paths apart.
func TestAuthorityPicksBulkAboveThreshold(t *testing.T) {
	clk := foNewClock(time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC))
	org := salesforcetest.NewOrg(salesforcetest.WithClock(clk.now))
	defer org.Close()
	loadEmployees(t, org, 12)
	all := org.Records("Employee__c")
	clk.add(time.Minute)
	if err := org.DeleteAsUser("Employee__c", all[3]["Id"].(string)); err != nil {
		t.Fatal(err)
	}
	sf := orgClient(t, org)
	fields := map[string][]string{"Employee__c": {"Name", "Grade__c", "Active__c", "Hired__c", "Salary__c", "Bio__c"}}
	rest := salesforce.NewAuthority(sf, fields, salesforce.WithBulkThreshold(-1))
	bulk := salesforce.NewAuthority(sf, fields, salesforce.WithBulkThreshold(10), salesforce.WithBulkOptions(fastPolls, salesforce.WithMaxRecords(5)))

	want := scanAll(t, rest, "Employee__c", nil, time.Time{})
	if n := len(org.BulkJobs()); n != 0 {
		t.Fatalf("REST scan made %d jobs", n)
	}
	used0, _ := org.APIUsage()
	got := scanAll(t, bulk, "Employee__c", nil, time.Time{})
	used, _ := org.APIUsage()
	if len(got) != 12 || !reflect.DeepEqual(got, want) {
		t.Fatalf("bulk scan differs from REST:\n%+v\n%+v", got, want)
	}
	if !got[11].Deleted || got[11].ID != all[3]["Id"] {
		t.Errorf("the deleted record is not last and deleted: %+v", got[11])
	}
	// COUNT(), create, one poll, three pages, delete, and the describe.
	if used-used0 != 8 {
		t.Errorf("bulk scan cost %d API calls, want 8", used-used0)
	}
	if jobs := org.BulkJobs(); len(jobs) != 0 {
		t.Errorf("jobs left: %+v", jobs)
	}

	// Record ids always go through REST.
	ids := []string{all[0]["Id"].(string), all[1]["Id"].(string)}
	if got := scanAll(t, bulk, "Employee__c", ids, time.Time{}); len(got) != 2 {
		t.Errorf("ids scan: %+v", got)
	}
	// Below the threshold: REST, after the count.
	small := salesforce.NewAuthority(sf, fields, salesforce.WithBulkThreshold(100))
	if got := scanAll(t, small, "Employee__c", nil, time.Time{}); !reflect.DeepEqual(got, want) {
		t.Errorf("small scan differs")
	}
	jobs := 0
	for range org.WaitBulkJobs(0) {
		jobs++
	}
	if jobs != 1 {
		t.Errorf("%d jobs were created, want the one bulk scan's", jobs)
	}
}

// A time-window scan through Bulk is a queryAll job with SystemModstamp >=
// since, so records deleted in the window come too.
func TestAuthorityBulkTimeWindow(t *testing.T) {
	clk := foNewClock(time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC))
	org := salesforcetest.NewOrg(salesforcetest.WithClock(clk.now))
	defer org.Close()
	loadEmployees(t, org, 4)
	all := org.Records("Employee__c")
	clk.add(time.Hour)
	since := clk.now()
	if err := org.EditAsUser("Employee__c", all[1]["Id"].(string), map[string]any{"Name": "Edited"}); err != nil {
		t.Fatal(err)
	}
	if err := org.DeleteAsUser("Employee__c", all[2]["Id"].(string)); err != nil {
		t.Fatal(err)
	}
	var query string
	a := salesforce.NewAuthority(orgClient(t, org), map[string][]string{"Employee__c": {"Name"}}, salesforce.WithBulkThreshold(0),
		salesforce.WithBulkOptions(fastPolls, salesforce.WithJobCreated(func(salesforce.QueryJob) { query = org.BulkJobs()[0].Query })))
	got := scanAll(t, a, "Employee__c", nil, since)
	if len(got) != 2 || got[0].Fields["Name"] != "Edited" || !got[1].Deleted {
		t.Fatalf("window scan: %+v", got)
	}
	if job := org.WaitBulkJobs(1); len(job) != 1 || !strings.Contains(query, "SystemModstamp >= 2026-05-01T10:00:00Z") {
		t.Errorf("query %q", query)
	}
}

// A failed job ends the scan with a retryable error naming the object.
func TestAuthorityBulkJobFailed(t *testing.T) {
	org := salesforcetest.NewOrg()
	defer org.Close()
	org.FailNextBulkJobs(1, "boom")
	a := salesforce.NewAuthority(orgClient(t, org), nil, salesforce.WithBulkThreshold(0), salesforce.WithBulkOptions(fastPolls))
	for _, err := range a.Scan(foCtx(t), "Contact", nil, time.Time{}) {
		if !errors.Is(err, salesforce.ErrJobFailed) || !sfsync.IsRetryable(err) || !strings.Contains(err.Error(), "scan Contact") {
			t.Errorf("scan: %v", err)
		}
	}
}

// Versions reads Id, SystemModstamp and IsDeleted through Bulk or REST
// with the same answer; a Bulk pass over N records costs a fixed handful
// of calls plus one per page.
func TestAuthorityVersions(t *testing.T) {
	clk := foNewClock(time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC))
	org := salesforcetest.NewOrg(salesforcetest.WithClock(clk.now))
	defer org.Close()
	loadEmployees(t, org, 25)
	all := org.Records("Employee__c")
	clk.add(time.Minute)
	if err := org.DeleteAsUser("Employee__c", all[7]["Id"].(string)); err != nil {
		t.Fatal(err)
	}
	sf := orgClient(t, org)
	collect := func(a *salesforce.Authority) (map[string]sfsync.Record, int) {
		used0, _ := org.APIUsage()
		out := map[string]sfsync.Record{}
		for v, err := range a.Versions(foCtx(t), "Employee__c", time.Time{}) {
			if err != nil {
				t.Fatal(err)
			}
			out[v.ID] = v
		}
		used, _ := org.APIUsage()
		return out, used - used0
	}
	rest, restCalls := collect(salesforce.NewAuthority(sf, nil, salesforce.WithBulkThreshold(100)))
	bulk, bulkCalls := collect(salesforce.NewAuthority(sf, nil, salesforce.WithBulkThreshold(10), salesforce.WithBulkOptions(fastPolls, salesforce.WithMaxRecords(10))))
	if len(bulk) != 25 || !reflect.DeepEqual(rest, bulk) {
		t.Fatalf("versions differ:\n%v\n%v", rest, bulk)
	}
	if v := bulk[all[7]["Id"].(string)]; !v.Deleted || !v.Version.Time.Equal(clk.now()) {
		t.Errorf("deleted record: %+v", v)
	}
	if v := bulk[all[0]["Id"].(string)]; v.Deleted || !v.Version.Time.Equal(clk.now().Add(-time.Minute)) {
		t.Errorf("live record: %+v", v)
	}
	// REST: COUNT() and one page. Bulk: COUNT(), create, poll, three
	// pages, delete and the describe.
	if restCalls != 2 || bulkCalls != 8 {
		t.Errorf("API calls: REST %d, Bulk %d", restCalls, bulkCalls)
	}
	if jobs := org.BulkJobs(); len(jobs) != 0 {
		t.Errorf("jobs left %v", jobs)
	}
}

// A COUNT() that times out on a large object sends the scan to Bulk.
func TestAuthorityCountTimeoutMeansBulk(t *testing.T) {
	org := salesforcetest.NewOrg()
	defer org.Close()
	org.Insert("Contact", map[string]any{"LastName": "Big"})
	org.InjectFault(salesforcetest.Fault{Method: "GET", PathContains: "COUNT", Status: 400, Code: "QUERY_TIMEOUT", Message: "Your query request was running for too long."})
	a := salesforce.NewAuthority(orgClient(t, org), nil, salesforce.WithBulkOptions(fastPolls))
	if got := scanAll(t, a, "Contact", nil, time.Time{}); len(got) != 1 {
		t.Fatalf("scan: %+v", got)
	}
	if n := len(org.WaitBulkJobs(1)); n != 1 {
		t.Errorf("%d jobs", n)
	}
}

// VersionsWith lists fields beside the versions, through Bulk and REST
// alike: a drift check of a linked mapping lists the link.
func TestAuthorityVersionsWithFields(t *testing.T) {
	org := salesforcetest.NewOrg()
	defer org.Close()
	loadEmployees(t, org, 12)
	sf := orgClient(t, org)
	collect := func(a *salesforce.Authority) map[string]any {
		out := map[string]any{}
		for v, err := range a.VersionsWith(foCtx(t), "Employee__c", time.Time{}, "Name", "Grade__c") {
			if err != nil {
				t.Fatal(err)
			}
			// REST's JSON numbers and Bulk's typed values print alike.
			out[v.Fields["Name"].(string)] = fmt.Sprint(v.Fields["Grade__c"])
		}
		return out
	}
	rest := collect(salesforce.NewAuthority(sf, nil, salesforce.WithBulkThreshold(100)))
	bulk := collect(salesforce.NewAuthority(sf, nil, salesforce.WithBulkThreshold(5), salesforce.WithBulkOptions(fastPolls)))
	if len(rest) != 12 || !reflect.DeepEqual(rest, bulk) {
		t.Fatalf("fields differ:\nREST %v\nBulk %v", rest, bulk)
	}
	for v, err := range salesforce.NewAuthority(sf, nil).VersionsWith(foCtx(t), "Employee__c", time.Time{}, "Name, Id") {
		if err == nil || v.ID != "" {
			t.Fatalf("a select list smuggled in as a field name: %+v, %v", v, err)
		}
	}
}
