package salesforce_test

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/sfsync/sfsync/salesforce"
	"github.com/sfsync/sfsync/salesforce/salesforcetest"
)

// benchRecords is the size of the backfill benchmarks' object: 20,000 by
// default, SFSYNC_BENCH_RECORDS=1000000 for the figure of the issue.
func benchRecords(b *testing.B) int {
	if s := os.Getenv("SFSYNC_BENCH_RECORDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			b.Fatalf("SFSYNC_BENCH_RECORDS=%q is not a positive number", s)
		}
		return n
	}
	return 20_000
}

const benchFields = "Id, LastModifiedDate, SystemModstamp, IsDeleted, Name, Email__c, Grade__c, Active__c, Hired__c, Salary__c"

// benchOrg is a fake org holding n Employee__c records.
func benchOrg(b *testing.B, n int) *salesforcetest.Org {
	b.Helper()
	org := salesforcetest.NewOrg(salesforcetest.WithDailyLimit(1 << 30))
	b.Cleanup(org.Close)
	err := org.Load("Employee__c", n, func(i int) map[string]any {
		return map[string]any{"Name": fmt.Sprintf("Employee %d", i), "Email__c": fmt.Sprintf("e%d@example.com", i),
			"Grade__c": i % 12, "Active__c": i%5 != 0, "Hired__c": "2021-06-15", "Salary__c": 40000.25 + float64(i%1000)}
	})
	if err != nil {
		b.Fatal(err)
	}
	return org
}

// benchScan reads every record through an Authority, as a backfill does,
// and reports API calls and records per second.
func benchScan(b *testing.B, opts ...salesforce.AuthorityOption) {
	n := benchRecords(b)
	org := benchOrg(b, n)
	fields := map[string][]string{"Employee__c": {"Name", "Email__c", "Grade__c", "Active__c", "Hired__c", "Salary__c"}}
	ctx := context.Background()
	calls := 0
	for b.Loop() {
		org.ResetUsage()
		// A new client each run: the describe is part of a backfill.
		a := salesforce.NewAuthority(orgClient(b, org), fields, opts...)
		read := 0
		for _, err := range a.Scan(ctx, "Employee__c", nil, time.Time{}) {
			if err != nil {
				b.Fatal(err)
			}
			read++
		}
		if read != n {
			b.Fatalf("read %d of %d records", read, n)
		}
		calls, _ = org.APIUsage()
	}
	b.ReportMetric(float64(calls), "api-calls/run")
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkBackfillBulk: one Bulk API 2.0 queryAll job, 50,000 records a
// page: COUNT(), describe, create, poll, ⌈N / 50,000⌉ pages, delete.
func BenchmarkBackfillBulk(b *testing.B) {
	benchScan(b, salesforce.WithBulkThreshold(0), salesforce.WithBulkOptions(fastPolls))
}

// BenchmarkBackfillREST: paged REST queryAll, ⌈N / 2,000⌉ calls.
func BenchmarkBackfillREST(b *testing.B) {
	benchScan(b, salesforce.WithBulkThreshold(-1))
}

// BenchmarkBackfillBaselineCSV is the floor for the Bulk read: it only
// downloads the same job's pages (same query, page size and transport)
// and splits them with encoding/csv, with no client, typing or records.
func BenchmarkBackfillBaselineCSV(b *testing.B) {
	n := benchRecords(b)
	org := benchOrg(b, n)
	sf := orgClient(b, org)
	ctx := context.Background()
	job, err := sf.CreateQueryJob(ctx, salesforce.BulkQueryAll, "SELECT "+benchFields+" FROM Employee__c ORDER BY SystemModstamp")
	if err != nil {
		b.Fatal(err)
	}
	if job, err = sf.WaitQueryJob(ctx, job.ID, fastPolls); err != nil {
		b.Fatal(err)
	}
	hc := org.Client()
	base := org.URL() + "/services/data/v" + sf.APIVersion() + "/jobs/query/" + job.ID + "/results?maxRecords=" + strconv.Itoa(salesforce.DefaultMaxRecords)
	pages := 0
	for b.Loop() {
		read, loc := 0, ""
		for pages = 0; ; pages++ {
			u := base
			if loc != "" {
				u += "&locator=" + url.QueryEscape(loc)
			}
			req, _ := http.NewRequest(http.MethodGet, u, nil)
			req.Header.Set("Authorization", "Bearer "+org.AccessToken())
			req.Header.Set("Accept", "text/csv")
			resp, err := hc.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			rd := csv.NewReader(resp.Body)
			rd.ReuseRecord = true
			for {
				_, err := rd.Read()
				if err == io.EOF {
					break
				}
				if err != nil {
					b.Fatal(err)
				}
				read++
			}
			resp.Body.Close()
			if loc = resp.Header.Get("Sforce-Locator"); loc == "null" {
				pages++
				break
			}
		}
		if read != n+pages { // a header row on every page
			b.Fatalf("read %d rows for %d records", read, n)
		}
	}
	b.ReportMetric(float64(pages), "api-calls/run")
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkBulkResultsRead reads the same completed job as the baseline
// through the client (request path, streaming, typing from describe),
// without the job's run or the Authority's records: the client's own
// cost over the baseline.
func BenchmarkBulkResultsRead(b *testing.B) {
	n := benchRecords(b)
	org := benchOrg(b, n)
	sf := orgClient(b, org)
	ctx := context.Background()
	job, err := sf.CreateQueryJob(ctx, salesforce.BulkQueryAll, "SELECT "+benchFields+" FROM Employee__c ORDER BY SystemModstamp")
	if err != nil {
		b.Fatal(err)
	}
	if job, err = sf.WaitQueryJob(ctx, job.ID, fastPolls); err != nil {
		b.Fatal(err)
	}
	calls := 0
	for b.Loop() {
		used0, _ := org.APIUsage()
		read := 0
		for _, err := range sf.QueryResults(ctx, job, "") {
			if err != nil {
				b.Fatal(err)
			}
			read++
		}
		if read != n {
			b.Fatalf("read %d of %d records", read, n)
		}
		used, _ := org.APIUsage()
		calls = used - used0
	}
	b.ReportMetric(float64(calls), "api-calls/run")
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
}
