package salesforcetest_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sfsync/sfsync/salesforce/salesforcetest"
)

// The wire format of spec bulk-api-2.md §1–§4 and §8: 200 on create with
// apiVersion as the number 62.0, job info with its extra fields, CSV pages
// with every value quoted, null as an empty value, the Sforce-Locator and
// Sforce-NumberOfRecords headers, "null" after the last page, 204 on
// delete; and every request counts against the daily limit.
func TestBulkWireFormat(t *testing.T) {
	clk := newClock()
	org := newOrg(t, salesforcetest.WithClock(clk.Now))
	for _, f := range []map[string]any{
		{"Name": `Acme, "Intl"`, "NumberOfEmployees": 12, "AnnualRevenue": 1.5e6, "SLAExpirationDate__c": "2026-04-01"},
		{"Name": "Beta\nLine"},
		{"Name": "Gone Ltd"},
	} {
		createAccount(t, org, f)
	}
	gone := org.Records("Account")[2]["Id"].(string)
	if err := org.DeleteAsUser("Account", gone); err != nil {
		t.Fatal(err)
	}
	used0, _ := org.APIUsage()

	r := call(t, org, "POST", "/jobs/query", map[string]string{"operation": "queryAll", "lineEnding": "CRLF",
		"query": "SELECT Id, Name, NumberOfEmployees, AnnualRevenue, SLAExpirationDate__c, IsDeleted, SystemModstamp FROM Account"})
	r.want(t, 200, "")
	if !regexp.MustCompile(`^\{"id":"750\w{15}","operation":"queryAll","object":"Account","createdById":"005\w{15}","createdDate":"2026-03-10T12:00:00.000\+0000",` +
		`"systemModstamp":"2026-03-10T12:00:00.000\+0000","state":"UploadComplete","concurrencyMode":"Parallel","contentType":"CSV","apiVersion":62.0,` +
		`"lineEnding":"CRLF","columnDelimiter":"COMMA"\}$`).Match(r.body) {
		t.Fatalf("create: %s", r.body)
	}
	var job struct {
		ID string `json:"id"`
	}
	r.json(t, &job)

	info := call(t, org, "GET", "/jobs/query/"+job.ID, nil)
	info.want(t, 200, "")
	for _, want := range []string{`"state":"JobComplete"`, `"jobType":"V2Query"`, `"numberRecordsProcessed":3`, `"retries":0`, `"isPkChunkingSupported":true`} {
		if !bytes.Contains(info.body, []byte(want)) {
			t.Errorf("job info lacks %s: %s", want, info.body)
		}
	}

	p1 := call(t, org, "GET", "/jobs/query/"+job.ID+"/results?maxRecords=2", nil, "Accept", "text/csv")
	p1.want(t, 200, "")
	loc := p1.header.Get("Sforce-Locator")
	if loc == "" || loc == "null" || p1.header.Get("Sforce-NumberOfRecords") != "2" || p1.header.Get("Content-Type") != "text/csv; charset=UTF-8" {
		t.Fatalf("page 1 headers %v", p1.header)
	}
	header := `"Id","Name","NumberOfEmployees","AnnualRevenue","SLAExpirationDate__c","IsDeleted","SystemModstamp"` + "\r\n"
	ids := org.Records("Account")
	want1 := header +
		`"` + ids[0]["Id"].(string) + `","Acme, ""Intl""","12","1500000","2026-04-01","false","2026-03-10T12:00:00.000Z"` + "\r\n" +
		`"` + ids[1]["Id"].(string) + `","Beta` + "\n" + `Line",,,,"false","2026-03-10T12:00:00.000Z"` + "\r\n"
	if string(p1.body) != want1 {
		t.Errorf("page 1:\n%q\nwant\n%q", p1.body, want1)
	}
	p2 := call(t, org, "GET", "/jobs/query/"+job.ID+"/results?maxRecords=2&locator="+loc, nil, "Accept", "text/csv")
	p2.want(t, 200, "")
	if p2.header.Get("Sforce-Locator") != "null" || p2.header.Get("Sforce-NumberOfRecords") != "1" ||
		!strings.HasPrefix(string(p2.body), header+`"`+gone+`","Gone Ltd",,,,"true",`) {
		t.Errorf("page 2: %v %q", p2.header, p2.body)
	}
	// Fetching a locator again gives the same page.
	if again := call(t, org, "GET", "/jobs/query/"+job.ID+"/results?maxRecords=2&locator="+loc, nil, "Accept", "text/csv"); !bytes.Equal(again.body, p2.body) {
		t.Errorf("page 2 again: %q", again.body)
	}
	call(t, org, "GET", "/jobs/query/"+job.ID+"/results?locator=bogus", nil, "Accept", "text/csv").want(t, 400, "API_ERROR")
	call(t, org, "GET", "/jobs/query/"+job.ID+"/results", nil, "Accept", "application/json").want(t, 406, "NOT_ACCEPTABLE")

	del := call(t, org, "DELETE", "/jobs/query/"+job.ID, nil)
	if del.status != 204 || len(del.body) != 0 {
		t.Errorf("delete: %d %q", del.status, del.body)
	}
	call(t, org, "GET", "/jobs/query/"+job.ID, nil).want(t, 404, "NOT_FOUND")
	call(t, org, "GET", "/jobs/query/"+job.ID+"/results", nil, "Accept", "text/csv").want(t, 404, "NOT_FOUND")
	if used, _ := org.APIUsage(); used-used0 != 10 {
		t.Errorf("10 requests counted as %d", used-used0)
	}
	var limits map[string]map[string]int
	call(t, org, "GET", "/limits", nil).json(t, &limits)
	if l := limits["DailyBulkV2QueryJobs"]; l["Max"] != 10000 || l["Remaining"] != 9999 {
		t.Errorf("DailyBulkV2QueryJobs %v", l)
	}
}

// Results before JobComplete are 412 JOB_NOT_COMPLETE; a job held by the
// test stays InProgress; abort and delete obey the job's state.
func TestBulkStatesAndErrors(t *testing.T) {
	clk := newClock()
	org := newOrg(t, salesforcetest.WithClock(clk.Now), salesforcetest.WithBulkJobDuration(time.Minute))
	r := call(t, org, "POST", "/jobs/query", map[string]string{"operation": "query", "query": "SELECT Id FROM Contact"})
	r.want(t, 200, "")
	var job struct {
		ID string `json:"id"`
	}
	r.json(t, &job)
	info := call(t, org, "GET", "/jobs/query/"+job.ID, nil)
	if !bytes.Contains(info.body, []byte(`"state":"InProgress"`)) {
		t.Fatalf("running job: %s", info.body)
	}
	res := call(t, org, "GET", "/jobs/query/"+job.ID+"/results", nil, "Accept", "text/csv")
	res.want(t, 412, "JOB_NOT_COMPLETE")
	if !strings.Contains(string(res.body), "Current status: IN_PROGRESS") {
		t.Errorf("412 body %s", res.body)
	}
	call(t, org, "DELETE", "/jobs/query/"+job.ID, nil).want(t, 400, "API_ERROR")
	clk.Advance(time.Minute)
	if info := call(t, org, "GET", "/jobs/query/"+job.ID, nil); !bytes.Contains(info.body, []byte(`"state":"JobComplete"`)) {
		t.Fatalf("after a minute: %s", info.body)
	}
	ab := call(t, org, "PATCH", "/jobs/query/"+job.ID, map[string]string{"state": "Aborted"})
	ab.want(t, 400, "INVALIDJOBSTATE")
	if !strings.Contains(string(ab.body), "Aborting already Completed Job not allowed") {
		t.Errorf("abort body %s", ab.body)
	}
	// Results must be read with the job's API version.
	call(t, org, "GET", "/services/data/v61.0/jobs/query/"+job.ID+"/results", nil, "Accept", "text/csv").want(t, 409, "")

	for body, code := range map[string]string{
		`{"operation":"upsert","query":"SELECT Id FROM Contact"}`:                          "INVALIDJOB",
		`{"operation":"query","query":"SELECT COUNT() FROM Contact"}`:                      "API_ERROR",
		`{"operation":"query","query":"SELECT Bogus FROM Contact"}`:                        "INVALIDJOB",
		`{"operation":"query","query":"SELECT Id FROM Contact","columnDelimiter":"SLASH"}`: "INVALIDJOB",
	} {
		var v any
		if err := jsonUnmarshal(body, &v); err != nil {
			t.Fatal(err)
		}
		call(t, org, "POST", "/jobs/query", v).want(t, 400, code)
	}
	call(t, org, "GET", "/services/data/v46.0/jobs/query", nil).want(t, 404, "NOT_FOUND")
}

// Accept-Encoding: gzip gets a gzip body; a held job waits for the test;
// a failed job carries its errorMessage.
func TestBulkGzipHoldAndFail(t *testing.T) {
	org := newOrg(t)
	createAccount(t, org, map[string]any{"Name": "Z"})
	org.HoldBulkJobs(true)
	create := func() string {
		var job struct {
			ID string `json:"id"`
		}
		call(t, org, "POST", "/jobs/query", map[string]string{"operation": "query", "query": "SELECT Name FROM Account"}).json(t, &job)
		return job.ID
	}
	held, failed := create(), create()
	if !bytes.Contains(call(t, org, "GET", "/jobs/query/"+held, nil).body, []byte(`"InProgress"`)) {
		t.Fatal("held job is not running")
	}
	if err := org.CompleteBulkJob(held); err != nil {
		t.Fatal(err)
	}
	if err := org.FailBulkJob(failed, "InternalServerError"); err != nil {
		t.Fatal(err)
	}
	if b := call(t, org, "GET", "/jobs/query/"+failed, nil).body; !bytes.Contains(b, []byte(`"state":"Failed"`)) || !bytes.Contains(b, []byte(`"errorMessage":"InternalServerError"`)) {
		t.Errorf("failed job: %s", b)
	}
	r := call(t, org, "GET", "/jobs/query/"+held+"/results", nil, "Accept", "text/csv", "Accept-Encoding", "gzip")
	if r.header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("headers %v", r.header)
	}
	zr, err := gzip.NewReader(bytes.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(zr)
	if string(b) != "\"Name\"\n\"Z\"\n" {
		t.Errorf("body %q", b)
	}
	if jobs := org.BulkJobs(); len(jobs) != 2 || jobs[0].Polls != 1 || jobs[0].ResultRequests != 1 || jobs[0].Records != 1 {
		t.Errorf("jobs %+v", jobs)
	}
}

// COUNT() over REST answers totalSize and no records.
func TestQueryCount(t *testing.T) {
	org := newOrg(t)
	for range 3 {
		createAccount(t, org, map[string]any{"Name": "C"})
	}
	var page struct {
		TotalSize int   `json:"totalSize"`
		Done      bool  `json:"done"`
		Records   []any `json:"records"`
	}
	call(t, org, "GET", "/query?q=SELECT+COUNT()+FROM+Account+WHERE+Name+=+'C'", nil).json(t, &page)
	if page.TotalSize != 3 || !page.Done || page.Records == nil || len(page.Records) != 0 {
		t.Errorf("count page %+v", page)
	}
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }
