package salesforce

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/sfsync/sfsync"
)

// MaxCollectionSize is the most records (or ids) one sObject Collections
// call takes.
const MaxCollectionSize = 200

// SaveResult is the outcome of one record of an sObject Collections call,
// in request order.
type SaveResult struct {
	ID      string
	Success bool
	// Created is set by upserts that inserted the record.
	Created bool
	Errors  []RecordError
}

// Err returns nil for a successful record, else a classified error built
// from its errors. The error that decides is the first permanent one, else
// the first: its code is the [sfsync.Error] Code and the kind follows it
// (spec C5), so a record that also failed for a transient reason is still
// dead-lettered rather than retried forever. The other errors are appended
// to the message. It matches [ErrEntityDeleted], [ErrMultipleMatches]
// (DUPLICATE_EXTERNAL_ID) and [sfsync.ErrNotFound] like the errors of
// single-record calls, and errors.As gives its *[APIError] (with Status 0).
// A failure without errors is retryable.
func (r SaveResult) Err() error {
	if r.Success {
		return nil
	}
	if len(r.Errors) == 0 {
		return sfsync.Retryable(errors.New("salesforce: record not saved; no error reported"))
	}
	lead := 0
	for i, e := range r.Errors {
		if e.Kind() == sfsync.KindPermanent {
			lead = i
			break
		}
	}
	first := r.Errors[lead]
	ae := &APIError{Code: first.StatusCode, Message: first.Message, Fields: first.Fields}
	for i, e := range r.Errors {
		if i != lead {
			ae.Message += "; " + e.StatusCode + ": " + e.Message
		}
	}
	return &sfsync.Error{Kind: first.Kind(), Code: ae.Code, Err: ae}
}

// RecordError is one error of a record of an sObject Collections call.
type RecordError struct {
	StatusCode, Message string
	Fields              []string
}

// Kind classifies the error by its status code (spec C5).
// ALL_OR_NONE_OPERATION_ROLLED_BACK, which marks records that were fine
// but rolled back because another record failed, is retryable.
func (e RecordError) Kind() sfsync.Kind { return codeKind(e.StatusCode, e.Message) }

func (e RecordError) Error() string {
	s := "salesforce: " + e.StatusCode + ": " + e.Message
	if len(e.Fields) > 0 {
		s += " (fields " + strings.Join(e.Fields, ", ") + ")"
	}
	return s
}

type collectionRequest struct {
	AllOrNone bool             `json:"allOrNone"`
	Records   []map[string]any `json:"records"`
}

type collectionResult struct {
	ID      *string     `json:"id"`
	Success bool        `json:"success"`
	Created bool        `json:"created"`
	Errors  []errorItem `json:"errors"`
}

// CreateRecords inserts up to [MaxCollectionSize] records of object in one
// call. The results are in record order; a failed record does not fail the
// call unless allOrNone is set, in which case the other records report
// ALL_OR_NONE_OPERATION_ROLLED_BACK.
func (c *Client) CreateRecords(ctx context.Context, object string, records []map[string]any, allOrNone bool) ([]SaveResult, error) {
	recs, err := prepare(object, records, func(int, map[string]any) error { return nil })
	if err != nil || len(recs) == 0 {
		return nil, err
	}
	return c.collection(ctx, http.MethodPost, "/composite/sobjects", nil, collectionRequest{allOrNone, recs}, len(recs))
}

// UpdateRecords updates up to [MaxCollectionSize] records of object in one
// call; every record carries its "Id".
func (c *Client) UpdateRecords(ctx context.Context, object string, records []map[string]any, allOrNone bool) ([]SaveResult, error) {
	recs, err := prepare(object, records, func(i int, r map[string]any) error {
		if id, _ := r["Id"].(string); id == "" {
			if id, _ := r["id"].(string); id == "" {
				return invalidf("update %s: record %d has no Id", object, i)
			}
		}
		return nil
	})
	if err != nil || len(recs) == 0 {
		return nil, err
	}
	return c.collection(ctx, http.MethodPatch, "/composite/sobjects", nil, collectionRequest{allOrNone, recs}, len(recs))
}

// UpsertRecords upserts up to [MaxCollectionSize] records of object by the
// external id field extIDField, whose value every record carries; record
// ids are removed. Results report Created. A value matching several
// records fails that record with DUPLICATE_EXTERNAL_ID
// ([ErrMultipleMatches]).
func (c *Client) UpsertRecords(ctx context.Context, object, extIDField string, records []map[string]any, allOrNone bool) ([]SaveResult, error) {
	if extIDField == "" {
		return nil, invalidf("upsert %s: empty external id field", object)
	}
	recs, err := prepare(object, records, func(i int, r map[string]any) error {
		if v, ok := r[extIDField]; !ok || v == nil || v == "" {
			return invalidf("upsert %s: record %d has no %s", object, i, extIDField)
		}
		for k := range r {
			if strings.EqualFold(k, "Id") {
				delete(r, k)
			}
		}
		return nil
	})
	if err != nil || len(recs) == 0 {
		return nil, err
	}
	return c.collection(ctx, http.MethodPatch, "/composite"+sobjectPath(object, extIDField), nil, collectionRequest{allOrNone, recs}, len(recs))
}

// DeleteRecords deletes up to [MaxCollectionSize] records by id in one
// call.
func (c *Client) DeleteRecords(ctx context.Context, ids []string, allOrNone bool) ([]SaveResult, error) {
	if err := checkIDs(ids); err != nil || len(ids) == 0 {
		return nil, err
	}
	q := url.Values{"ids": {strings.Join(ids, ",")}, "allOrNone": {strconv.FormatBool(allOrNone)}}
	return c.collection(ctx, http.MethodDelete, "/composite/sobjects", q, nil, len(ids))
}

// RetrieveRecords reads up to [MaxCollectionSize] records of object by id,
// with the given fields (Id when none). Ids that do not exist are skipped,
// so the result may be shorter than ids.
func (c *Client) RetrieveRecords(ctx context.Context, object string, ids []string, fields []string) ([]map[string]any, error) {
	if err := checkObject(object); err != nil {
		return nil, err
	}
	if err := checkIDs(ids); err != nil || len(ids) == 0 {
		return nil, err
	}
	if len(fields) == 0 {
		fields = []string{"Id"}
	}
	q := url.Values{"ids": {strings.Join(ids, ",")}, "fields": {strings.Join(fields, ",")}}
	var recs []map[string]any
	if err := c.getJSON(ctx, "/composite"+sobjectPath(object), q, &recs); err != nil {
		return nil, err
	}
	out := recs[:0]
	for _, r := range recs {
		if r != nil {
			out = append(out, r)
		}
	}
	return out, nil
}

func checkIDs(ids []string) error {
	if len(ids) > MaxCollectionSize {
		return invalidf("%d ids, more than the %d one collections call takes", len(ids), MaxCollectionSize)
	}
	for i, id := range ids {
		if id == "" || strings.Contains(id, ",") {
			return invalidf("bad record id %q at %d", id, i)
		}
	}
	return nil
}

// prepare checks the size of a collection and returns copies of the records
// with attributes.type set to object; check may edit the copy.
func prepare(object string, records []map[string]any, check func(int, map[string]any) error) ([]map[string]any, error) {
	if err := checkObject(object); err != nil {
		return nil, err
	}
	if len(records) > MaxCollectionSize {
		return nil, invalidf("%d %s records, more than the %d one collections call takes", len(records), object, MaxCollectionSize)
	}
	out := make([]map[string]any, len(records))
	for i, r := range records {
		cp := maps.Clone(r)
		if cp == nil {
			cp = map[string]any{}
		}
		if err := check(i, cp); err != nil {
			return nil, err
		}
		attrs := map[string]any{}
		if a, ok := cp["attributes"].(map[string]any); ok {
			maps.Copy(attrs, a)
		}
		attrs["type"] = object
		cp["attributes"] = attrs
		out[i] = cp
	}
	return out, nil
}

var errResultCount = errors.New("salesforce: collections response does not match the request")

// collection makes one sObject Collections call and returns its per-record
// results.
func (c *Client) collection(ctx context.Context, method, path string, q url.Values, body any, n int) ([]SaveResult, error) {
	resp, err := c.do(ctx, request{method: method, path: path, query: q, body: body})
	if err != nil {
		return nil, err
	}
	var raw []collectionResult
	if err := decode(resp, method+" "+path, &raw); err != nil {
		return nil, err
	}
	if len(raw) != n {
		return nil, sfsync.Retryable(fmt.Errorf("%w: %d results for %d records", errResultCount, len(raw), n))
	}
	out := make([]SaveResult, len(raw))
	for i, r := range raw {
		sr := SaveResult{Success: r.Success, Created: r.Created}
		if r.ID != nil {
			sr.ID = *r.ID
		}
		for _, e := range r.Errors {
			sr.Errors = append(sr.Errors, RecordError{StatusCode: cmpOr(e.StatusCode, e.ErrorCode), Message: e.Message, Fields: e.Fields})
		}
		out[i] = sr
	}
	return out, nil
}
