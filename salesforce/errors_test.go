package salesforce

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/sfsync/sfsync"
)

func TestErrorClassification(t *testing.T) {
	lockMsg := "unable to obtain exclusive access to this record or 1 records: 001A"
	tests := []struct {
		name     string
		status   int
		code     string
		msg      string
		raw      string // non-JSON body instead of code/msg
		kind     sfsync.Kind
		sentinel error
	}{
		{"lock", 400, "UNABLE_TO_LOCK_ROW", lockMsg, "", sfsync.KindRetryable, nil},
		{"lock via trigger", 400, "CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY", "MyTrigger: execution of AfterUpdate caused by: System.DmlException: UNABLE_TO_LOCK_ROW", "", sfsync.KindRetryable, nil},
		{"trigger failure", 400, "CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY", "MyTrigger: System.NullPointerException", "", sfsync.KindPermanent, nil},
		{"server unavailable", 503, "SERVER_UNAVAILABLE", "busy", "", sfsync.KindRetryable, nil},
		{"unknown exception", 500, "UNKNOWN_EXCEPTION", "An unexpected error occurred", "", sfsync.KindRetryable, nil},
		{"503 no body", 503, "", "", " ", sfsync.KindRetryable, nil},
		{"504 html", 504, "", "", "<html>Gateway Timeout</html>", sfsync.KindRetryable, nil},
		{"session", 401, "INVALID_SESSION_ID", "This session is not valid for use with the REST API", "", sfsync.KindAuth, ErrSessionInvalid},
		{"daily limit", 403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.", "", sfsync.KindRateLimited, ErrDailyLimitExceeded},
		{"concurrent limit", 403, "REQUEST_LIMIT_EXCEEDED", "ConcurrentRequests (Concurrent API Requests) Limit exceeded.", "", sfsync.KindRetryable, nil},
		{"long txn limit", 403, "REQUEST_LIMIT_EXCEEDED", "ConcurrentPerOrgLongTxn Limit exceeded.", "", sfsync.KindRetryable, nil},
		{"storage", 400, "STORAGE_LIMIT_EXCEEDED", "storage limit exceeded", "", sfsync.KindRateLimited, nil},
		{"precondition", 412, "", "", "", sfsync.KindConflict, ErrPreconditionFailed},
		{"deleted", 404, "ENTITY_IS_DELETED", "entity is deleted", "", sfsync.KindConflict, ErrEntityDeleted},
		{"not found", 404, "NOT_FOUND", "The requested resource does not exist", "", sfsync.KindPermanent, sfsync.ErrNotFound},
		{"required", 400, "REQUIRED_FIELD_MISSING", "Required fields are missing: [Name]", "", sfsync.KindPermanent, nil},
		{"validation", 400, "FIELD_CUSTOM_VALIDATION_EXCEPTION", "Phone must be set", "", sfsync.KindPermanent, nil},
		{"access", 403, "INSUFFICIENT_ACCESS_OR_READONLY", "insufficient access", "", sfsync.KindPermanent, nil},
		{"duplicate", 400, "DUPLICATES_DETECTED", "Use one of these records?", "", sfsync.KindPermanent, nil},
		{"malformed id", 400, "MALFORMED_ID", "bad id", "", sfsync.KindPermanent, nil},
		{"invalid field", 400, "INVALID_FIELD", "No such column 'Foo'", "", sfsync.KindPermanent, nil},
		{"400 html", 400, "", "", "<html>Bad Request</html>", sfsync.KindPermanent, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
				if tt.raw != "" || tt.code == "" {
					w.Header().Set("Content-Type", "text/html")
					w.WriteHeader(tt.status)
					_, _ = io.WriteString(w, tt.raw)
					return
				}
				writeErr(w, tt.status, tt.code, tt.msg, "Name")
			})
			err := f.client().Update(context.Background(), "Account", "001A", map[string]any{"Name": "x"})
			if err == nil {
				t.Fatal("no error")
			}
			if got := sfsync.KindOf(err); got != tt.kind {
				t.Errorf("KindOf = %v, want %v (%v)", got, tt.kind, err)
			}
			if tt.sentinel != nil && !errors.Is(err, tt.sentinel) {
				t.Errorf("%v does not match %v", err, tt.sentinel)
			}
			var ae *APIError
			if !errors.As(err, &ae) || ae.Status != tt.status || ae.Code != tt.code {
				t.Fatalf("APIError %+v", ae)
			}
			if ae.Kind() != tt.kind {
				t.Errorf("APIError.Kind = %v", ae.Kind())
			}
			var se *sfsync.Error
			if !errors.As(err, &se) || se.Code != tt.code {
				t.Errorf("sfsync.Error code %+v", se)
			}
			for _, s := range []error{ErrPreconditionFailed, ErrEntityDeleted, ErrMultipleMatches, ErrDailyLimitExceeded, ErrSessionInvalid, sfsync.ErrNotFound} {
				if s != tt.sentinel && errors.Is(err, s) {
					t.Errorf("%v unexpectedly matches %v", err, s)
				}
			}
		})
	}
}

func TestHTMLGatewayBody(t *testing.T) {
	page := "<html><head><title>502 Bad Gateway</title></head><body>" + strings.Repeat("x", 2000) + "</body></html>"
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusBadGateway)
		_, _ = io.WriteString(w, page)
	})
	_, err := f.client().Get(context.Background(), "Account", "001A")
	var ae *APIError
	if !errors.As(err, &ae) {
		t.Fatalf("err = %v", err)
	}
	if ae.Status != 502 || ae.Code != "" || !strings.HasPrefix(ae.Body, "<html><head><title>502") || len(ae.Body) > maxBodyInError+len("…") {
		t.Errorf("APIError %+v", ae)
	}
	if sfsync.KindOf(err) != sfsync.KindRetryable {
		t.Errorf("kind %v", sfsync.KindOf(err))
	}
}

func TestParseAPIErrorShapes(t *testing.T) {
	tests := []struct {
		body, code, msg string
		fields          []string
	}{
		{`[{"message":"entity is deleted","errorCode":"ENTITY_IS_DELETED","fields":[]}]`, "ENTITY_IS_DELETED", "entity is deleted", []string{}},
		{`[{"message":"a","errorCode":"X","fields":["F"]},{"message":"b","errorCode":"Y"}]`, "X", "a; Y: b", []string{"F"}},
		{`{"errorCode":"Z","message":"obj"}`, "Z", "obj", nil},
		{`{"exceptionCode":"InvalidSessionId","exceptionMessage":"bulk"}`, "InvalidSessionId", "bulk", nil},
		{`{"error":"invalid_grant","error_description":"expired"}`, "invalid_grant", "expired", nil},
		{``, "", "Bad Request", nil},
	}
	for _, tt := range tests {
		e := parseAPIError(400, []byte(tt.body))
		if e.Code != tt.code || e.Message != tt.msg || len(e.Fields) != len(tt.fields) || e.Body != "" {
			t.Errorf("parseAPIError(%s) = %+v", tt.body, e)
		}
	}
	if e := parseAPIError(500, []byte("oops \xff")); e.Body == "" || e.Code != "" {
		t.Errorf("non-JSON: %+v", e)
	}
	if got := truncate("ééé", 3); got != "é…" {
		t.Errorf("truncate = %q", got)
	}
}

func TestAPIErrorMessage(t *testing.T) {
	e := &APIError{Status: 400, Code: "REQUIRED_FIELD_MISSING", Message: "Required fields are missing: [Name]", Fields: []string{"Name"}}
	want := "salesforce: HTTP 400 REQUIRED_FIELD_MISSING: Required fields are missing: [Name] (fields Name)"
	if e.Error() != want {
		t.Errorf("Error() = %q", e.Error())
	}
	err := classify(e, 0)
	if !strings.Contains(err.Error(), "REQUIRED_FIELD_MISSING") || sfsync.KindOf(err) != sfsync.KindPermanent {
		t.Errorf("classified %v", err)
	}
}

func TestInvalidInputIsPermanent(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) { t.Error("call made") })
	c := f.client()
	ctx := context.Background()
	errs := []error{
		c.Update(ctx, "Account", "", nil),
		c.Delete(ctx, "", "001A"),
		c.Delete(ctx, "Account/x", "001A"),
	}
	_, err := c.Upsert(ctx, "Account", "Ext__c", "", nil)
	errs = append(errs, err)
	_, err = c.Get(ctx, "Account", "")
	errs = append(errs, err)
	for _, err := range errs {
		if !errors.Is(err, sfsync.ErrInvalid) || sfsync.KindOf(err) != sfsync.KindPermanent {
			t.Errorf("err = %v", err)
		}
	}
}
