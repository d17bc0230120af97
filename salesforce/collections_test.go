package salesforce

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/sfsync/sfsync"
)

type collBody struct {
	AllOrNone bool             `json:"allOrNone"`
	Records   []map[string]any `json:"records"`
}

func TestCreateRecords(t *testing.T) {
	var got collBody
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != dataPath+"/composite/sobjects" {
			t.Errorf("%s %s", r.Method, r.URL.Path)
		}
		if err := json.NewDecoder(r.Body).Decode(&got); err != nil {
			t.Error(err)
		}
		writeJSON(w, http.StatusOK, []any{
			map[string]any{"id": "001A", "success": true, "errors": []any{}},
			map[string]any{"id": nil, "success": false, "errors": []any{
				map[string]any{"statusCode": "DUPLICATES_DETECTED", "message": "Use one of these records?", "fields": []any{}},
			}},
			map[string]any{"id": nil, "success": false, "errors": []any{
				map[string]any{"statusCode": "UNABLE_TO_LOCK_ROW", "message": "unable to obtain exclusive access", "fields": []any{}},
			}},
		})
	})
	in := []map[string]any{{"Name": "A"}, {"Name": "B"}, {"Name": "C", "attributes": map[string]any{"referenceId": "r3"}}}
	res, err := f.client().CreateRecords(context.Background(), "Account", in, false)
	if err != nil {
		t.Fatal(err)
	}
	if got.AllOrNone || len(got.Records) != 3 {
		t.Fatalf("request %+v", got)
	}
	for i, r := range got.Records {
		attrs, _ := r["attributes"].(map[string]any)
		if attrs["type"] != "Account" || r["Name"] != in[i]["Name"] {
			t.Errorf("record %d: %v", i, r)
		}
	}
	if got.Records[2]["attributes"].(map[string]any)["referenceId"] != "r3" {
		t.Error("attributes not kept")
	}
	if _, ok := in[0]["attributes"]; ok {
		t.Error("caller's record modified")
	}
	if len(res) != 3 || res[0].ID != "001A" || !res[0].Success || res[0].Err() != nil {
		t.Fatalf("results %+v", res)
	}
	if res[1].Success || res[1].ID != "" || res[1].Errors[0].StatusCode != "DUPLICATES_DETECTED" {
		t.Errorf("result 1 %+v", res[1])
	}
	if k := sfsync.KindOf(res[1].Err()); k != sfsync.KindPermanent {
		t.Errorf("duplicate kind %v", k)
	}
	if k := sfsync.KindOf(res[2].Err()); k != sfsync.KindRetryable {
		t.Errorf("lock kind %v", k)
	}
}

func TestRecordErrorKind(t *testing.T) {
	tests := map[string]sfsync.Kind{
		"ALL_OR_NONE_OPERATION_ROLLED_BACK": sfsync.KindRetryable,
		"UNABLE_TO_LOCK_ROW":                sfsync.KindRetryable,
		"ENTITY_IS_DELETED":                 sfsync.KindConflict,
		"DUPLICATE_EXTERNAL_ID":             sfsync.KindConflict,
		"REQUIRED_FIELD_MISSING":            sfsync.KindPermanent,
		"INVALID_CROSS_REFERENCE_KEY":       sfsync.KindPermanent,
		"STRING_TOO_LONG":                   sfsync.KindPermanent,
		"INSUFFICIENT_ACCESS_OR_READONLY":   sfsync.KindPermanent,
		"ENTITY_IS_LOCKED":                  sfsync.KindPermanent,
	}
	for code, want := range tests {
		e := RecordError{StatusCode: code, Message: "m"}
		if got := e.Kind(); got != want {
			t.Errorf("%s: Kind = %v, want %v", code, got, want)
		}
		r := SaveResult{Errors: []RecordError{e}}
		if got := sfsync.KindOf(r.Err()); got != want {
			t.Errorf("%s: KindOf(Err) = %v, want %v", code, got, want)
		}
	}
	err := SaveResult{Errors: []RecordError{{StatusCode: "DUPLICATE_EXTERNAL_ID", Message: "dup"}}}.Err()
	if !errors.Is(err, ErrMultipleMatches) {
		t.Errorf("DUPLICATE_EXTERNAL_ID: %v", err)
	}
	err = SaveResult{Errors: []RecordError{{StatusCode: "ENTITY_IS_DELETED", Message: "entity is deleted"}}}.Err()
	if !errors.Is(err, ErrEntityDeleted) {
		t.Errorf("ENTITY_IS_DELETED: %v", err)
	}
	if err := (SaveResult{}).Err(); sfsync.KindOf(err) != sfsync.KindRetryable {
		t.Errorf("failed result without errors: %v", err)
	}
	err = SaveResult{Errors: []RecordError{{StatusCode: "UNABLE_TO_LOCK_ROW"}, {StatusCode: "REQUIRED_FIELD_MISSING"}}}.Err()
	if sfsync.KindOf(err) != sfsync.KindPermanent || !strings.Contains(err.Error(), "REQUIRED_FIELD_MISSING") {
		t.Errorf("mixed errors: %v", err)
	}
	if s := (RecordError{StatusCode: "X", Message: "m", Fields: []string{"A"}}).Error(); s != "salesforce: X: m (fields A)" {
		t.Errorf("Error() = %q", s)
	}
}

func TestAllOrNoneRollback(t *testing.T) {
	var got collBody
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewDecoder(r.Body).Decode(&got)
		writeJSON(w, http.StatusOK, []any{
			map[string]any{"id": nil, "success": false, "errors": []any{map[string]any{"statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK", "message": "Record rolled back because not all records were valid and the request was using AllOrNone header", "fields": []any{}}}},
			map[string]any{"id": nil, "success": false, "errors": []any{map[string]any{"statusCode": "REQUIRED_FIELD_MISSING", "message": "Required fields are missing: [Name]", "fields": []any{"Name"}}}},
		})
	})
	res, err := f.client().UpdateRecords(context.Background(), "Account", []map[string]any{{"Id": "001A", "Name": "A"}, {"Id": "001B", "Name": nil}}, true)
	if err != nil {
		t.Fatal(err)
	}
	if !got.AllOrNone || got.Records[0]["Id"] != "001A" {
		t.Errorf("request %+v", got)
	}
	if f.last().Method != http.MethodPatch {
		t.Errorf("method %s", f.last().Method)
	}
	if sfsync.KindOf(res[0].Err()) != sfsync.KindRetryable || sfsync.KindOf(res[1].Err()) != sfsync.KindPermanent {
		t.Errorf("kinds %v %v", res[0].Err(), res[1].Err())
	}
	if !slices.Equal(res[1].Errors[0].Fields, []string{"Name"}) {
		t.Errorf("fields %v", res[1].Errors[0].Fields)
	}
}

func TestCollectionLimits(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) { t.Errorf("call made: %s %s", r.Method, r.URL) })
	c := f.client()
	ctx := context.Background()
	recs := make([]map[string]any, MaxCollectionSize+1)
	ids := make([]string, MaxCollectionSize+1)
	for i := range recs {
		recs[i] = map[string]any{"Id": fmt.Sprintf("001%03d", i), "Ext__c": "x"}
		ids[i] = fmt.Sprintf("001%03d", i)
	}
	var errs []error
	_, err := c.CreateRecords(ctx, "Account", recs, false)
	errs = append(errs, err)
	_, err = c.UpdateRecords(ctx, "Account", recs, false)
	errs = append(errs, err)
	_, err = c.UpsertRecords(ctx, "Account", "Ext__c", recs, false)
	errs = append(errs, err)
	_, err = c.DeleteRecords(ctx, ids, false)
	errs = append(errs, err)
	_, err = c.RetrieveRecords(ctx, "Account", ids, nil)
	errs = append(errs, err)
	_, err = c.UpdateRecords(ctx, "Account", []map[string]any{{"Name": "no id"}}, false)
	errs = append(errs, err)
	_, err = c.UpsertRecords(ctx, "Account", "Ext__c", []map[string]any{{"Name": "no ext id"}}, false)
	errs = append(errs, err)
	for i, err := range errs {
		if !errors.Is(err, sfsync.ErrInvalid) || sfsync.KindOf(err) != sfsync.KindPermanent {
			t.Errorf("%d: err = %v", i, err)
		}
	}
	if res, err := c.CreateRecords(ctx, "Account", nil, false); res != nil || err != nil {
		t.Errorf("empty: %v, %v", res, err)
	}
	if f.calls.Load() != 0 {
		t.Errorf("%d calls made", f.calls.Load())
	}
}

func TestUpsertRecords(t *testing.T) {
	var got collBody
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPatch || r.URL.Path != dataPath+"/composite/sobjects/Contact/Ext__c" {
			t.Errorf("%s %s", r.Method, r.URL.Path)
		}
		_ = json.NewDecoder(r.Body).Decode(&got)
		writeJSON(w, http.StatusOK, []any{
			map[string]any{"id": "003A", "success": true, "errors": []any{}, "created": true},
			map[string]any{"id": "003B", "success": true, "errors": []any{}, "created": false},
			map[string]any{"id": nil, "success": false, "errors": []any{map[string]any{"statusCode": "DUPLICATE_EXTERNAL_ID", "message": "Duplicate external id specified: E3", "fields": []any{"Ext__c"}}}},
		})
	})
	res, err := f.client().UpsertRecords(context.Background(), "Contact", "Ext__c", []map[string]any{
		{"Ext__c": "E1", "LastName": "A", "Id": "003Z"}, {"Ext__c": "E2", "LastName": "B"}, {"Ext__c": "E3", "LastName": "C"},
	}, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := got.Records[0]["Id"]; ok || got.Records[0]["Ext__c"] != "E1" {
		t.Errorf("record sent %v", got.Records[0])
	}
	if !res[0].Created || res[1].Created || res[1].ID != "003B" {
		t.Errorf("results %+v", res)
	}
	if err := res[2].Err(); !errors.Is(err, ErrMultipleMatches) || sfsync.KindOf(err) != sfsync.KindConflict {
		t.Errorf("duplicate external id: %v", err)
	}
}

func TestDeleteRecords(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodDelete || r.URL.Path != dataPath+"/composite/sobjects" {
			t.Errorf("%s %s", r.Method, r.URL.Path)
		}
		if ids, aon := r.URL.Query().Get("ids"), r.URL.Query().Get("allOrNone"); ids != "001A,001B" || aon != "false" {
			t.Errorf("ids %q allOrNone %q", ids, aon)
		}
		writeJSON(w, http.StatusOK, []any{
			map[string]any{"id": "001A", "success": true, "errors": []any{}},
			map[string]any{"id": "001B", "success": false, "errors": []any{map[string]any{"statusCode": "ENTITY_IS_DELETED", "message": "entity is deleted", "fields": []any{}}}},
		})
	})
	res, err := f.client().DeleteRecords(context.Background(), []string{"001A", "001B"}, false)
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Err() != nil || !errors.Is(res[1].Err(), ErrEntityDeleted) || res[1].ID != "001B" {
		t.Errorf("results %+v", res)
	}
}

func TestRetrieveRecords(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.URL.Path != dataPath+"/composite/sobjects/Account" {
			t.Errorf("%s %s", r.Method, r.URL.Path)
		}
		q := r.URL.Query()
		if q.Get("ids") != "001A,001GONE,001B" || q.Get("fields") != "Id,Name" {
			t.Errorf("query %v", q)
		}
		writeJSON(w, http.StatusOK, []any{
			map[string]any{"attributes": map[string]any{"type": "Account"}, "Id": "001A", "Name": "A"},
			nil,
			map[string]any{"attributes": map[string]any{"type": "Account"}, "Id": "001B", "Name": "B"},
		})
	})
	recs, err := f.client().RetrieveRecords(context.Background(), "Account", []string{"001A", "001GONE", "001B"}, []string{"Id", "Name"})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || recs[0]["Id"] != "001A" || recs[1]["Name"] != "B" {
		t.Errorf("records %v", recs)
	}
}

func TestCollectionResultMismatch(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, []any{map[string]any{"id": "001A", "success": true}})
	})
	_, err := f.client().CreateRecords(context.Background(), "Account", []map[string]any{{"Name": "A"}, {"Name": "B"}}, false)
	if !errors.Is(err, errResultCount) || sfsync.KindOf(err) != sfsync.KindRetryable {
		t.Errorf("err = %v", err)
	}
}

func TestCollectionMalformedRequest(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		writeErr(w, http.StatusBadRequest, "JSON_PARSER_ERROR", "Unexpected character")
	})
	_, err := f.client().CreateRecords(context.Background(), "Account", []map[string]any{{"Name": "A"}}, false)
	if sfsync.KindOf(err) != sfsync.KindPermanent {
		t.Errorf("err = %v", err)
	}
}
