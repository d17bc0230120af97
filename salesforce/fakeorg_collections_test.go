package salesforce_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/salesforce"
	"github.com/sfsync/sfsync/salesforce/salesforcetest"
)

// foRejectInvalid makes LastName "Invalid" fail Contact's validation.
func foRejectInvalid(org *salesforcetest.Org) {
	org.AddValidationRule("Contact", func(f map[string]any) (string, string, bool) {
		if f["LastName"] == "Invalid" {
			return "Last name may not be Invalid", "LastName", false
		}
		return "", "", true
	})
}

// foWantRecordError checks a failed per-record result.
func foWantRecordError(t *testing.T, what string, r salesforce.SaveResult, code string, kind sfsync.Kind) {
	t.Helper()
	if r.Success || len(r.Errors) == 0 || r.Errors[0].StatusCode != code {
		t.Fatalf("%s: %+v; want a failure %s", what, r, code)
	}
	err := r.Err()
	foWantKind(t, what, err, kind)
	if ae := foAPIError(t, err); ae.Code != code || ae.Status != 0 {
		t.Fatalf("%s: APIError status %d code %s", what, ae.Status, ae.Code)
	}
}

// C8: every collections operation, per-record results in request order,
// one API call each.
func TestFakeOrgCollections(t *testing.T) {
	ctx := foCtx(t)
	org := salesforcetest.NewOrg()
	defer org.Close()
	foRejectInvalid(org)
	c := orgClient(t, org)

	used := foUsed(org)
	res, err := c.CreateRecords(ctx, "Contact", []map[string]any{
		{"LastName": "Alpha", "External_Id__c": "C-A"},
		{"LastName": "Invalid", "External_Id__c": "C-B"},
		{"LastName": "Gamma", "External_Id__c": "C-C"},
	}, false)
	if err != nil {
		t.Fatal(err)
	}
	if foUsed(org) != used+1 {
		t.Fatalf("CreateRecords cost %d calls, want 1", foUsed(org)-used)
	}
	if len(res) != 3 || !res[0].Success || !res[2].Success || res[0].Err() != nil {
		t.Fatalf("results %+v", res)
	}
	foWantRecordError(t, "validation failure", res[1], "FIELD_CUSTOM_VALIDATION_EXCEPTION", sfsync.KindPermanent)
	if res[1].Errors[0].Message != "Last name may not be Invalid" || !slices.Equal(res[1].Errors[0].Fields, []string{"LastName"}) {
		t.Fatalf("record error %+v", res[1].Errors[0])
	}
	a, g := res[0].ID, res[2].ID
	for id, name := range map[string]string{a: "Alpha", g: "Gamma"} {
		if rec, ok := org.Record("Contact", id); !ok || rec["LastName"] != name {
			t.Fatalf("record %s = %v, want LastName %s", id, rec, name)
		}
	}
	if n := len(org.Records("Contact")); n != 2 {
		t.Fatalf("%d contacts, want 2", n)
	}

	// Update: results in order, read back; one invalid record fails alone.
	res, err = c.UpdateRecords(ctx, "Contact", []map[string]any{
		{"Id": g, "Email": "gamma@example.com"},
		{"Id": a, "LastName": "Invalid", "Email": "alpha@example.com"},
	}, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 || !res[0].Success || res[0].ID != g {
		t.Fatalf("update results %+v", res)
	}
	foWantRecordError(t, "invalid update", res[1], "FIELD_CUSTOM_VALIDATION_EXCEPTION", sfsync.KindPermanent)
	if rec, _ := org.Record("Contact", g); rec["Email"] != "gamma@example.com" {
		t.Fatalf("gamma Email %v", rec["Email"])
	}
	if rec, _ := org.Record("Contact", a); rec["Email"] != nil || rec["LastName"] != "Alpha" {
		t.Fatalf("alpha = %v after its failed update", rec)
	}

	// Upsert: a new external id inserts, an existing one updates.
	res, err = c.UpsertRecords(ctx, "Contact", "External_Id__c", []map[string]any{
		{"External_Id__c": "C-NEW", "LastName": "Delta"},
		{"External_Id__c": "C-A", "LastName": "Alpha2", "Id": "dropped"},
	}, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 || !res[0].Success || !res[0].Created || res[0].ID == "" || !res[1].Success || res[1].Created || res[1].ID != a {
		t.Fatalf("upsert results %+v", res)
	}
	d := res[0].ID
	if rec, _ := org.Record("Contact", d); rec["LastName"] != "Delta" || rec["External_Id__c"] != "C-NEW" {
		t.Fatalf("upserted %v", rec)
	}
	if rec, _ := org.Record("Contact", a); rec["LastName"] != "Alpha2" {
		t.Fatalf("upsert update: %v", rec)
	}

	// Retrieve keeps the order of the ids.
	recs, err := c.RetrieveRecords(ctx, "Contact", []string{d, g, a}, []string{"LastName", "Email"})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range recs {
		names = append(names, fmt.Sprint(r["LastName"]))
	}
	if !slices.Equal(names, []string{"Delta", "Gamma", "Alpha2"}) || recs[1]["Email"] != "gamma@example.com" {
		t.Fatalf("retrieved %v", recs)
	}

	// Delete: a malformed id fails alone; deleting again is ENTITY_IS_DELETED.
	res, err = c.DeleteRecords(ctx, []string{d, "003bogus"}, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 || !res[0].Success || res[0].ID != d {
		t.Fatalf("delete results %+v", res)
	}
	foWantRecordError(t, "malformed id", res[1], "MALFORMED_ID", sfsync.KindPermanent)
	if _, ok := org.Record("Contact", d); ok {
		t.Fatal("deleted record still live")
	}
	res, err = c.DeleteRecords(ctx, []string{d}, false)
	if err != nil {
		t.Fatal(err)
	}
	foWantRecordError(t, "delete again", res[0], "ENTITY_IS_DELETED", sfsync.KindConflict)
	if !errors.Is(res[0].Err(), salesforce.ErrEntityDeleted) {
		t.Fatalf("%v does not match ErrEntityDeleted", res[0].Err())
	}
	// Retrieve skips the deleted record.
	recs, err = c.RetrieveRecords(ctx, "Contact", []string{d, g}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0]["Id"] != g {
		t.Fatalf("retrieve with a deleted id: %v", recs)
	}

	// Two records share an external id: DUPLICATE_EXTERNAL_ID for that record.
	t1 := org.Insert("Contact", map[string]any{"LastName": "Twin", "External_Id__c": "DUP-2"})
	t2 := org.Insert("Contact", map[string]any{"LastName": "Twin", "External_Id__c": "DUP-2"})
	res, err = c.UpsertRecords(ctx, "Contact", "External_Id__c", []map[string]any{
		{"External_Id__c": "DUP-2", "LastName": "Merged"},
		{"External_Id__c": "C-C", "Email": "c@example.com"},
	}, false)
	if err != nil {
		t.Fatal(err)
	}
	foWantRecordError(t, "duplicate external id", res[0], "DUPLICATE_EXTERNAL_ID", sfsync.KindConflict)
	if !errors.Is(res[0].Err(), salesforce.ErrMultipleMatches) {
		t.Fatalf("%v does not match ErrMultipleMatches", res[0].Err())
	}
	if msg := res[0].Errors[0].Message; !strings.Contains(msg, t1) || !strings.Contains(msg, t2) {
		t.Fatalf("DUPLICATE_EXTERNAL_ID message %q lacks the ids", msg)
	}
	if !res[1].Success || res[1].ID != g || res[1].Created {
		t.Fatalf("the other record: %+v", res[1])
	}
}

// C8: with allOrNone one failure rolls everything back and the others
// report ALL_OR_NONE_OPERATION_ROLLED_BACK (retryable: resubmit them).
func TestFakeOrgCollectionsAllOrNone(t *testing.T) {
	ctx := foCtx(t)
	org := salesforcetest.NewOrg()
	defer org.Close()
	foRejectInvalid(org)
	c := orgClient(t, org)

	writes := org.Writes()
	res, err := c.CreateRecords(ctx, "Contact", []map[string]any{
		{"LastName": "One"}, {"LastName": "Invalid"}, {"LastName": "Three"},
	}, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 3 {
		t.Fatalf("results %+v", res)
	}
	foWantRecordError(t, "rolled back 0", res[0], "ALL_OR_NONE_OPERATION_ROLLED_BACK", sfsync.KindRetryable)
	foWantRecordError(t, "invalid", res[1], "FIELD_CUSTOM_VALIDATION_EXCEPTION", sfsync.KindPermanent)
	foWantRecordError(t, "rolled back 2", res[2], "ALL_OR_NONE_OPERATION_ROLLED_BACK", sfsync.KindRetryable)
	if n := len(org.Records("Contact")); n != 0 || org.Writes() != writes {
		t.Fatalf("%d contacts and %d writes after a rolled-back create", n, org.Writes()-writes)
	}

	x := org.Insert("Contact", map[string]any{"LastName": "X"})
	y := org.Insert("Contact", map[string]any{"LastName": "Y"})
	res, err = c.UpdateRecords(ctx, "Contact", []map[string]any{
		{"Id": x, "Email": "x@example.com"}, {"Id": y, "LastName": "Invalid"},
	}, true)
	if err != nil {
		t.Fatal(err)
	}
	foWantRecordError(t, "update rolled back", res[0], "ALL_OR_NONE_OPERATION_ROLLED_BACK", sfsync.KindRetryable)
	foWantRecordError(t, "invalid update", res[1], "FIELD_CUSTOM_VALIDATION_EXCEPTION", sfsync.KindPermanent)
	if rec, _ := org.Record("Contact", x); rec["Email"] != nil {
		t.Fatalf("rolled-back update wrote Email %v", rec["Email"])
	}

	res, err = c.DeleteRecords(ctx, []string{x, "003bogus"}, true)
	if err != nil {
		t.Fatal(err)
	}
	foWantRecordError(t, "delete rolled back", res[0], "ALL_OR_NONE_OPERATION_ROLLED_BACK", sfsync.KindRetryable)
	foWantRecordError(t, "malformed id", res[1], "MALFORMED_ID", sfsync.KindPermanent)
	if _, ok := org.Record("Contact", x); !ok {
		t.Fatal("rolled-back delete deleted")
	}
	if org.Writes() != writes {
		t.Fatalf("%d API writes committed, want 0", org.Writes()-writes)
	}
}

// C8: more than 200 records is refused before any API call.
func TestFakeOrgCollectionsOver200(t *testing.T) {
	ctx := foCtx(t)
	org := salesforcetest.NewOrg()
	defer org.Close()
	c := orgClient(t, org)
	recs := make([]map[string]any, salesforce.MaxCollectionSize+1)
	ids := make([]string, len(recs))
	for i := range recs {
		recs[i] = map[string]any{"Id": fmt.Sprintf("003%012dAAA", i+1), "LastName": "N", "External_Id__c": fmt.Sprint(i)}
		ids[i] = fmt.Sprintf("003%012dAAA", i+1)
	}
	before := foUsed(org)
	for name, call := range map[string]func() error{
		"create": func() error { _, err := c.CreateRecords(ctx, "Contact", recs, false); return err },
		"update": func() error { _, err := c.UpdateRecords(ctx, "Contact", recs, false); return err },
		"upsert": func() error {
			_, err := c.UpsertRecords(ctx, "Contact", "External_Id__c", recs, false)
			return err
		},
		"delete":   func() error { _, err := c.DeleteRecords(ctx, ids, false); return err },
		"retrieve": func() error { _, err := c.RetrieveRecords(ctx, "Contact", ids, nil); return err },
	} {
		err := call()
		foWantKind(t, name, err, sfsync.KindPermanent)
		if !errors.Is(err, sfsync.ErrInvalid) {
			t.Fatalf("%s: %v does not match sfsync.ErrInvalid", name, err)
		}
	}
	if after := foUsed(org); after != before {
		t.Fatalf("refused collections made %d API calls", after-before)
	}
	if used, max := c.Usage(); used != 0 || max != 0 {
		t.Fatalf("client usage %d/%d without a response", used, max)
	}
}
