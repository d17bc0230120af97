package salesforcetest_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sfsync/sfsync/salesforce/salesforcetest"
)

func TestRowCRUD(t *testing.T) {
	clk := newClock()
	org := newOrg(t, salesforcetest.WithClock(clk.Now))
	r := call(t, org, "POST", "/sobjects/Account", map[string]any{"Name": "Acme", "BillingStreet": "1 Main", "AnnualRevenue": 12.5})
	r.want(t, 201, "")
	if string(r.body) != `{"id":"001000000000001AAA","success":true,"errors":[]}` {
		t.Fatalf("create body %s", r.body)
	}
	id := "001000000000001AAA"
	if !strings.HasPrefix(r.header.Get("Sforce-Limit-Info"), "api-usage=1/15000") {
		t.Fatalf("limit header %q", r.header.Get("Sforce-Limit-Info"))
	}
	second := createAccount(t, org, map[string]any{"Name": "Second"})
	if second <= id || len(second) != 18 {
		t.Fatalf("ids not increasing: %s %s", id, second)
	}

	r = call(t, org, "GET", "/sobjects/Account/"+id, nil)
	r.want(t, 200, "")
	var rec map[string]any
	r.json(t, &rec)
	attrs := rec["attributes"].(map[string]any)
	if attrs["type"] != "Account" || attrs["url"] != api+"/sobjects/Account/"+id || rec["Id"] != id ||
		rec["BillingStreet"] != "1 Main" || rec["AnnualRevenue"] != 12.5 || rec["IsDeleted"] != false ||
		rec["SystemModstamp"] != "2026-03-10T12:00:00.000+0000" || rec["CreatedById"] != org.IntegrationUserID() {
		t.Fatalf("record %v", rec)
	}
	if lm := r.header.Get("Last-Modified"); lm != "Tue, 10 Mar 2026 12:00:00 GMT" {
		t.Fatalf("Last-Modified %q", lm)
	}
	if r.header.Get("ETag") == "" {
		t.Fatal("Account without ETag")
	}
	call(t, org, "GET", "/sobjects/Account/"+id, nil, "If-None-Match", r.header.Get("ETag")).want(t, 304, "")

	r = call(t, org, "GET", "/sobjects/Account/"+id+"?fields=Name,BillingStreet", nil)
	var small map[string]any
	r.json(t, &small)
	if len(small) != 3 || small["Name"] != "Acme" {
		t.Fatalf("fields= record %v", small)
	}
	// A 15-character id works too.
	call(t, org, "GET", "/sobjects/Account/"+id[:15], nil).want(t, 200, "")

	clk.Advance(time.Minute)
	r = call(t, org, "PATCH", "/sobjects/Account/"+id, map[string]any{"Phone": "555"})
	r.want(t, 204, "")
	if len(r.body) != 0 {
		t.Fatalf("204 with body %s", r.body)
	}
	got, ok := org.Record("Account", id)
	if !ok || got["Phone"] != "555" || got["LastModifiedDate"] != "2026-03-10T12:01:00.000+0000" {
		t.Fatalf("after patch %v", got)
	}

	call(t, org, "DELETE", "/sobjects/Account/"+id, nil).want(t, 204, "")
	for _, m := range []string{"GET", "PATCH", "DELETE"} {
		var body any
		if m == "PATCH" {
			body = map[string]any{"Phone": "1"}
		}
		r := call(t, org, m, "/sobjects/Account/"+id, body)
		r.want(t, 404, "ENTITY_IS_DELETED")
	}
	if _, ok := org.Record("Account", id); ok {
		t.Fatal("deleted record visible")
	}
	if org.Writes() != 4 {
		t.Fatalf("writes %d", org.Writes())
	}
}

func TestRowErrors(t *testing.T) {
	org := newOrg(t)
	id := createAccount(t, org, map[string]any{"Name": "Acme"})
	call(t, org, "POST", "/sobjects/Account", map[string]any{"Name": "X", "Bogus__c": 1}).want(t, 400, "INVALID_FIELD")
	call(t, org, "PATCH", "/sobjects/Account/"+id, map[string]any{"Bogus__c": 1}).want(t, 400, "INVALID_FIELD")
	call(t, org, "POST", "/sobjects/Nope__c", map[string]any{"Name": "X"}).want(t, 404, "NOT_FOUND")
	call(t, org, "GET", "/sobjects/Account/not-an-id", nil).want(t, 400, "MALFORMED_ID")
	call(t, org, "GET", "/sobjects/Account/003000000000001AAA", nil).want(t, 400, "MALFORMED_ID")
	call(t, org, "GET", "/sobjects/Account/001000000000099AAA", nil).want(t, 404, "NOT_FOUND")
	r := call(t, org, "POST", "/sobjects/Account", map[string]any{"Phone": "1"})
	r.want(t, 400, "REQUIRED_FIELD_MISSING")
	if f := r.sfErr(t)["fields"].([]any); len(f) != 1 || f[0] != "Name" {
		t.Fatalf("fields %v", f)
	}
	call(t, org, "PATCH", "/sobjects/Account/"+id, map[string]any{"CreatedDate": "2020-01-01T00:00:00Z"}).want(t, 400, "INVALID_FIELD_FOR_INSERT_UPDATE")
	call(t, org, "PATCH", "/sobjects/Account/"+id, map[string]any{"NumberOfEmployees": "many"}).want(t, 400, "JSON_PARSER_ERROR")
	call(t, org, "PUT", "/sobjects/Account/"+id, map[string]any{}).want(t, 405, "METHOD_NOT_ALLOWED")
	call(t, org, "GET", "/nowhere", nil).want(t, 404, "NOT_FOUND")

	org.AddValidationRule("Account", func(f map[string]any) (string, string, bool) {
		return "Phone must start with +", "Phone", f["Phone"] == nil || strings.HasPrefix(f["Phone"].(string), "+")
	})
	r = call(t, org, "PATCH", "/sobjects/Account/"+id, map[string]any{"Phone": "555"})
	r.want(t, 400, "FIELD_CUSTOM_VALIDATION_EXCEPTION")
	if e := r.sfErr(t); e["message"] != "Phone must start with +" {
		t.Fatalf("error %v", e)
	}
	if err := org.EditAsUser("Account", id, map[string]any{"Phone": "1"}); err == nil {
		t.Fatal("UI edit bypassed the validation rule")
	}
	rec, _ := org.Record("Account", id)
	if rec["Phone"] != nil {
		t.Fatalf("failed write applied: %v", rec["Phone"])
	}

	r = callTok(t, org, "bogus", "GET", "/limits", nil)
	r.want(t, 401, "INVALID_SESSION_ID")
}

func TestIfUnmodifiedSince(t *testing.T) {
	clk := newClock()
	org := newOrg(t, salesforcetest.WithClock(clk.Now))
	id := createAccount(t, org, map[string]any{"Name": "Acme"})
	read := call(t, org, "GET", "/sobjects/Account/"+id, nil)
	lm := read.header.Get("Last-Modified")
	call(t, org, "PATCH", "/sobjects/Account/"+id, map[string]any{"Phone": "1"}, "If-Unmodified-Since", lm).want(t, 204, "")
	clk.Advance(2 * time.Second)
	// Someone else edits after our read.
	if err := org.EditAsUser("Account", id, map[string]any{"Phone": "2"}); err != nil {
		t.Fatal(err)
	}
	call(t, org, "PATCH", "/sobjects/Account/"+id, map[string]any{"Phone": "3"}, "If-Unmodified-Since", lm).want(t, 412, "PRECONDITION_FAILED")
	if rec, _ := org.Record("Account", id); rec["Phone"] != "2" {
		t.Fatalf("412 wrote: %v", rec["Phone"])
	}
	call(t, org, "PATCH", "/sobjects/Account/"+id, map[string]any{"Phone": "3"}, "If-Unmodified-Since", "yesterday").want(t, 400, "")
	newLM := clk.Now().Format(http.TimeFormat)
	call(t, org, "PATCH", "/sobjects/Account/"+id, map[string]any{"Phone": "3"}, "If-Unmodified-Since", newLM).want(t, 204, "")
	call(t, org, "PATCH", "/sobjects/Account/"+id, map[string]any{"Phone": "4"}, "If-Match", `"nope"`).want(t, 412, "PRECONDITION_FAILED")
	call(t, org, "GET", "/sobjects/Account/"+id, nil, "If-Modified-Since", newLM).want(t, 304, "")
}

func TestUpsert(t *testing.T) {
	org := newOrg(t)
	r := call(t, org, "PATCH", "/sobjects/Account/External_Id__c/EXT-1", map[string]any{"Name": "Acme"})
	r.want(t, 201, "")
	var res struct {
		ID      string
		Success bool
		Created *bool
	}
	r.json(t, &res)
	if !res.Success || res.Created == nil || !*res.Created {
		t.Fatalf("created %s", r.body)
	}
	r = call(t, org, "PATCH", "/sobjects/Account/External_Id__c/EXT-1", map[string]any{"Phone": "1"})
	r.want(t, 200, "")
	var upd struct {
		ID      string
		Created *bool
	}
	r.json(t, &upd)
	if upd.ID != res.ID || upd.Created == nil || *upd.Created {
		t.Fatalf("update %s", r.body)
	}
	r = call(t, org, "PATCH", "/services/data/v45.0/sobjects/Account/External_Id__c/EXT-1", map[string]any{"Phone": "2"})
	r.want(t, 204, "")
	// A second record with the same external id (created in the UI) makes it ambiguous.
	org.Insert("Account", map[string]any{"Name": "Dup", "External_Id__c": "ext-1"})
	r = call(t, org, "PATCH", "/sobjects/Account/External_Id__c/EXT-1", map[string]any{"Phone": "3"})
	r.want(t, 300, "")
	var urls []string
	r.json(t, &urls)
	if len(urls) != 2 || urls[0] != api+"/sobjects/Account/"+res.ID {
		t.Fatalf("300 body %s", r.body)
	}
	call(t, org, "GET", "/sobjects/Account/External_Id__c/EXT-1", nil).want(t, 300, "")
	call(t, org, "PATCH", "/sobjects/Account/Phone/1", map[string]any{"Name": "x"}).want(t, 404, "NOT_FOUND")
	r = call(t, org, "PATCH", "/sobjects/Contact/External_Id__c/C-1", map[string]any{"LastName": "Doe"})
	r.want(t, 201, "")
	call(t, org, "GET", "/sobjects/Contact/External_Id__c/C-1", nil).want(t, 200, "")
	rec := org.Records("Contact")
	if len(rec) != 1 || rec[0]["External_Id__c"] != "C-1" || rec[0]["Name"] != "Doe" {
		t.Fatalf("contacts %v", rec)
	}
}

func TestEmployeeFields(t *testing.T) {
	org := newOrg(t)
	r := call(t, org, "POST", "/sobjects/Employee__c", map[string]any{"Name": "E", "Office__c__Latitude__s": 1.5, "Grade__c": 3, "Active__c": true, "Hired__c": "2024-02-01"})
	r.want(t, 201, "")
	var out struct{ ID string }
	r.json(t, &out)
	if !strings.HasPrefix(out.ID, "a01") {
		t.Fatalf("id %s", out.ID)
	}
	rec, _ := org.Record("Employee__c", out.ID)
	if rec["Office__c__Latitude__s"] != 1.5 || rec["Grade__c"] != int64(3) || rec["Active__c"] != true || rec["Hired__c"] != "2024-02-01" {
		t.Fatalf("employee %v", rec)
	}
	call(t, org, "GET", "/sobjects/Employee__c/describe", nil).want(t, 200, "")
}
