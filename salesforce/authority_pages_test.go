package salesforce_test

import (
	"context"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/reconcile"
	"github.com/sfsync/sfsync/salesforce"
	"github.com/sfsync/sfsync/salesforce/salesforcetest"
)

var _ reconcile.PagedAuthority = (*salesforce.Authority)(nil)

// scanPages reads a paged scan from resume, stopping after stopAfter pages
// with records (0: read all). It returns the records, the resume token of
// the last page read and whether a page reported a job being prepared.
func scanPages(t *testing.T, ctx context.Context, a *salesforce.Authority, object string, since time.Time, resume []byte, stopAfter int) (recs []sfsync.Record, last []byte, querying bool) {
	t.Helper()
	pages := 0
	for page, err := range a.ScanPages(ctx, object, since, resume) {
		if err != nil {
			t.Fatal(err)
		}
		last = page.Resume
		if page.Records == nil {
			querying = true
			continue
		}
		for r, err := range page.Records {
			if err != nil {
				t.Fatal(err)
			}
			recs = append(recs, r)
		}
		if pages++; stopAfter > 0 && pages == stopAfter {
			break
		}
	}
	return recs, last, querying
}

func employeeAuthority(sf *salesforce.Client, opts ...salesforce.AuthorityOption) *salesforce.Authority {
	fields := map[string][]string{"Employee__c": {"Name", "Grade__c"}}
	return salesforce.NewAuthority(sf, fields, append([]salesforce.AuthorityOption{salesforce.WithBulkThreshold(0),
		salesforce.WithBulkOptions(fastPolls, salesforce.WithMaxRecords(10))}, opts...)...)
}

// A Bulk scan interrupted after two pages resumes from the locator of the
// third: same job, no record read twice, none missed; the job is deleted
// only once the scan is through.
func TestScanPagesResumesFromTheLocator(t *testing.T) {
	ctx := foCtx(t)
	org := salesforcetest.NewOrg()
	defer org.Close()
	loadEmployees(t, org, 35)
	a := employeeAuthority(orgClient(t, org))

	first, resume, querying := scanPages(t, ctx, a, "Employee__c", time.Time{}, nil, 2)
	if !querying || len(first) != 20 {
		t.Fatalf("first run: %d records, querying page %v; want 20 and a querying page", len(first), querying)
	}
	if jobs := org.BulkJobs(); len(jobs) != 1 {
		t.Fatalf("an interrupted scan must leave its job for the resume; jobs: %+v", jobs)
	}
	rest, _, querying := scanPages(t, ctx, a, "Employee__c", time.Time{}, resume, 0)
	if querying || len(rest) != 15 {
		t.Fatalf("resumed run: %d records, new job %v; want the 15 left from the same job", len(rest), querying)
	}
	seen := map[string]bool{}
	for _, r := range append(first, rest...) {
		if seen[r.ID] {
			t.Errorf("%s read twice", r.ID)
		}
		seen[r.ID] = true
	}
	if len(seen) != 35 {
		t.Errorf("%d distinct records, want 35", len(seen))
	}
	if n := len(org.WaitBulkJobs(0)); n != 1 {
		t.Errorf("%d jobs created, want 1", n)
	}
	if jobs := org.BulkJobs(); len(jobs) != 0 {
		t.Errorf("the finished scan left jobs: %+v", jobs)
	}
}

// A resume token whose job is gone (deleted, or purged after seven days)
// starts the scan again with a new job.
func TestScanPagesStartsAgainWhenTheJobIsGone(t *testing.T) {
	ctx := foCtx(t)
	org := salesforcetest.NewOrg()
	defer org.Close()
	loadEmployees(t, org, 25)
	a := employeeAuthority(orgClient(t, org))
	_, resume, _ := scanPages(t, ctx, a, "Employee__c", time.Time{}, nil, 1)
	for _, j := range org.BulkJobs() {
		org.DeleteBulkJob(j.ID)
	}
	recs, _, querying := scanPages(t, ctx, a, "Employee__c", time.Time{}, resume, 0)
	if !querying || len(recs) != 25 {
		t.Errorf("after the job was deleted: %d records, new job %v; want all 25 from a new job", len(recs), querying)
	}
}

// Below the Bulk threshold the scan is paged REST, resumed from the last
// SystemModstamp read.
func TestScanPagesRESTResumesFromTheLastStamp(t *testing.T) {
	ctx := foCtx(t)
	clk := foNewClock(time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC))
	org := salesforcetest.NewOrg(salesforcetest.WithClock(clk.now))
	defer org.Close()
	loadEmployees(t, org, 3)
	clk.add(time.Hour)
	late := org.Insert("Employee__c", map[string]any{"Name": "Late"})
	a := employeeAuthority(orgClient(t, org), salesforce.WithBulkThreshold(-1))
	recs, resume, querying := scanPages(t, ctx, a, "Employee__c", time.Time{}, nil, 0)
	if querying || len(recs) != 4 {
		t.Fatalf("REST scan: %d records, job %v", len(recs), querying)
	}
	again, _, _ := scanPages(t, ctx, a, "Employee__c", time.Time{}, resume, 0)
	if len(again) != 1 || again[0].ID != late {
		t.Errorf("resumed REST scan read %+v, want only the record at the last stamp", again)
	}
}

// A windowed scan ends with the window's deletes from getDeleted; when the
// delete history does not reach back to the window's start, it scans every
// record instead.
func TestScanPagesWindowDeletes(t *testing.T) {
	ctx := foCtx(t)
	start := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
	clk := foNewClock(start)
	org := salesforcetest.NewOrg(salesforcetest.WithClock(clk.now))
	defer org.Close()
	loadEmployees(t, org, 4)
	old := org.Records("Employee__c")
	clk.add(time.Hour)
	window := clk.now()
	clk.add(time.Minute)
	gone := old[0]["Id"].(string)
	if err := org.DeleteAsUser("Employee__c", gone); err != nil {
		t.Fatal(err)
	}
	clk.add(10 * time.Minute)
	a := employeeAuthority(orgClient(t, org), salesforce.WithBulkThreshold(-1), salesforce.WithAuthorityClock(clk.now))

	recs, _, _ := scanPages(t, ctx, a, "Employee__c", window, nil, 0)
	// The deleted record from queryAll, then from getDeleted.
	if len(recs) != 2 || recs[0].ID != gone || !recs[0].Deleted || recs[1].ID != gone || !recs[1].Deleted {
		t.Fatalf("windowed scan: %+v, want the delete twice (queryAll, getDeleted)", recs)
	}

	org.PurgeDeleteLog(window.Add(5 * time.Minute))
	recs, _, _ = scanPages(t, ctx, a, "Employee__c", window, nil, 0)
	if len(recs) != 4 {
		t.Errorf("without the delete history the scan reads %d records, want all 4", len(recs))
	}
}
