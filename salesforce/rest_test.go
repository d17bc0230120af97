package salesforce

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
)

func TestGet(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			t.Errorf("method %s", r.Method)
		}
		switch r.URL.Path {
		case dataPath + "/sobjects/Account/001A":
			w.Header().Set("Last-Modified", "Tue, 07 May 2024 10:00:00 GMT")
			writeJSON(w, http.StatusOK, map[string]any{
				"attributes": map[string]any{"type": "Account", "url": dataPath + "/sobjects/Account/001A"},
				"Id":         "001A", "Name": "Acme", "AnnualRevenue": 12.5, "Phone": nil,
			})
		default:
			writeErr(w, http.StatusNotFound, "NOT_FOUND", "The requested resource does not exist")
		}
	})
	c := f.client()
	rec, err := c.Get(context.Background(), "Account", "001A", "Id", "Name", "AnnualRevenue", "Phone")
	if err != nil {
		t.Fatal(err)
	}
	if rec["Name"] != "Acme" || rec["AnnualRevenue"] != 12.5 || rec["Phone"] != nil {
		t.Errorf("record %v", rec)
	}
	if q := f.last().RawQuery; q != "fields=Id%2CName%2CAnnualRevenue%2CPhone" {
		t.Errorf("query %q", q)
	}
	_, err = c.Get(context.Background(), "Account", "001B")
	if !errors.Is(err, sfsync.ErrNotFound) || sfsync.KindOf(err) != sfsync.KindPermanent {
		t.Errorf("missing record: %v", err)
	}
	if f.last().RawQuery != "" {
		t.Errorf("query without fields: %q", f.last().RawQuery)
	}
}

func TestCreate(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			t.Error(err)
		}
		if body["Name"] == nil {
			writeErr(w, http.StatusBadRequest, "REQUIRED_FIELD_MISSING", "Required fields are missing: [Name]", "Name")
			return
		}
		writeJSON(w, http.StatusCreated, map[string]any{"id": "001NEW", "success": true, "errors": []any{}})
	})
	c := f.client()
	id, err := c.Create(context.Background(), "Account", map[string]any{"Name": "Acme"})
	if err != nil || id != "001NEW" {
		t.Fatalf("Create = %q, %v", id, err)
	}
	_, err = c.Create(context.Background(), "Account", nil)
	var ae *APIError
	if !errors.As(err, &ae) || ae.Code != "REQUIRED_FIELD_MISSING" || !slices.Equal(ae.Fields, []string{"Name"}) || sfsync.KindOf(err) != sfsync.KindPermanent {
		t.Errorf("err = %v", err)
	}
}

func TestUpdateIfUnmodifiedSince(t *testing.T) {
	modified := time.Date(2024, 5, 7, 10, 0, 0, 0, time.UTC)
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPatch || r.URL.Path != dataPath+"/sobjects/Contact/003A" {
			t.Errorf("%s %s", r.Method, r.URL.Path)
		}
		if h := r.Header.Get("If-Unmodified-Since"); h != "" {
			since, err := http.ParseTime(h)
			if err != nil {
				writeErr(w, http.StatusBadRequest, "INVALID_HEADER", "bad date")
				return
			}
			if modified.After(since) {
				w.WriteHeader(http.StatusPreconditionFailed)
				return
			}
		}
		w.WriteHeader(http.StatusNoContent)
	})
	c := f.client()
	ctx := context.Background()
	if err := c.Update(ctx, "Contact", "003A", map[string]any{"Phone": "1"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Update(ctx, "Contact", "003A", map[string]any{"Phone": "1"}, IfUnmodifiedSince(modified.In(time.FixedZone("X", 3600)))); err != nil {
		t.Fatalf("unmodified: %v", err)
	}
	if h := f.last().Header.Get("If-Unmodified-Since"); h != "Tue, 07 May 2024 10:00:00 GMT" {
		t.Errorf("If-Unmodified-Since %q", h)
	}
	err := c.Update(ctx, "Contact", "003A", map[string]any{"Phone": "1"}, IfUnmodifiedSince(modified.Add(-time.Second)))
	var ae *APIError
	if !errors.Is(err, ErrPreconditionFailed) || sfsync.KindOf(err) != sfsync.KindConflict || !errors.As(err, &ae) || ae.Kind() != sfsync.KindConflict {
		t.Errorf("modified: %v", err)
	}
}

func TestUpsert(t *testing.T) {
	var lastBody map[string]any
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		lastBody = nil
		_ = json.NewDecoder(r.Body).Decode(&lastBody)
		switch r.URL.Path {
		case dataPath + "/sobjects/Account/Ext__c/NEW":
			writeJSON(w, http.StatusCreated, map[string]any{"id": "001NEW", "success": true, "errors": []any{}, "created": true})
		case dataPath + "/sobjects/Account/Ext__c/OLD":
			writeJSON(w, http.StatusOK, map[string]any{"id": "001OLD", "success": true, "errors": []any{}, "created": false})
		case dataPath + "/sobjects/Account/Ext__c/V45":
			w.WriteHeader(http.StatusNoContent)
		case dataPath + "/sobjects/Account/Ext__c/DUP":
			writeJSON(w, http.StatusMultipleChoices, []string{dataPath + "/sobjects/Account/001X", dataPath + "/sobjects/Account/001Y"})
		case dataPath + "/sobjects/Account/Ext__c/a/b c+d?#%":
			writeJSON(w, http.StatusCreated, map[string]any{"id": "001ESC", "success": true, "errors": []any{}, "created": true})
		default:
			writeErr(w, http.StatusNotFound, "NOT_FOUND", "Provided external ID field does not exist or is not accessible: "+r.URL.Path)
		}
	})
	c := f.client()
	ctx := context.Background()
	fields := map[string]any{"Name": "Acme", "Ext__c": "NEW", "Id": "001Z"}
	res, err := c.Upsert(ctx, "Account", "Ext__c", "NEW", fields)
	if err != nil || res != (UpsertResult{ID: "001NEW", Created: true}) {
		t.Fatalf("insert: %+v, %v", res, err)
	}
	if len(lastBody) != 1 || lastBody["Name"] != "Acme" {
		t.Errorf("body %v", lastBody)
	}
	if len(fields) != 3 {
		t.Error("Upsert modified the caller's map")
	}
	if res, err = c.Upsert(ctx, "Account", "Ext__c", "OLD", fields); err != nil || res != (UpsertResult{ID: "001OLD"}) {
		t.Fatalf("update: %+v, %v", res, err)
	}
	if res, err = c.Upsert(ctx, "Account", "Ext__c", "V45", fields); err != nil || res != (UpsertResult{}) {
		t.Fatalf("204: %+v, %v", res, err)
	}
	if res, err = c.Upsert(ctx, "Account", "Ext__c", "a/b c+d?#%", fields); err != nil || res.ID != "001ESC" {
		t.Fatalf("escaped: %+v, %v", res, err)
	}
	if p := f.last().EscapedPath; p != dataPath+"/sobjects/Account/Ext__c/a%2Fb%20c%2Bd%3F%23%25" {
		t.Errorf("escaped path %s", p)
	}
	_, err = c.Upsert(ctx, "Account", "Ext__c", "DUP", fields)
	var ae *APIError
	if !errors.Is(err, ErrMultipleMatches) || sfsync.KindOf(err) != sfsync.KindConflict || !errors.As(err, &ae) {
		t.Fatalf("300: %v", err)
	}
	if !slices.Equal(ae.Matches, []string{"001X", "001Y"}) || ae.Status != 300 {
		t.Errorf("matches %+v", ae)
	}
	if s := err.Error(); !strings.Contains(s, "001X") || !strings.Contains(s, "001Y") {
		t.Errorf("message %q", s)
	}
}

func TestParseMatches(t *testing.T) {
	got := parseMatches([]byte(`[{"attributes":{"type":"Account","url":"/services/data/v62.0/sobjects/Account/001X"}},{"Id":"001Y"},"001Z"]`))
	if !slices.Equal(got, []string{"001X", "001Y", "001Z"}) {
		t.Errorf("parseMatches = %v", got)
	}
	if parseMatches([]byte("<html>")) != nil {
		t.Error("non-JSON matches")
	}
}

func TestDelete(t *testing.T) {
	deleted := map[string]bool{}
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodDelete {
			t.Errorf("method %s", r.Method)
		}
		if deleted[r.URL.Path] {
			writeErr(w, http.StatusNotFound, "ENTITY_IS_DELETED", "entity is deleted")
			return
		}
		deleted[r.URL.Path] = true
		w.WriteHeader(http.StatusNoContent)
	})
	c := f.client()
	if err := c.Delete(context.Background(), "Account", "001A"); err != nil {
		t.Fatal(err)
	}
	err := c.Delete(context.Background(), "Account", "001A")
	if !errors.Is(err, ErrEntityDeleted) || sfsync.KindOf(err) != sfsync.KindConflict {
		t.Errorf("second delete: %v", err)
	}
}

func TestLockContentionIsRetryable(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		writeErr(w, http.StatusBadRequest, "UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access to this record or 1 records: 001A")
	})
	err := f.client().Update(context.Background(), "Account", "001A", map[string]any{"Name": "x"})
	if sfsync.KindOf(err) != sfsync.KindRetryable || !sfsync.IsRetryable(err) {
		t.Errorf("err = %v", err)
	}
}
