package salesforce

import (
	"context"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Get reads one record (sObject Rows). With no fields Salesforce returns
// every field. The result includes the "attributes" object. A record that
// does not exist yields an error matching [sfsync.ErrNotFound]; one in the
// Recycle Bin may yield [ErrEntityDeleted].
func (c *Client) Get(ctx context.Context, object, id string, fields ...string) (map[string]any, error) {
	if err := checkRecord(object, id); err != nil {
		return nil, err
	}
	var q url.Values
	if len(fields) > 0 {
		q = url.Values{"fields": {strings.Join(fields, ",")}}
	}
	var rec map[string]any
	if err := c.getJSON(ctx, sobjectPath(object, id), q, &rec); err != nil {
		return nil, err
	}
	return rec, nil
}

// saveResponse is the body of a create or upsert response.
type saveResponse struct {
	ID      string      `json:"id"`
	Success bool        `json:"success"`
	Created *bool       `json:"created"`
	Errors  []errorItem `json:"errors"`
}

func (s saveResponse) err(status int) error {
	if s.Success || len(s.Errors) == 0 {
		return nil
	}
	it := s.Errors[0]
	return classify(&APIError{Status: status, Code: cmpOr(it.StatusCode, it.ErrorCode), Message: it.Message, Fields: it.Fields}, 0)
}

// Create inserts a record and returns its id.
func (c *Client) Create(ctx context.Context, object string, fields map[string]any) (id string, err error) {
	if err := checkObject(object); err != nil {
		return "", err
	}
	resp, err := c.do(ctx, request{method: http.MethodPost, path: sobjectPath(object), body: nonNil(fields)})
	if err != nil {
		return "", err
	}
	var sr saveResponse
	if err := decode(resp, "create "+object, &sr); err != nil {
		return "", err
	}
	if err := sr.err(resp.status); err != nil {
		return "", err
	}
	return sr.ID, nil
}

// WriteOption modifies a single-record write.
type WriteOption func(*writeOptions)

type writeOptions struct {
	ifUnmodifiedSince time.Time
}

// IfUnmodifiedSince makes an update conditional: Salesforce writes only if
// the record's LastModifiedDate is not after t (second granularity), and
// otherwise answers 412, returned as an error of kind conflict matching
// [ErrPreconditionFailed].
func IfUnmodifiedSince(t time.Time) WriteOption {
	return func(o *writeOptions) { o.ifUnmodifiedSince = t }
}

// Update writes fields to the record id.
func (c *Client) Update(ctx context.Context, object, id string, fields map[string]any, opts ...WriteOption) error {
	if err := checkRecord(object, id); err != nil {
		return err
	}
	var o writeOptions
	for _, opt := range opts {
		opt(&o)
	}
	var h http.Header
	if !o.ifUnmodifiedSince.IsZero() {
		h = http.Header{"If-Unmodified-Since": {o.ifUnmodifiedSince.UTC().Format(http.TimeFormat)}}
	}
	_, err := c.do(ctx, request{method: http.MethodPatch, path: sobjectPath(object, id), body: nonNil(fields), header: h})
	return err
}

// UpsertResult is the outcome of an upsert by external id.
type UpsertResult struct {
	// ID is the record's id. It is empty when Salesforce answered 204 (API
	// versions before 46.0 update without a body).
	ID      string
	Created bool
}

// Upsert inserts or updates the record whose extIDField is extID. The
// external id field and Id are removed from fields (Salesforce rejects
// them in the body). When extID matches several records nothing is
// written and the error, of kind conflict, matches [ErrMultipleMatches];
// errors.As to *[APIError] gives the matched ids in Matches.
func (c *Client) Upsert(ctx context.Context, object, extIDField, extID string, fields map[string]any) (UpsertResult, error) {
	if err := checkObject(object); err != nil {
		return UpsertResult{}, err
	}
	if extIDField == "" || extID == "" {
		return UpsertResult{}, invalidf("upsert %s: empty external id field or value", object)
	}
	body := maps.Clone(nonNil(fields))
	for k := range body {
		if strings.EqualFold(k, extIDField) || strings.EqualFold(k, "Id") {
			delete(body, k)
		}
	}
	resp, err := c.do(ctx, request{method: http.MethodPatch, path: sobjectPath(object, extIDField, extID), body: body})
	if err != nil {
		return UpsertResult{}, err
	}
	if resp.status == http.StatusNoContent || len(resp.body) == 0 {
		return UpsertResult{Created: resp.status == http.StatusCreated}, nil
	}
	var sr saveResponse
	if err := decode(resp, "upsert "+object, &sr); err != nil {
		return UpsertResult{}, err
	}
	if err := sr.err(resp.status); err != nil {
		return UpsertResult{}, err
	}
	created := resp.status == http.StatusCreated
	if sr.Created != nil {
		created = *sr.Created
	}
	return UpsertResult{ID: sr.ID, Created: created}, nil
}

// Delete moves the record id to the Recycle Bin. Deleting it again yields
// an error matching [ErrEntityDeleted].
func (c *Client) Delete(ctx context.Context, object, id string) error {
	if err := checkRecord(object, id); err != nil {
		return err
	}
	_, err := c.do(ctx, request{method: http.MethodDelete, path: sobjectPath(object, id)})
	return err
}

func checkRecord(object, id string) error {
	if err := checkObject(object); err != nil {
		return err
	}
	if id == "" {
		return invalidf("%s: empty record id", object)
	}
	return nil
}

// nonNil returns m, or an empty map for nil, so that the body is {}.
func nonNil(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}
