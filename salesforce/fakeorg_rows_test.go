package salesforce_test

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/salesforce"
	"github.com/sfsync/sfsync/salesforce/salesforcetest"
)

// C7, C9: create, read, update (conditional), delete of one record.
func TestFakeOrgRowsLifecycle(t *testing.T) {
	ctx := foCtx(t)
	t0 := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	clk := foNewClock(t0)
	org := salesforcetest.NewOrg(salesforcetest.WithClock(clk.now))
	defer org.Close()
	c := orgClient(t, org)

	id, err := c.Create(ctx, "Contact", map[string]any{"LastName": "Lovelace", "Email": "ada@example.com", "External_Id__c": "P-1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(id) != 18 || !strings.HasPrefix(id, "003") {
		t.Fatalf("Create returned id %q, want an 18-character Contact id", id)
	}
	rec, ok := org.Record("Contact", id)
	if !ok || rec["LastName"] != "Lovelace" || rec["Email"] != "ada@example.com" || rec["External_Id__c"] != "P-1" ||
		rec["CreatedById"] != org.IntegrationUserID() || rec["CreatedDate"] != "2024-05-01T12:00:00.000+0000" {
		t.Fatalf("org record %s = %v", id, rec)
	}

	got, err := c.Get(ctx, "Contact", id, "LastName", "Email")
	if err != nil {
		t.Fatal(err)
	}
	attrs, _ := got["attributes"].(map[string]any)
	if got["LastName"] != "Lovelace" || got["Email"] != "ada@example.com" || len(got) != 3 || attrs["type"] != "Contact" {
		t.Fatalf("Get with fields = %v", got)
	}
	all, err := c.Get(ctx, "Contact", id)
	if err != nil {
		t.Fatal(err)
	}
	if all["Id"] != id || all["IsDeleted"] != false || all["External_Id__c"] != "P-1" {
		t.Fatalf("Get without fields = %v", all)
	}

	// 204 update, read back from the org.
	clk.add(10 * time.Second)
	if err := c.Update(ctx, "Contact", id, map[string]any{"Email": "ada@analytical.example"}); err != nil {
		t.Fatal(err)
	}
	rec, _ = org.Record("Contact", id)
	if rec["Email"] != "ada@analytical.example" || rec["LastName"] != "Lovelace" || rec["LastModifiedDate"] != "2024-05-01T12:00:10.000+0000" {
		t.Fatalf("after Update: %v", rec)
	}

	// If-Unmodified-Since before the last modification: 412, nothing written.
	clk.add(10 * time.Second)
	err = c.Update(ctx, "Contact", id, map[string]any{"Email": "stale@example.com"}, salesforce.IfUnmodifiedSince(t0))
	foWantKind(t, "stale conditional update", err, sfsync.KindConflict)
	if !errors.Is(err, salesforce.ErrPreconditionFailed) {
		t.Fatalf("error %v does not match ErrPreconditionFailed", err)
	}
	if ae := foAPIError(t, err); ae.Status != http.StatusPreconditionFailed || ae.Code != "PRECONDITION_FAILED" {
		t.Fatalf("APIError %d %s", ae.Status, ae.Code)
	}
	if rec, _ = org.Record("Contact", id); rec["Email"] != "ada@analytical.example" {
		t.Fatalf("a failed precondition wrote: Email %v", rec["Email"])
	}
	// At (not after) the last modification: written.
	if err := c.Update(ctx, "Contact", id, map[string]any{"Email": "fresh@example.com"}, salesforce.IfUnmodifiedSince(t0.Add(10*time.Second))); err != nil {
		t.Fatalf("conditional update at the last modification: %v", err)
	}
	if rec, _ = org.Record("Contact", id); rec["Email"] != "fresh@example.com" {
		t.Fatalf("conditional update not written: Email %v", rec["Email"])
	}

	// Delete (204), then the row answers ENTITY_IS_DELETED (spec C3, C7).
	if err := c.Delete(ctx, "Contact", id); err != nil {
		t.Fatal(err)
	}
	if _, ok := org.Record("Contact", id); ok {
		t.Fatal("record still live after Delete")
	}
	_, err = c.Get(ctx, "Contact", id)
	foWantKind(t, "Get after Delete", err, sfsync.KindConflict)
	if !errors.Is(err, salesforce.ErrEntityDeleted) || errors.Is(err, sfsync.ErrNotFound) {
		t.Fatalf("Get after Delete: %v; want ErrEntityDeleted (not ErrNotFound)", err)
	}
	if ae := foAPIError(t, err); ae.Status != http.StatusNotFound || ae.Code != "ENTITY_IS_DELETED" {
		t.Fatalf("APIError %d %s, want 404 ENTITY_IS_DELETED", ae.Status, ae.Code)
	}
	err = c.Delete(ctx, "Contact", id)
	if !errors.Is(err, salesforce.ErrEntityDeleted) || sfsync.KindOf(err) != sfsync.KindConflict {
		t.Fatalf("second Delete: %v; want ErrEntityDeleted of kind conflict", err)
	}
	err = c.Update(ctx, "Contact", id, map[string]any{"Email": "x@example.com"})
	if !errors.Is(err, salesforce.ErrEntityDeleted) {
		t.Fatalf("Update of a deleted record: %v; want ErrEntityDeleted", err)
	}
}

// C7: upsert by external id inserts (201), updates (200 created:false) and
// reports several matches (300) without writing.
func TestFakeOrgUpsert(t *testing.T) {
	ctx := foCtx(t)
	org := salesforcetest.NewOrg()
	defer org.Close()
	c := orgClient(t, org)

	// The value needs path escaping (space and plus).
	const ext = "P 7+x"
	res, err := c.Upsert(ctx, "Contact", "External_Id__c", ext, map[string]any{"LastName": "Hopper", "External_Id__c": ext})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Created || res.ID == "" {
		t.Fatalf("insert: %+v; want Created with an id", res)
	}
	rec, ok := org.Record("Contact", res.ID)
	if !ok || rec["External_Id__c"] != ext || rec["LastName"] != "Hopper" {
		t.Fatalf("inserted record %v", rec)
	}
	upd, err := c.Upsert(ctx, "Contact", "External_Id__c", ext, map[string]any{"Email": "grace@example.com", "Id": "ignored"})
	if err != nil {
		t.Fatal(err)
	}
	if upd.Created || upd.ID != res.ID {
		t.Fatalf("update: %+v; want Created false and id %s", upd, res.ID)
	}
	if rec, _ = org.Record("Contact", res.ID); rec["Email"] != "grace@example.com" || rec["LastName"] != "Hopper" {
		t.Fatalf("updated record %v", rec)
	}
	if n := len(org.Records("Contact")); n != 1 {
		t.Fatalf("%d contacts after insert and update, want 1", n)
	}

	// API 45.0: an update answers 204 without a body.
	old := orgClient(t, org, salesforce.WithAPIVersion("45.0"))
	upd, err = old.Upsert(ctx, "Contact", "External_Id__c", ext, map[string]any{"Email": "v45@example.com"})
	if err != nil || upd.Created || upd.ID != "" {
		t.Fatalf("v45 update: %+v, %v; want 204 (no id, not created)", upd, err)
	}
	if rec, _ = org.Record("Contact", res.ID); rec["Email"] != "v45@example.com" {
		t.Fatalf("v45 update not written: %v", rec["Email"])
	}
	ins, err := old.Upsert(ctx, "Contact", "External_Id__c", "P-45", map[string]any{"LastName": "Old"})
	if err != nil || !ins.Created || ins.ID == "" {
		t.Fatalf("v45 insert: %+v, %v; want Created from the 201", ins, err)
	}

	// Two records with the same external id: 300, both ids, nothing written.
	a := org.Insert("Contact", map[string]any{"LastName": "Twin A", "External_Id__c": "DUP-1"})
	b := org.Insert("Contact", map[string]any{"LastName": "Twin B", "External_Id__c": "DUP-1"})
	writes := org.Writes()
	_, err = c.Upsert(ctx, "Contact", "External_Id__c", "DUP-1", map[string]any{"LastName": "Merged"})
	foWantKind(t, "upsert with two matches", err, sfsync.KindConflict)
	if !errors.Is(err, salesforce.ErrMultipleMatches) {
		t.Fatalf("error %v does not match ErrMultipleMatches", err)
	}
	ae := foAPIError(t, err)
	if ae.Status != http.StatusMultipleChoices || !slices.Equal(ae.Matches, []string{a, b}) {
		t.Fatalf("APIError status %d matches %v; want 300 [%s %s]", ae.Status, ae.Matches, a, b)
	}
	if org.Writes() != writes {
		t.Fatal("an upsert with several matches wrote")
	}
	for _, id := range []string{a, b} {
		if rec, _ := org.Record("Contact", id); rec["LastName"] == "Merged" {
			t.Fatalf("record %s was changed", id)
		}
	}

	// A field that is not an external id: 404 NOT_FOUND, permanent.
	_, err = c.Upsert(ctx, "Contact", "Email", "x@example.com", map[string]any{"LastName": "X"})
	foWantKind(t, "upsert by a non-external-id field", err, sfsync.KindPermanent)
	if !errors.Is(err, sfsync.ErrNotFound) {
		t.Fatalf("error %v; want NOT_FOUND", err)
	}
}

// C3, C5: request errors on rows are permanent verdicts.
func TestFakeOrgRowErrorsArePermanent(t *testing.T) {
	ctx := foCtx(t)
	org := salesforcetest.NewOrg()
	defer org.Close()
	c := orgClient(t, org)
	acct := org.Insert("Account", map[string]any{"Name": "Acme"})
	contact := org.Insert("Contact", map[string]any{"LastName": "Known"})

	for _, tc := range []struct {
		name   string
		call   func() error
		status int
		code   string
	}{
		{"unknown field on create", func() error {
			_, err := c.Create(ctx, "Contact", map[string]any{"LastName": "X", "No_Such_Field__c": "y"})
			return err
		}, 400, "INVALID_FIELD"},
		{"required field missing", func() error {
			_, err := c.Create(ctx, "Contact", map[string]any{"Email": "nobody@example.com"})
			return err
		}, 400, "REQUIRED_FIELD_MISSING"},
		{"unknown field on update", func() error {
			return c.Update(ctx, "Contact", contact, map[string]any{"No_Such_Field__c": "y"})
		}, 400, "INVALID_FIELD"},
		{"unknown field on get", func() error {
			_, err := c.Get(ctx, "Contact", contact, "No_Such_Field__c")
			return err
		}, 400, "INVALID_FIELD"},
		{"malformed id", func() error {
			_, err := c.Get(ctx, "Contact", "003bogus")
			return err
		}, 400, "MALFORMED_ID"},
		{"id of another object", func() error {
			return c.Update(ctx, "Contact", acct, map[string]any{"LastName": "X"})
		}, 400, "MALFORMED_ID"},
		{"id not found", func() error {
			_, err := c.Get(ctx, "Contact", "003000000000999")
			return err
		}, 404, "NOT_FOUND"},
		{"unknown object", func() error {
			_, err := c.Create(ctx, "Nope__c", map[string]any{"Name": "X"})
			return err
		}, 404, "NOT_FOUND"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			writes := org.Writes()
			err := tc.call()
			foWantKind(t, tc.name, err, sfsync.KindPermanent)
			if ae := foAPIError(t, err); ae.Status != tc.status || ae.Code != tc.code {
				t.Fatalf("APIError %d %s, want %d %s", ae.Status, ae.Code, tc.status, tc.code)
			}
			if tc.code == "NOT_FOUND" && !errors.Is(err, sfsync.ErrNotFound) {
				t.Fatalf("error %v does not match sfsync.ErrNotFound", err)
			}
			if org.Writes() != writes {
				t.Fatal("a failed request wrote")
			}
		})
	}
	if n := len(org.Records("Contact")); n != 1 {
		t.Fatalf("%d contacts, want 1", n)
	}
}
