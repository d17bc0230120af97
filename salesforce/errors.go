package salesforce

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sfsync/sfsync"
)

// Sentinel errors matched (errors.Is) by the errors of the client.
var (
	// ErrPreconditionFailed: a conditional write (If-Unmodified-Since) found
	// the record modified since the given time (HTTP 412). Nothing was
	// written.
	ErrPreconditionFailed = errors.New("salesforce: precondition failed")
	// ErrEntityDeleted: the record is in the Recycle Bin (ENTITY_IS_DELETED).
	ErrEntityDeleted = errors.New("salesforce: entity is deleted")
	// ErrMultipleMatches: an upsert's external id matched more than one
	// record (HTTP 300, or DUPLICATE_EXTERNAL_ID in collections). Nothing
	// was written.
	ErrMultipleMatches = errors.New("salesforce: external id matched several records")
	// ErrDailyLimitExceeded: the org's rolling daily API request limit is
	// exhausted (REQUEST_LIMIT_EXCEEDED, TotalRequests).
	ErrDailyLimitExceeded = errors.New("salesforce: daily API request limit exceeded")
	// ErrSessionInvalid: the access token was rejected (INVALID_SESSION_ID),
	// and re-authenticating did not help or was not possible.
	ErrSessionInvalid = errors.New("salesforce: session invalid")
)

// maxBodyInError bounds the non-JSON body kept in an [APIError].
const maxBodyInError = 512

// APIError is an error response of the REST API.
type APIError struct {
	// Status is the HTTP status code; 0 for a per-record error of an
	// sObject Collections call (see [SaveResult.Err]).
	Status int
	// Code is the errorCode (statusCode in collections results), such as
	// "UNABLE_TO_LOCK_ROW"; empty when the body was not a Salesforce error.
	Code    string
	Message string
	Fields  []string
	// Body is the start of a response body that was not a Salesforce error
	// (an HTML page from a gateway, say), truncated.
	Body string
	// Matches lists the ids of the records an upsert's external id matched
	// (HTTP 300).
	Matches []string
}

// Error describes the failure. It never contains request credentials.
func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString("salesforce: ")
	if e.Status != 0 {
		fmt.Fprintf(&b, "HTTP %d", e.Status)
		if e.Code != "" {
			b.WriteString(" ")
		}
	}
	b.WriteString(e.Code)
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if len(e.Fields) > 0 {
		fmt.Fprintf(&b, " (fields %s)", strings.Join(e.Fields, ", "))
	}
	if e.Body != "" {
		fmt.Fprintf(&b, ": %q", e.Body)
	}
	return b.String()
}

// Kind classifies the error by errorCode first, then by HTTP status.
func (e *APIError) Kind() sfsync.Kind {
	if k := codeKind(e.Code, e.Message); k != sfsync.KindPermanent {
		return k
	}
	if e.Status != 0 {
		return statusKind(e.Status)
	}
	return sfsync.KindPermanent
}

// Is matches the sentinel errors of this package and [sfsync.ErrNotFound]
// (NOT_FOUND).
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrPreconditionFailed:
		return e.Status == http.StatusPreconditionFailed
	case ErrEntityDeleted:
		return e.Code == "ENTITY_IS_DELETED"
	case ErrMultipleMatches:
		return e.Status == http.StatusMultipleChoices || e.Code == "DUPLICATE_EXTERNAL_ID"
	case ErrDailyLimitExceeded:
		return e.Code == "REQUEST_LIMIT_EXCEEDED" && !isConcurrencyLimit(e.Message)
	case ErrSessionInvalid:
		return e.Code == "INVALID_SESSION_ID"
	case sfsync.ErrNotFound:
		return e.Code == "NOT_FOUND"
	}
	return false
}

// isConcurrencyLimit reports whether a REQUEST_LIMIT_EXCEEDED message is
// about concurrent (long-running) requests rather than the daily total.
func isConcurrencyLimit(msg string) bool {
	return strings.Contains(msg, "ConcurrentRequests") || strings.Contains(msg, "ConcurrentPerOrgLongTxn")
}

// codeKind classifies a Salesforce errorCode (spec C5). Codes it does not
// know, and an empty code, are permanent; the HTTP status may still make
// the error retryable (5xx) or a conflict (412).
func codeKind(code, msg string) sfsync.Kind {
	switch code {
	case "UNABLE_TO_LOCK_ROW", "SERVER_UNAVAILABLE", "UNKNOWN_EXCEPTION",
		"QUERY_TIMEOUT", "INVALID_QUERY_LOCATOR",
		// Records that were fine but rolled back because another record
		// of an allOrNone collection failed: resubmit them.
		"ALL_OR_NONE_OPERATION_ROLLED_BACK":
		return sfsync.KindRetryable
	case "REQUEST_LIMIT_EXCEEDED":
		if isConcurrencyLimit(msg) {
			return sfsync.KindRetryable
		}
		return sfsync.KindRateLimited
	case "STORAGE_LIMIT_EXCEEDED", "API_CURRENTLY_DISABLED", "API_DISABLED_FOR_ORG":
		// Quota or org settings (spec C5: stop and alert): nothing
		// succeeds until an admin or time frees it; back off rather than
		// dead-letter every change.
		return sfsync.KindRateLimited
	case "INVALID_SESSION_ID", "INVALID_AUTH_HEADER":
		return sfsync.KindAuth
	case "ENTITY_IS_DELETED", "DUPLICATE_EXTERNAL_ID":
		return sfsync.KindConflict
	}
	if strings.Contains(msg, "UNABLE_TO_LOCK_ROW") {
		// Lock contention surfacing through a trigger
		// (CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY wrapping it).
		return sfsync.KindRetryable
	}
	// Every other code is a verdict on the request: INVALID_FIELD,
	// REQUIRED_FIELD_MISSING, FIELD_CUSTOM_VALIDATION_EXCEPTION,
	// DUPLICATE_VALUE, DUPLICATES_DETECTED, INSUFFICIENT_ACCESS_*,
	// MALFORMED_ID, NOT_FOUND, ...
	return sfsync.KindPermanent
}

// statusKind classifies a response without a known errorCode by status.
func statusKind(status int) sfsync.Kind {
	switch {
	case status == http.StatusPreconditionFailed, status == http.StatusMultipleChoices:
		return sfsync.KindConflict
	case status == http.StatusUnauthorized:
		return sfsync.KindAuth
	case status == http.StatusTooManyRequests:
		return sfsync.KindRateLimited
	case status == http.StatusRequestTimeout, status >= 500:
		return sfsync.KindRetryable
	}
	return sfsync.KindPermanent
}

// errorItem is one element of a REST error body; collections results use
// statusCode instead of errorCode.
type errorItem struct {
	Message    string   `json:"message"`
	ErrorCode  string   `json:"errorCode"`
	StatusCode string   `json:"statusCode"`
	Fields     []string `json:"fields"`
}

// parseAPIError builds the error of a response with status >= 300.
func parseAPIError(status int, body []byte) *APIError {
	e := &APIError{Status: status}
	var items []errorItem
	// A body nested too deeply to decode within bounds is kept as text.
	deep := checkJSON("error body", body) != nil
	if !deep && json.Unmarshal(body, &items) == nil && len(items) > 0 && (items[0].ErrorCode != "" || items[0].StatusCode != "" || items[0].Message != "") {
		it := items[0]
		e.Code, e.Message, e.Fields = cmpOr(it.ErrorCode, it.StatusCode), it.Message, it.Fields
		for _, more := range items[1:] {
			e.Message += "; " + cmpOr(more.ErrorCode, more.StatusCode) + ": " + more.Message
		}
		return e
	}
	var one struct {
		errorItem
		// OAuth and Bulk 1.0 shapes.
		Error            string `json:"error"`
		ErrorDescription string `json:"error_description"`
		ExceptionCode    string `json:"exceptionCode"`
		ExceptionMessage string `json:"exceptionMessage"`
	}
	if !deep && json.Unmarshal(body, &one) == nil {
		e.Code = cmpOr(one.ErrorCode, one.StatusCode, one.ExceptionCode, one.Error)
		e.Message = cmpOr(one.Message, one.ExceptionMessage, one.ErrorDescription)
		e.Fields = one.Fields
		if e.Code != "" || e.Message != "" {
			return e
		}
	}
	e.Body = truncate(strings.TrimSpace(string(body)), maxBodyInError)
	if e.Body == "" {
		e.Message = http.StatusText(status)
	}
	return e
}

func cmpOr(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// truncate cuts s to at most n bytes without splitting a rune.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// classify wraps an API error so that [sfsync.KindOf] and
// [sfsync.RetryAfter] see its kind and code.
func classify(e *APIError, retryAfter time.Duration) error {
	return &sfsync.Error{Kind: e.Kind(), Code: e.Code, RetryAfter: retryAfter, Err: e}
}

// invalidf returns a permanent error matching [sfsync.ErrInvalid], for
// requests rejected before any call is made.
func invalidf(format string, args ...any) error {
	return sfsync.Permanent(fmt.Errorf("salesforce: %w: %s", sfsync.ErrInvalid, fmt.Sprintf(format, args...)))
}
