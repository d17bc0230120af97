package salesforce_test

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/salesforce"
	"github.com/sfsync/sfsync/salesforce/salesforcetest"
)

// wantRememberedFailure checks that ts fails permanently with the OAuth
// error code (or, for code "", with a non-OAuth failure), through Token,
// Refresh, Err and a client call, without asking the token endpoint again.
func wantRememberedFailure(t *testing.T, org *salesforcetest.Org, ts *salesforce.OAuthSource, tr *foTransport, code string) {
	t.Helper()
	ctx := foCtx(t)
	posts := tr.tokenPosts.Load()
	check := func(what string, err error) {
		t.Helper()
		foWantKind(t, what, err, sfsync.KindPermanent)
		if code == "" {
			return
		}
		var oe *salesforce.OAuthError
		if !errors.As(err, &oe) || oe.Code != code {
			t.Fatalf("%s: %v; want an OAuthError %s", what, err, code)
		}
		var se *sfsync.Error
		if !errors.As(err, &se) || se.Code != code {
			t.Fatalf("%s: %v; want sfsync.Error code %s", what, err, code)
		}
	}
	for range 3 {
		_, err := ts.Token(ctx)
		check("Token", err)
		_, err = ts.Refresh(ctx)
		check("Refresh", err)
	}
	check("Err", ts.Err())
	used := foUsed(org)
	c := salesforce.New(ts, salesforce.WithHTTPClient(org.Client()), salesforce.WithLogger(discard()))
	_, err := c.Limits(ctx)
	check("Limits", err)
	if foUsed(org) != used {
		t.Fatal("a call without a token reached the API")
	}
	if n := tr.tokenPosts.Load(); n != posts {
		t.Fatalf("%d more token requests after a permanent failure, want 0", n-posts)
	}
}

// D: a rejected grant is permanent. The token source remembers it and
// answers every later call with it, without asking the token endpoint
// again, until Reset.
func TestFakeOrgPermanentTokenFailureIsRemembered(t *testing.T) {
	ctx := foCtx(t)
	key, otherKey := foKeys()
	const consumerKey = "3MVG9jwtConsumerKey"

	t.Run("invalid_client", func(t *testing.T) {
		org := salesforcetest.NewOrg()
		defer org.Close()
		hc, tr := foHTTP(org)
		id, _ := org.ClientCredentials()
		ts := salesforce.ClientCredentials(salesforce.ClientCredentialsConfig{TokenURL: org.URL(), ClientID: id, ClientSecret: "WRONG", HTTPClient: hc})
		if ts.Err() != nil {
			t.Fatalf("Err before any call: %v", ts.Err())
		}
		_, err := ts.Token(ctx)
		foWantKind(t, "first Token", err, sfsync.KindPermanent)
		if tr.tokenPosts.Load() != 1 {
			t.Fatalf("%d token requests, want 1", tr.tokenPosts.Load())
		}
		wantRememberedFailure(t, org, ts, tr, "invalid_client")

		// Reset asks the endpoint again: still wrong, remembered again.
		ts.Reset()
		if ts.Err() != nil {
			t.Fatalf("Err after Reset: %v", ts.Err())
		}
		_, err = ts.Token(ctx)
		foWantKind(t, "Token after Reset", err, sfsync.KindPermanent)
		if tr.tokenPosts.Load() != 2 {
			t.Fatalf("%d token requests after Reset, want 2", tr.tokenPosts.Load())
		}
		wantRememberedFailure(t, org, ts, tr, "invalid_client")
	})

	t.Run("invalid_grant", func(t *testing.T) {
		org := salesforcetest.NewOrg()
		defer org.Close()
		org.RegisterJWTKey(consumerKey, &key.PublicKey, salesforcetest.IntegrationUsername)
		hc, tr := foHTTP(org)
		ts := salesforce.JWTBearer(salesforce.JWTConfig{LoginURL: org.URL(), ConsumerKey: consumerKey,
			Username: salesforcetest.IntegrationUsername, PrivateKey: otherKey, HTTPClient: hc})
		_, err := ts.Token(ctx)
		foWantKind(t, "first Token", err, sfsync.KindPermanent)
		if !errors.Is(err, salesforce.ErrSessionInvalid) {
			t.Errorf("a rejected grant does not match ErrSessionInvalid: %v", err)
		}
		wantRememberedFailure(t, org, ts, tr, "invalid_grant")
	})

	t.Run("unsupported_grant_type", func(t *testing.T) {
		org := salesforcetest.NewOrg()
		defer org.Close()
		hc, tr := foHTTP(org)
		id, secret := org.ClientCredentials()
		org.InjectFault(salesforcetest.Fault{PathContains: "/services/oauth2/token", Code: "unsupported_grant_type", Message: "grant type not supported"})
		ts := salesforce.ClientCredentials(salesforce.ClientCredentialsConfig{TokenURL: org.URL(), ClientID: id, ClientSecret: secret, HTTPClient: hc})
		_, err := ts.Token(ctx)
		foWantKind(t, "first Token", err, sfsync.KindPermanent)
		wantRememberedFailure(t, org, ts, tr, "unsupported_grant_type")
		// Once fixed on the server side, Reset recovers.
		ts.Reset()
		if _, err := ts.Token(ctx); err != nil {
			t.Fatalf("Token after Reset: %v", err)
		}
		if ts.Err() != nil {
			t.Fatalf("Err after a successful mint: %v", ts.Err())
		}
	})

	t.Run("no private key", func(t *testing.T) {
		org := salesforcetest.NewOrg()
		defer org.Close()
		hc, tr := foHTTP(org)
		ts := salesforce.JWTBearer(salesforce.JWTConfig{LoginURL: org.URL(), ConsumerKey: consumerKey,
			Username: salesforcetest.IntegrationUsername, HTTPClient: hc})
		_, err := ts.Token(ctx)
		foWantKind(t, "first Token", err, sfsync.KindPermanent)
		if !strings.Contains(err.Error(), "private key") {
			t.Errorf("error %v does not say what failed", err)
		}
		wantRememberedFailure(t, org, ts, tr, "")
		if tr.tokenPosts.Load() != 0 {
			t.Fatalf("%d token requests without a key, want 0", tr.tokenPosts.Load())
		}
	})

	t.Run("rejected on refresh", func(t *testing.T) {
		// A token that worked, then the app is revoked: the failed
		// re-authentication is remembered, and the rejected token is not
		// handed out again.
		org := salesforcetest.NewOrg()
		defer org.Close()
		hc, tr := foHTTP(org)
		id, secret := org.ClientCredentials()
		ts := salesforce.ClientCredentials(salesforce.ClientCredentialsConfig{TokenURL: org.URL(), ClientID: id, ClientSecret: secret, HTTPClient: hc})
		c := salesforce.New(ts, salesforce.WithHTTPClient(hc), salesforce.WithLogger(discard()))
		if _, err := c.Limits(ctx); err != nil {
			t.Fatal(err)
		}
		org.ExpireTokens()
		org.InjectFault(salesforcetest.Fault{PathContains: "/services/oauth2/token", Code: "invalid_grant", Message: "app access revoked"})
		_, err := c.Limits(ctx)
		foWantKind(t, "Limits after revocation", err, sfsync.KindPermanent)
		wantRememberedFailure(t, org, ts, tr, "invalid_grant")
	})
}

// D: transient token endpoint failures (5xx, network) are retryable and
// not remembered: the next call asks the endpoint again.
func TestFakeOrgTransientTokenFailureIsNotRemembered(t *testing.T) {
	ctx := foCtx(t)
	org := salesforcetest.NewOrg()
	defer org.Close()
	hc, tr := foHTTP(org)
	id, secret := org.ClientCredentials()
	ts := salesforce.ClientCredentials(salesforce.ClientCredentialsConfig{TokenURL: org.URL(), ClientID: id, ClientSecret: secret, HTTPClient: hc})
	for i, f := range []salesforcetest.Fault{
		{PathContains: "/services/oauth2/token", Status: http.StatusServiceUnavailable},
		{PathContains: "/services/oauth2/token", Status: http.StatusInternalServerError, Code: "server_error", Message: "internal error"},
		{PathContains: "/services/oauth2/token", Status: http.StatusTooManyRequests, Code: "rate_limited", Message: "slow down"},
	} {
		org.InjectFault(f)
		_, err := ts.Refresh(ctx)
		foWantKind(t, "token endpoint failure", err, sfsync.KindRetryable)
		if errors.Is(err, salesforce.ErrSessionInvalid) {
			t.Errorf("a transient failure matches ErrSessionInvalid: %v", err)
		}
		if ts.Err() != nil {
			t.Fatalf("Err after a transient failure: %v", ts.Err())
		}
		if n := tr.tokenPosts.Load(); n != int64(2*i+1) {
			t.Fatalf("%d token requests, want %d", n, 2*i+1)
		}
		if _, err := ts.Refresh(ctx); err != nil {
			t.Fatalf("after the token endpoint recovered: %v", err)
		}
		if n := tr.tokenPosts.Load(); n != int64(2*i+2) {
			t.Fatalf("%d token requests, want %d", n, 2*i+2)
		}
	}

	// A network failure: the endpoint is unreachable.
	down := salesforce.ClientCredentials(salesforce.ClientCredentialsConfig{TokenURL: org.URL(), ClientID: id, ClientSecret: secret,
		HTTPClient: &http.Client{Transport: roundTripFunc(func(*http.Request) (*http.Response, error) {
			return nil, errors.New("connection refused")
		})}})
	_, err := down.Token(ctx)
	foWantKind(t, "network failure", err, sfsync.KindRetryable)
	if down.Err() != nil {
		t.Fatalf("Err after a network failure: %v", down.Err())
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// A sink whose token source holds a permanent failure reports it through
// Err, for the engine's health, and its writes fail permanently with the
// OAuth error without asking the token endpoint again.
func TestFakeOrgSinkReportsARejectedGrant(t *testing.T) {
	ctx := foCtx(t)
	org := salesforcetest.NewOrg()
	defer org.Close()
	hc, tr := foHTTP(org)
	id, _ := org.ClientCredentials()
	ts := salesforce.ClientCredentials(salesforce.ClientCredentialsConfig{TokenURL: org.URL(), ClientID: id, ClientSecret: "WRONG", HTTPClient: hc})
	sink := salesforce.NewSink(salesforce.New(ts, salesforce.WithHTTPClient(hc)))
	if err := sink.Err(); err != nil {
		t.Fatalf("Err before any call: %v", err)
	}
	c := sfsync.Change{Source: sfsync.External("erp"), Object: "Contact", RecordID: "003000000000001AAA", Op: sfsync.OpUpdate,
		Key: "k1", Fields: map[string]any{"LastName": "X"}}
	for i := range 2 {
		err := sink.Write(ctx, []sfsync.Change{c})
		foWantKind(t, fmt.Sprintf("write %d", i+1), err, sfsync.KindPermanent)
	}
	if n := tr.tokenPosts.Load(); n != 1 {
		t.Errorf("%d token requests for two writes, want 1", n)
	}
	var oe *salesforce.OAuthError
	if err := sink.Err(); !errors.As(err, &oe) {
		t.Errorf("sink.Err() = %v, want the OAuth error", err)
	}
}
