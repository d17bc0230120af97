package salesforce

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/internal/bounded"
)

// deepObject and deepArray nest one level deeper than maxJSONDepth.
var (
	deepObject = strings.Repeat(`{"a":`, maxJSONDepth+1) + "1" + strings.Repeat("}", maxJSONDepth+1)
	deepArray  = strings.Repeat("[", maxJSONDepth+1) + strings.Repeat("]", maxJSONDepth+1)
)

func writeRaw(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

// Every successful REST response is checked for nesting before it is
// decoded: a body too deep is a permanent error that says so, for GETs
// (getJSON) and for writes (decode).
func TestRESTBodiesNestingTooDeepAreNotDecoded(t *testing.T) {
	for _, tc := range []struct {
		name string
		body string
		call func(*Client) error
	}{
		{"limits", deepObject, func(c *Client) error { _, err := c.Limits(context.Background()); return err }},
		{"get", deepObject, func(c *Client) error { _, err := c.Get(context.Background(), "Account", "001A"); return err }},
		{"create", deepObject, func(c *Client) error {
			_, err := c.Create(context.Background(), "Account", map[string]any{"Name": "x"})
			return err
		}},
		{"collections", deepArray, func(c *Client) error {
			_, err := c.CreateRecords(context.Background(), "Account", []map[string]any{{"Name": "x"}}, false)
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, func(w http.ResponseWriter, r *http.Request) { writeRaw(w, http.StatusOK, tc.body) })
			err := tc.call(f.client())
			if !errors.Is(err, bounded.ErrTooLarge) || !sfsync.IsPermanent(err) {
				t.Fatalf("err = %v, want a permanent error matching bounded.ErrTooLarge", err)
			}
		})
	}
}

// A 300 response listing the matches of an upsert in a body nesting too
// deep gives no ids and says why, and is still the multiple-matches
// conflict.
func TestMultipleMatchesBodyNestingTooDeep(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) { writeRaw(w, http.StatusMultipleChoices, deepArray) })
	_, err := f.client().Upsert(context.Background(), "Account", "Ext__c", "E1", map[string]any{"Name": "x"})
	var ae *APIError
	if !errors.As(err, &ae) || !errors.Is(err, ErrMultipleMatches) || len(ae.Matches) != 0 || !strings.Contains(ae.Message, "not list them readably") {
		t.Fatalf("err = %v (%+v), want the multiple-matches error without ids", err, ae)
	}
	if got := parseMatches([]byte(`[` + deepArray + `,"001Z"]`)); got != nil {
		t.Errorf("parseMatches of a deep body = %v", got)
	}
}

// Token, userinfo and OAuth error bodies nesting too deep are not decoded:
// a token or userinfo response is an authentication failure that says
// why; an error response keeps its status's classification.
func TestOAuthBodiesNestingTooDeep(t *testing.T) {
	var tokenStatus int
	var tokenBody, userinfoBody string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/services/oauth2/userinfo" {
			writeRaw(w, http.StatusOK, userinfoBody)
			return
		}
		writeRaw(w, tokenStatus, tokenBody)
	}))
	defer srv.Close()
	mint := func() error {
		_, err := ClientCredentials(ClientCredentialsConfig{TokenURL: srv.URL, ClientID: "cid", ClientSecret: "secret", HTTPClient: srv.Client()}).Token(context.Background())
		return err
	}

	tokenStatus, tokenBody = http.StatusOK, deepObject
	if err := mint(); sfsync.KindOf(err) != sfsync.KindAuth || !errors.Is(err, bounded.ErrTooLarge) || !strings.Contains(err.Error(), "oauth token response") {
		t.Errorf("deep token response: %v", err)
	}

	// A token without an identity URL makes the source ask userinfo.
	tokenBody = `{"access_token":"` + testToken + `","instance_url":"` + srv.URL + `"}`
	userinfoBody = deepObject
	if err := mint(); sfsync.KindOf(err) != sfsync.KindAuth || !errors.Is(err, bounded.ErrTooLarge) || !strings.Contains(err.Error(), "userinfo response") {
		t.Errorf("deep userinfo response: %v", err)
	}

	tokenStatus, tokenBody = http.StatusBadRequest, `{"error":`+deepObject+`}`
	err := mint()
	var oe *OAuthError
	if !errors.As(err, &oe) || sfsync.KindOf(err) != sfsync.KindPermanent || oe.Code != "" || oe.Status != http.StatusBadRequest {
		t.Errorf("deep error response: %v (%+v), want a permanent OAuthError without a decoded code", err, oe)
	}
}
