package salesforce_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/salesforce"
	"github.com/sfsync/sfsync/salesforce/salesforcetest"
	"github.com/sfsync/sfsync/throttle"
)

// fastPolls keeps the client's backoff short, so tests are driven by the
// fake org's job controls and not by the client's timers.
var fastPolls = salesforce.WithPollInterval(time.Millisecond, 2*time.Millisecond)

// loadEmployees loads n Employee__c records whose values exercise the CSV
// format: quotes, delimiters and newlines in text, nulls, dates, booleans,
// integers and decimals.
func loadEmployees(t testing.TB, org *salesforcetest.Org, n int) {
	t.Helper()
	err := org.Load("Employee__c", n, func(i int) map[string]any {
		f := map[string]any{"Name": fmt.Sprintf("E%04d", i), "Grade__c": i, "Active__c": i%2 == 0,
			"Hired__c": "2024-03-0" + fmt.Sprint(1+i%9), "Bio__c": fmt.Sprintf("says \"hi\", twice\nline %d", i)}
		if i%3 != 0 {
			f["Salary__c"] = 1000.5 + float64(i)
		}
		return f
	})
	if err != nil {
		t.Fatal(err)
	}
}

func employeeSOQL() string {
	return "SELECT Id, Name, Grade__c, Active__c, Hired__c, Salary__c, Bio__c, SystemModstamp FROM Employee__c"
}

// A job goes UploadComplete → InProgress → JobComplete while the test holds
// it; its results come page by page, typed from describe, and the job is
// deleted. Every request counts against the org's API usage.
func TestBulkQueryJobLifecycle(t *testing.T) {
	ctx := foCtx(t)
	org := salesforcetest.NewOrg()
	defer org.Close()
	loadEmployees(t, org, 5)
	sf := orgClient(t, org)
	org.HoldBulkJobs(true)

	job, err := sf.CreateQueryJob(ctx, salesforce.BulkQueryAll, employeeSOQL())
	if err != nil {
		t.Fatal(err)
	}
	if job.State != salesforce.JobUploadComplete || job.Object != "Employee__c" || job.Operation != salesforce.BulkQueryAll ||
		job.APIVersion != "62.0" || job.ColumnDelimiter != "COMMA" || job.LineEnding != "LF" || len(job.ID) != 18 {
		t.Fatalf("created job %+v", job)
	}
	waited := make(chan salesforce.QueryJob, 1)
	go func() {
		j, err := sf.WaitQueryJob(ctx, job.ID, fastPolls)
		if err != nil {
			t.Error(err)
		}
		waited <- j
	}()
	org.WaitBulkPolls(job.ID, 2)
	if st := org.BulkJobs()[0].State; st != salesforcetest.JobInProgress {
		t.Fatalf("held job is %s", st)
	}
	if err := org.CompleteBulkJob(job.ID); err != nil {
		t.Fatal(err)
	}
	job = <-waited
	if job.State != salesforce.JobComplete || job.NumberRecordsProcessed != 5 {
		t.Fatalf("completed job %+v", job)
	}

	used0, _ := org.APIUsage()
	var progress []salesforce.Progress
	var pages []string
	var rows []map[string]any
	for page, err := range sf.QueryResultPages(ctx, job, "", salesforce.WithMaxRecords(2),
		salesforce.WithProgress(func(p salesforce.Progress) { progress = append(progress, p) })) {
		if err != nil {
			t.Fatal(err)
		}
		pages = append(pages, fmt.Sprintf("%q→%d", page.Locator, page.NumberOfRecords))
		for row, err := range page.Rows() {
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(row.Columns(), []string{"Id", "Name", "Grade__c", "Active__c", "Hired__c", "Salary__c", "Bio__c", "SystemModstamp"}) {
				t.Fatalf("columns %v", row.Columns())
			}
			rows = append(rows, row.Map())
		}
	}
	if len(pages) != 3 || pages[0] != `""→2` || len(rows) != 5 {
		t.Fatalf("pages %v, %d rows", pages, len(rows))
	}
	// Three pages and the object's describe, which the client caches.
	if used, _ := org.APIUsage(); used-used0 != 4 {
		t.Errorf("3 pages and a describe cost %d API calls", used-used0)
	}
	last := progress[len(progress)-1]
	if len(progress) != 3 || last.Records != 5 || last.Total != 5 || last.Next != "" || last.Pages != 3 || progress[0].Next == "" {
		t.Errorf("progress %+v", progress)
	}
	r1 := rows[1]
	hired := time.Date(2024, 3, 2, 0, 0, 0, 0, time.UTC)
	if r1["Name"] != "E0001" || r1["Grade__c"] != int64(1) || r1["Active__c"] != false || r1["Salary__c"] != 1001.5 ||
		r1["Bio__c"] != "says \"hi\", twice\nline 1" || r1["Hired__c"] != hired {
		t.Errorf("row 1 = %#v", r1)
	}
	if _, ok := r1["SystemModstamp"].(time.Time); !ok {
		t.Errorf("SystemModstamp = %#v", r1["SystemModstamp"])
	}
	if rows[0]["Salary__c"] != nil || rows[0]["Active__c"] != true {
		t.Errorf("row 0 = %#v", rows[0])
	}

	if err := sf.DeleteQueryJob(ctx, job.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := sf.QueryJob(ctx, job.ID); !errors.Is(err, salesforce.ErrJobNotFound) || !errors.Is(err, sfsync.ErrNotFound) ||
		sfsync.KindOf(err) != sfsync.KindConflict {
		t.Errorf("deleted job: %v (%v)", err, sfsync.KindOf(err))
	}
}

// A reader stopped after a page resumes from that page's Next with a new
// reader, as the engine does after a restart; the records are read once.
func TestBulkResultsResumeFromLocator(t *testing.T) {
	ctx := foCtx(t)
	org := salesforcetest.NewOrg()
	defer org.Close()
	loadEmployees(t, org, 7)
	sf := orgClient(t, org)
	job := mustJob(t, sf, salesforce.BulkQuery, "SELECT Id, Name FROM Employee__c")

	var ids []string
	var next string
	for page, err := range sf.QueryResultPages(ctx, job, "", salesforce.WithMaxRecords(3)) {
		if err != nil {
			t.Fatal(err)
		}
		for row, err := range page.Rows() {
			if err != nil {
				t.Fatal(err)
			}
			id, _ := row.Get("id")
			ids = append(ids, id.(string))
		}
		next = page.Next
		break // the process stops here; job id and next are persisted
	}
	var last salesforce.Progress
	resumed := salesforce.QueryJob{ID: job.ID} // all the engine kept
	for row, err := range sf.QueryResults(ctx, resumed, next, salesforce.WithMaxRecords(3), salesforce.WithRecordsRead(int64(len(ids))),
		salesforce.WithProgress(func(p salesforce.Progress) { last = p })) {
		if err != nil {
			t.Fatal(err)
		}
		id, _ := row.Get("Id")
		ids = append(ids, id.(string))
	}
	slices.Sort(ids)
	if len(ids) != 7 || len(slices.Compact(ids)) != 7 {
		t.Fatalf("ids %v", ids)
	}
	if last.Records != 7 || last.Next != "" || last.Total != 7 {
		t.Errorf("progress %+v", last)
	}
	// The last Sforce-Locator, "null", resumes to nothing.
	for range sf.QueryResults(ctx, job, "null") {
		t.Fatal("records after the end")
	}
}

func mustJob(t testing.TB, sf *salesforce.Client, op salesforce.BulkOperation, soql string) salesforce.QueryJob {
	t.Helper()
	ctx := context.Background()
	job, err := sf.CreateQueryJob(ctx, op, soql)
	if err != nil {
		t.Fatal(err)
	}
	job, err = sf.WaitQueryJob(ctx, job.ID, fastPolls)
	if err != nil {
		t.Fatal(err)
	}
	return job
}

func TestBulkJobFailed(t *testing.T) {
	ctx := foCtx(t)
	org := salesforcetest.NewOrg()
	defer org.Close()
	sf := orgClient(t, org)
	org.FailNextBulkJobs(1, "InternalServerError: retried more than 15 times")
	job, err := sf.CreateQueryJob(ctx, salesforce.BulkQuery, "SELECT Id FROM Contact")
	if err != nil {
		t.Fatal(err)
	}
	got, err := sf.WaitQueryJob(ctx, job.ID, fastPolls)
	if !errors.Is(err, salesforce.ErrJobFailed) || sfsync.KindOf(err) != sfsync.KindRetryable || got.State != salesforce.JobFailed ||
		got.ErrorMessage != "InternalServerError: retried more than 15 times" {
		t.Fatalf("failed job: %+v, %v", got, err)
	}
	for _, err := range sf.QueryResults(ctx, got, "") {
		if !errors.Is(err, salesforce.ErrJobFailed) {
			t.Errorf("results of a failed job: %v", err)
		}
	}
	if err := sf.DeleteQueryJob(ctx, job.ID); err != nil {
		t.Errorf("deleting a failed job: %v", err)
	}
}

// A results page that fails once, with a JSON error or an HTML page from
// the edge, is fetched again; so is one whose connection drops half way,
// and the records already yielded are not yielded again.
func TestBulkResultsRetryPage(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault func(org *salesforcetest.Org)
	}{
		{"503 json", func(org *salesforcetest.Org) {
			org.InjectFault(salesforcetest.Fault{Method: "GET", PathContains: "/results?locator=", Status: 503, Code: "SERVER_UNAVAILABLE"})
		}},
		{"502 html", func(org *salesforcetest.Org) {
			org.InjectFault(salesforcetest.Fault{Method: "GET", PathContains: "/results?locator=", Status: 502})
		}},
		{"connection drops", func(org *salesforcetest.Org) { org.BreakNextResultsPage(1) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := foCtx(t)
			org := salesforcetest.NewOrg()
			defer org.Close()
			loadEmployees(t, org, 6)
			sf := orgClient(t, org)
			job := mustJob(t, sf, salesforce.BulkQuery, employeeSOQL())
			tc.fault(org)
			var names []string
			for row, err := range sf.QueryResults(ctx, job, "", salesforce.WithMaxRecords(4), fastPolls) {
				if err != nil {
					t.Fatal(err)
				}
				n, _ := row.Get("Name")
				names = append(names, n.(string))
			}
			if want := []string{"E0000", "E0001", "E0002", "E0003", "E0004", "E0005"}; !slices.Equal(names, want) {
				t.Errorf("names %v, want %v", names, want)
			}
		})
	}
}

// A job deleted while its pages are read (by an admin, or purged) ends the
// read with ErrJobNotFound: the engine starts a new job.
func TestBulkJobDeletedMidRead(t *testing.T) {
	ctx := foCtx(t)
	org := salesforcetest.NewOrg()
	defer org.Close()
	loadEmployees(t, org, 4)
	sf := orgClient(t, org)
	job := mustJob(t, sf, salesforce.BulkQuery, employeeSOQL())
	read := 0
	var last error
	for _, err := range sf.QueryResults(ctx, job, "", salesforce.WithMaxRecords(2), fastPolls) {
		if err != nil {
			last = err
			break
		}
		if read++; read == 2 {
			org.DeleteBulkJob(job.ID)
		}
	}
	if read != 2 || !errors.Is(last, salesforce.ErrJobNotFound) || sfsync.KindOf(last) != sfsync.KindConflict {
		t.Fatalf("read %d, then %v (%v)", read, last, sfsync.KindOf(last))
	}
}

func TestBulkAbortAndDeleteStates(t *testing.T) {
	ctx := foCtx(t)
	org := salesforcetest.NewOrg()
	defer org.Close()
	sf := orgClient(t, org)
	org.HoldBulkJobs(true)
	job, err := sf.CreateQueryJob(ctx, salesforce.BulkQuery, "SELECT Id FROM Account")
	if err != nil {
		t.Fatal(err)
	}
	var ae *salesforce.APIError
	if err := sf.DeleteQueryJob(ctx, job.ID); !errors.As(err, &ae) || ae.Code != "API_ERROR" {
		t.Errorf("deleting a running job: %v", err)
	}
	aborted, err := sf.AbortQueryJob(ctx, job.ID)
	if err != nil || aborted.State != salesforce.JobAborted {
		t.Fatalf("abort: %+v, %v", aborted, err)
	}
	if _, err := sf.WaitQueryJob(ctx, job.ID, fastPolls); !errors.Is(err, salesforce.ErrJobAborted) || !sfsync.IsPermanent(err) {
		t.Errorf("waiting for an aborted job: %v", err)
	}
	if _, err := sf.AbortQueryJob(ctx, job.ID); !errors.As(err, &ae) || ae.Code != "INVALIDJOBSTATE" {
		t.Errorf("aborting an aborted job: %v", err)
	}
	if err := sf.DeleteQueryJob(ctx, job.ID); err != nil {
		t.Errorf("deleting an aborted job: %v", err)
	}
}

// Queries Bulk API 2.0 does not run are refused at create, permanently.
func TestBulkCreateRejected(t *testing.T) {
	ctx := foCtx(t)
	org := salesforcetest.NewOrg()
	defer org.Close()
	sf := orgClient(t, org)
	for _, soql := range []string{"SELECT COUNT() FROM Contact", "SELECT Nope__c FROM Contact", "SELECT Id FROM Contact LIMIT 5 OFFSET 2"} {
		if _, err := sf.CreateQueryJob(ctx, salesforce.BulkQuery, soql); !sfsync.IsPermanent(err) {
			t.Errorf("%s: %v", soql, err)
		}
	}
	if _, err := sf.CreateQueryJob(ctx, "upsert", "SELECT Id FROM Contact"); !errors.Is(err, sfsync.ErrInvalid) {
		t.Errorf("bad operation: %v", err)
	}
}

// A job that takes a minute of the org's clock completes when the test
// moves the clock, with the client polling all along.
func TestBulkJobTakesTime(t *testing.T) {
	ctx := foCtx(t)
	clk := foNewClock(time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC))
	org := salesforcetest.NewOrg(salesforcetest.WithClock(clk.now), salesforcetest.WithBulkJobDuration(time.Minute))
	defer org.Close()
	sf := orgClient(t, org)
	job, err := sf.CreateQueryJob(ctx, salesforce.BulkQuery, "SELECT Id FROM Contact")
	if err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() {
		_, err := sf.WaitQueryJob(ctx, job.ID, fastPolls)
		waited <- err
	}()
	org.WaitBulkPolls(job.ID, 3)
	clk.add(time.Minute)
	if err := <-waited; err != nil {
		t.Fatal(err)
	}
}

// BulkQuery deletes its job when done, and aborts and deletes it when the
// caller stops early.
func TestBulkQueryCleansUp(t *testing.T) {
	ctx := foCtx(t)
	org := salesforcetest.NewOrg()
	defer org.Close()
	loadEmployees(t, org, 5)
	sf := orgClient(t, org)
	n := 0
	for _, err := range sf.BulkQuery(ctx, salesforce.BulkQuery, employeeSOQL(), fastPolls, salesforce.WithMaxRecords(2)) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	for range sf.BulkQuery(ctx, salesforce.BulkQuery, employeeSOQL(), fastPolls, salesforce.WithMaxRecords(2)) {
		break
	}
	if jobs := org.BulkJobs(); n != 5 || len(jobs) != 0 {
		t.Errorf("%d records; jobs left %+v", n, jobs)
	}
}

// The limiter's slot of a results page is given back once the page's
// headers arrive: a consumer that makes its own calls while it reads
// records does not wait for the page that feeds it, even with one slot.
func TestBulkResultsDoNotHoldLimiterSlot(t *testing.T) {
	ctx := foCtx(t)
	org := salesforcetest.NewOrg()
	defer org.Close()
	loadEmployees(t, org, 3)
	lim := throttle.New(throttle.WithConcurrency(1), throttle.WithRate(1000, 1000))
	defer lim.Close()
	sf := orgClient(t, org, salesforce.WithLimiter(lim))
	n := 0
	for row, err := range sf.BulkQuery(ctx, salesforce.BulkQuery, "SELECT Id FROM Employee__c", fastPolls) {
		if err != nil {
			t.Fatal(err)
		}
		id, _ := row.Get("Id")
		if _, err := sf.Get(ctx, "Employee__c", id.(string), "Name"); err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 3 {
		t.Errorf("%d records", n)
	}
}
