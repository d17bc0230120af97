package salesforcetest_test

import (
	"strings"
	"testing"

	"github.com/sfsync/sfsync/salesforce/salesforcetest"
)

type result struct {
	ID      *string
	Success bool
	Created *bool
	Errors  []struct {
		StatusCode string
		Message    string
		Fields     []string
	}
}

func acct(fields map[string]any) map[string]any {
	fields["attributes"] = map[string]any{"type": "Account"}
	return fields
}

func collect(t *testing.T, r resp) []result {
	t.Helper()
	r.want(t, 200, "")
	var out []result
	r.json(t, &out)
	return out
}

func rejectBad(org *salesforcetest.Org) {
	org.AddValidationRule("Account", func(f map[string]any) (string, string, bool) {
		return "Bad name", "Name", f["Name"] != "Bad"
	})
}

func TestCollectionsPartialFailure(t *testing.T) {
	org := newOrg(t)
	rejectBad(org)
	recs := []map[string]any{acct(map[string]any{"Name": "A"}), acct(map[string]any{"Name": "Bad"}), acct(map[string]any{"Name": "C"})}
	res := collect(t, call(t, org, "POST", "/composite/sobjects", map[string]any{"records": recs}))
	if len(res) != 3 || !res[0].Success || res[1].Success || !res[2].Success || res[1].ID != nil {
		t.Fatalf("results %+v", res)
	}
	if e := res[1].Errors; len(e) != 1 || e[0].StatusCode != "FIELD_CUSTOM_VALIDATION_EXCEPTION" || e[0].Fields[0] != "Name" {
		t.Fatalf("errors %+v", e)
	}
	if n := len(org.Records("Account")); n != 2 {
		t.Fatalf("%d accounts", n)
	}
	if used, _ := org.APIUsage(); used != 1 {
		t.Fatalf("collections call counted %d", used)
	}
	if org.Writes() != 2 {
		t.Fatalf("writes %d", org.Writes())
	}

	// Update: one good, one deleted, one missing id, one malformed.
	a, c := *res[0].ID, *res[2].ID
	if err := org.DeleteAsUser("Account", c); err != nil {
		t.Fatal(err)
	}
	upd := []map[string]any{acct(map[string]any{"Id": a, "Phone": "1"}), acct(map[string]any{"Id": c, "Phone": "1"}),
		acct(map[string]any{"Phone": "1"}), acct(map[string]any{"Id": "xyz", "Phone": "1"})}
	res = collect(t, call(t, org, "PATCH", "/composite/sobjects", map[string]any{"records": upd}))
	codes := []string{"", "ENTITY_IS_DELETED", "MISSING_ARGUMENT", "MALFORMED_ID"}
	for i, r := range res {
		if (codes[i] == "") != r.Success || (codes[i] != "" && r.Errors[0].StatusCode != codes[i]) {
			t.Fatalf("update result %d: %+v", i, r)
		}
	}
	if *res[0].ID != a || *res[1].ID != c {
		t.Fatalf("update ids %+v", res)
	}

	// Delete with one unknown id.
	r := call(t, org, "DELETE", "/composite/sobjects?ids="+a+",001000000000999AAA&allOrNone=false", nil)
	res = collect(t, r)
	if !res[0].Success || res[1].Success || res[1].Errors[0].StatusCode != "INVALID_CROSS_REFERENCE_KEY" {
		t.Fatalf("delete %s", r.body)
	}
}

func TestCollectionsAllOrNone(t *testing.T) {
	org := newOrg(t)
	rejectBad(org)
	existing := createAccount(t, org, map[string]any{"Name": "Keep"})
	recs := []map[string]any{acct(map[string]any{"Name": "A"}), acct(map[string]any{"Name": "Bad"})}
	res := collect(t, call(t, org, "POST", "/composite/sobjects", map[string]any{"allOrNone": true, "records": recs}))
	if res[0].Success || res[0].Errors[0].StatusCode != "ALL_OR_NONE_OPERATION_ROLLED_BACK" || res[0].ID != nil ||
		res[1].Errors[0].StatusCode != "FIELD_CUSTOM_VALIDATION_EXCEPTION" {
		t.Fatalf("results %+v", res)
	}
	upd := []map[string]any{acct(map[string]any{"Id": existing, "Phone": "9"}), acct(map[string]any{"Id": existing, "Name": "Bad"})}
	res = collect(t, call(t, org, "PATCH", "/composite/sobjects", map[string]any{"allOrNone": true, "records": upd}))
	if res[0].Errors[0].StatusCode != "ALL_OR_NONE_OPERATION_ROLLED_BACK" {
		t.Fatalf("update results %+v", res)
	}
	rec, _ := org.Record("Account", existing)
	if n := len(org.Records("Account")); n != 1 || rec["Phone"] != nil {
		t.Fatalf("rolled back state: %d accounts, %v", n, rec)
	}
	res = collect(t, call(t, org, "DELETE", "/composite/sobjects?allOrNone=true&ids="+existing+",bad", nil))
	if res[0].Errors[0].StatusCode != "ALL_OR_NONE_OPERATION_ROLLED_BACK" || res[1].Errors[0].StatusCode != "MALFORMED_ID" {
		t.Fatalf("delete results %+v", res)
	}
	if _, ok := org.Record("Account", existing); !ok {
		t.Fatal("delete not rolled back")
	}
	if org.Writes() != 1 {
		t.Fatalf("writes %d", org.Writes())
	}
}

func TestCollectionsLimitsAndRequestErrors(t *testing.T) {
	org := newOrg(t)
	var recs []map[string]any
	for range 201 {
		recs = append(recs, acct(map[string]any{"Name": "x"}))
	}
	call(t, org, "POST", "/composite/sobjects", map[string]any{"records": recs}).want(t, 400, "EXCEEDED_ID_LIMIT")
	collect(t, call(t, org, "POST", "/composite/sobjects", map[string]any{"records": recs[:200]}))
	ids := make([]string, 201)
	for i := range ids {
		ids[i] = "001000000000001AAA"
	}
	call(t, org, "DELETE", "/composite/sobjects?ids="+strings.Join(ids, ","), nil).want(t, 400, "EXCEEDED_ID_LIMIT")
	call(t, org, "POST", "/composite/sobjects", map[string]any{"records": []any{map[string]any{"Name": "x"}}}).want(t, 400, "INVALID_TYPE")
	call(t, org, "POST", "/composite/sobjects", map[string]any{"records": []any{acct(map[string]any{"Nope": "x"})}}).want(t, 400, "INVALID_FIELD")
	call(t, org, "POST", "/composite/sobjects", "not an object").want(t, 400, "JSON_PARSER_ERROR")
	res := collect(t, call(t, org, "POST", "/composite/sobjects", map[string]any{"records": []any{acct(map[string]any{"Name": "x", "Id": "001000000000001AAA"})}}))
	if res[0].Errors[0].StatusCode != "INVALID_FIELD" {
		t.Fatalf("create with id %+v", res)
	}
}

func TestCollectionsRetrieveAndUpsert(t *testing.T) {
	org := newOrg(t)
	a := createAccount(t, org, map[string]any{"Name": "A", "External_Id__c": "E1"})
	b := createAccount(t, org, map[string]any{"Name": "B"})
	call(t, org, "DELETE", "/sobjects/Account/"+b, nil).want(t, 204, "")
	r := call(t, org, "GET", "/composite/sobjects/Account?ids="+a+","+b+",001000000000099AAA&fields=Id,Name", nil)
	r.want(t, 200, "")
	var got []map[string]any
	r.json(t, &got)
	if len(got) != 3 || got[0]["Name"] != "A" || got[1] != nil || got[2] != nil || len(got[0]) != 3 {
		t.Fatalf("retrieve %s", r.body)
	}
	call(t, org, "GET", "/composite/sobjects/Account?ids="+a+"&fields=Nope", nil).want(t, 400, "INVALID_FIELD")

	ups := []map[string]any{acct(map[string]any{"External_Id__c": "E1", "Phone": "1"}), acct(map[string]any{"External_Id__c": "E2", "Name": "New"}),
		acct(map[string]any{"Name": "NoKey"}), acct(map[string]any{"External_Id__c": "E2", "Name": "Again"})}
	res := collect(t, call(t, org, "PATCH", "/composite/sobjects/Account/External_Id__c", map[string]any{"records": ups}))
	if !res[0].Success || *res[0].Created || *res[0].ID != a || !res[1].Success || !*res[1].Created ||
		res[2].Success || res[3].Errors[0].StatusCode != "DUPLICATE_EXTERNAL_ID" || res[3].Created == nil {
		t.Fatalf("upsert %+v", res)
	}
	if rec, _ := org.Record("Account", a); rec["Phone"] != "1" {
		t.Fatalf("upsert update %v", rec)
	}
	call(t, org, "PATCH", "/composite/sobjects/Account/Name", map[string]any{"records": ups[:1]}).want(t, 404, "NOT_FOUND")
}
