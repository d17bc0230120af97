package salesforcetest_test

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sfsync/sfsync/salesforce/salesforcetest"
)

type queryResult struct {
	TotalSize      int
	Done           bool
	NextRecordsURL string
	Records        []map[string]any
}

func soql(t *testing.T, org *salesforcetest.Org, resource, q string, hdr ...string) queryResult {
	t.Helper()
	r := call(t, org, "GET", "/"+resource+"?q="+url.QueryEscape(q), nil, hdr...)
	r.want(t, 200, "")
	var out queryResult
	r.json(t, &out)
	return out
}

func TestQueryPagination(t *testing.T) {
	org := newOrg(t, salesforcetest.WithQueryPageSize(2))
	var ids []string
	for i := range 5 {
		ids = append(ids, createAccount(t, org, map[string]any{"Name": fmt.Sprintf("A%d", i)}))
	}
	res := soql(t, org, "query", "SELECT Id, Name FROM Account")
	var names []string
	pages := 1
	for {
		for _, r := range res.Records {
			names = append(names, r["Name"].(string))
			if len(r) != 3 || r["attributes"].(map[string]any)["type"] != "Account" {
				t.Fatalf("record %v", r)
			}
		}
		if res.TotalSize != 5 {
			t.Fatalf("totalSize %d", res.TotalSize)
		}
		if res.Done {
			break
		}
		if !strings.HasPrefix(res.NextRecordsURL, api+"/query/01g") {
			t.Fatalf("nextRecordsUrl %q", res.NextRecordsURL)
		}
		r := call(t, org, "GET", res.NextRecordsURL, nil)
		r.want(t, 200, "")
		res = queryResult{}
		r.json(t, &res)
		pages++
	}
	if pages != 3 || strings.Join(names, ",") != "A0,A1,A2,A3,A4" {
		t.Fatalf("%d pages, names %v", pages, names)
	}
	call(t, org, "GET", "/query/01g000000000999AAA-2", nil).want(t, 400, "INVALID_QUERY_LOCATOR")

	// batchSize below the configured page size is clamped to 200 at least.
	big := newOrg(t)
	for i := range 250 {
		big.Insert("Account", map[string]any{"Name": fmt.Sprint(i)})
	}
	res = soql(t, big, "query", "SELECT Id FROM Account", "Sforce-Query-Options", "batchSize=100")
	if len(res.Records) != 200 || res.Done {
		t.Fatalf("batch %d done %v", len(res.Records), res.Done)
	}
	res = soql(t, big, "query", "SELECT Id FROM Account")
	if len(res.Records) != 250 || !res.Done || res.NextRecordsURL != "" {
		t.Fatalf("default page %d", len(res.Records))
	}

	// WHERE, ORDER BY, LIMIT.
	res = soql(t, org, "query", fmt.Sprintf("SELECT Name FROM Account WHERE Id IN ('%s', '%s', '%s') ORDER BY Name DESC LIMIT 2", ids[0], ids[3], ids[4][:15]))
	if res.TotalSize != 2 || res.Records[0]["Name"] != "A4" || res.Records[1]["Name"] != "A3" {
		t.Fatalf("filtered %+v", res)
	}
	res = soql(t, org, "query", "select name from account where name = 'a1'")
	if res.TotalSize != 1 || res.Records[0]["Name"] != "A1" {
		t.Fatalf("case-insensitive %+v", res)
	}
}

func TestQueryErrors(t *testing.T) {
	org := newOrg(t)
	for q, code := range map[string]string{
		"SELEKT Id FROM Account": "MALFORMED_QUERY",
		"SELECT Id FROM":         "MALFORMED_QUERY",
		"SELECT Id FROM Account WHERE Name = 'a' OR Name = 'b'":                "MALFORMED_QUERY",
		"SELECT Id FROM Account LIMIT x":                                       "MALFORMED_QUERY",
		"SELECT Id FROM Account WHERE Name = 'unterminated":                    "MALFORMED_QUERY",
		"SELECT Id FROM Nope__c":                                               "INVALID_TYPE",
		"SELECT Bogus FROM Account":                                            "INVALID_FIELD",
		"SELECT Id FROM Account WHERE SystemModstamp > '2024-01-01T00:00:00Z'": "INVALID_FIELD",
	} {
		r := call(t, org, "GET", "/query?q="+url.QueryEscape(q), nil)
		if r.status != 400 || r.sfErr(t)["errorCode"] != code {
			t.Errorf("%s: %d %s, want %s", q, r.status, r.body, code)
		}
	}
}

func TestQueryAllAndModstamp(t *testing.T) {
	clk := newClock()
	org := newOrg(t, salesforcetest.WithClock(clk.Now))
	a := createAccount(t, org, map[string]any{"Name": "A"})
	clk.Advance(time.Hour)
	b := createAccount(t, org, map[string]any{"Name": "B"})
	clk.Advance(time.Hour)
	call(t, org, "DELETE", "/sobjects/Account/"+a, nil).want(t, 204, "")

	if res := soql(t, org, "query", "SELECT Id FROM Account"); res.TotalSize != 1 || res.Records[0]["Id"] != b {
		t.Fatalf("query %+v", res)
	}
	res := soql(t, org, "queryAll", "SELECT Id, IsDeleted, SystemModstamp FROM Account WHERE IsDeleted = true")
	if res.TotalSize != 1 || res.Records[0]["Id"] != a || res.Records[0]["IsDeleted"] != true ||
		res.Records[0]["SystemModstamp"] != "2026-03-10T14:00:00.000+0000" {
		t.Fatalf("queryAll %+v", res)
	}
	res = soql(t, org, "queryAll", "SELECT Id FROM Account WHERE SystemModstamp >= 2026-03-10T13:00:00Z ORDER BY SystemModstamp")
	if res.TotalSize != 2 || res.Records[0]["Id"] != b || res.Records[1]["Id"] != a {
		t.Fatalf("modstamp %+v", res)
	}
	res = soql(t, org, "query", "SELECT Id FROM Account WHERE LastModifiedDate < 2026-03-10T13:00:00.000+0000")
	if res.TotalSize != 0 {
		t.Fatalf("deleted row in query %+v", res)
	}
	res = soql(t, org, "query", "SELECT Id FROM Account WHERE External_Id__c = null AND Name != 'x'")
	if res.TotalSize != 1 {
		t.Fatalf("null filter %+v", res)
	}
}

func TestGetUpdatedDeleted(t *testing.T) {
	clk := newClock()
	org := newOrg(t, salesforcetest.WithClock(clk.Now))
	a := createAccount(t, org, map[string]any{"Name": "A"})
	clk.Advance(90 * time.Second) // 12:01:30
	b := createAccount(t, org, map[string]any{"Name": "B"})
	call(t, org, "DELETE", "/sobjects/Account/"+a, nil).want(t, 204, "")
	clk.Advance(10 * time.Minute) // 12:11:30

	q := "?start=" + url.QueryEscape("2026-03-10T12:00:00+00:00") + "&end=" + url.QueryEscape("2026-03-10T12:01:45+00:00")
	r := call(t, org, "GET", "/sobjects/Account/updated/"+q, nil)
	r.want(t, 200, "")
	var upd struct {
		IDs               []string
		LatestDateCovered string
	}
	r.json(t, &upd)
	// end is truncated to 12:01:00, so B (12:01:30) is outside; A is deleted.
	if len(upd.IDs) != 0 || upd.LatestDateCovered != "2026-03-10T12:01:00.000+0000" {
		t.Fatalf("updated %s", r.body)
	}
	r = call(t, org, "GET", "/sobjects/Account/updated/?start=2026-03-10T12:01:00Z&end=2026-03-10T13:00:00Z", nil)
	r.json(t, &upd)
	if len(upd.IDs) != 1 || upd.IDs[0] != b || upd.LatestDateCovered != "2026-03-10T12:11:00.000+0000" {
		t.Fatalf("updated %s", r.body)
	}
	r = call(t, org, "GET", "/sobjects/Account/deleted/?start=2026-03-10T12:00:00Z&end=2026-03-10T12:05:00Z", nil)
	var del struct {
		DeletedRecords []struct {
			ID          string
			DeletedDate string
		}
		EarliestDateAvailable string
		LatestDateCovered     string
	}
	r.json(t, &del)
	if len(del.DeletedRecords) != 1 || del.DeletedRecords[0].ID != a || del.DeletedRecords[0].DeletedDate != "2026-03-10T12:01:30.000+0000" ||
		del.EarliestDateAvailable != "2026-03-10T12:00:00.000+0000" {
		t.Fatalf("deleted %s", r.body)
	}
	org.PurgeDeleteLog(clk.Now())
	r = call(t, org, "GET", "/sobjects/Account/deleted/?start=2026-03-10T12:00:00Z&end=2026-03-10T12:05:00Z", nil)
	del.DeletedRecords = nil
	r.json(t, &del)
	if len(del.DeletedRecords) != 0 || del.EarliestDateAvailable != "2026-03-10T12:11:00.000+0000" {
		t.Fatalf("after purge %s", r.body)
	}
	call(t, org, "GET", "/sobjects/Account/updated/?start=2026-03-10T12:05:00Z&end=2026-03-10T12:00:00Z", nil).want(t, 400, "INVALID_REPLICATION_DATE")
	call(t, org, "GET", "/sobjects/Account/updated/?start=2026-01-01T00:00:00Z&end=2026-03-10T12:00:00Z", nil).want(t, 400, "INVALID_REPLICATION_DATE")
	call(t, org, "GET", "/sobjects/Account/deleted/?start=2026-02-20T00:00:00Z&end=2026-03-10T12:00:00Z", nil).want(t, 400, "INVALID_REPLICATION_DATE")
}
