package salesforce_test

// Tests of the REST client against the fake org (salesforcetest): every
// operation and every error class of spec parts C and D. Shared helpers live
// here; the tests are split over fakeorg_*_test.go.

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/salesforce"
	"github.com/sfsync/sfsync/salesforce/salesforcetest"
)

// foCtx returns a context that ends the test's waits instead of hanging.
func foCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// foClock is a clock the test moves by hand (salesforcetest.WithClock).
type foClock struct {
	mu sync.Mutex
	t  time.Time
}

func foNewClock(t time.Time) *foClock { return &foClock{t: t} }

func (c *foClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *foClock) set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

func (c *foClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// foTransport counts the token endpoint requests of an HTTP client.
type foTransport struct {
	base       http.RoundTripper
	tokenPosts atomic.Int64
}

func (t *foTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Path == "/services/oauth2/token" {
		t.tokenPosts.Add(1)
	}
	return t.base.RoundTrip(r)
}

// foHTTP returns an HTTP client for org that counts token requests.
func foHTTP(org *salesforcetest.Org) (*http.Client, *foTransport) {
	tr := &foTransport{base: org.Client().Transport}
	return &http.Client{Transport: tr}, tr
}

// foCountingTokens counts the Token and Refresh calls of a TokenSource.
type foCountingTokens struct {
	ts               salesforce.TokenSource
	tokens, refreshs atomic.Int64
}

func (c *foCountingTokens) Token(ctx context.Context) (salesforce.Token, error) {
	c.tokens.Add(1)
	return c.ts.Token(ctx)
}

func (c *foCountingTokens) Refresh(ctx context.Context) (salesforce.Token, error) {
	c.refreshs.Add(1)
	return c.ts.Refresh(ctx)
}

// foAPIError returns the *salesforce.APIError of err, failing the test
// without one.
func foAPIError(t *testing.T, err error) *salesforce.APIError {
	t.Helper()
	var ae *salesforce.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("error %v (%T) is not an *APIError", err, err)
	}
	return ae
}

// foWantKind fails the test unless err is non-nil and of kind want.
func foWantKind(t *testing.T, what string, err error, want sfsync.Kind) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: no error, want one of kind %v", what, want)
	}
	if got := sfsync.KindOf(err); got != want {
		t.Fatalf("%s: kind %v, want %v (error %v)", what, got, want, err)
	}
}

// foUsed returns the org's daily API usage counter.
func foUsed(org *salesforcetest.Org) int {
	used, _ := org.APIUsage()
	return used
}

// foKeys are RSA keys shared by the runs of the JWT tests (key generation is
// slow under -race).
var foKeys = sync.OnceValues(func() (*rsa.PrivateKey, *rsa.PrivateKey) {
	a, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	b, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return a, b
})

// ---- D. OAuth ----

func TestFakeOrgClientCredentials(t *testing.T) {
	ctx := foCtx(t)
	org := salesforcetest.NewOrg()
	defer org.Close()
	hc, tr := foHTTP(org)
	id, secret := org.ClientCredentials()
	ts := salesforce.ClientCredentials(salesforce.ClientCredentialsConfig{TokenURL: org.URL(), ClientID: id, ClientSecret: secret, HTTPClient: hc})

	tok, err := ts.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken == "" || tok.InstanceURL != org.URL() {
		t.Fatalf("token %v: instance %q, want %q", tok, tok.InstanceURL, org.URL())
	}
	// Identity URL .../id/<org>/<user> parsed into the ids.
	if tok.OrgID != org.OrgID() || tok.UserID != org.IntegrationUserID() {
		t.Fatalf("org %q user %q, want %q %q", tok.OrgID, tok.UserID, org.OrgID(), org.IntegrationUserID())
	}
	if tok.IssuedAt.IsZero() {
		t.Error("IssuedAt not set from issued_at")
	}
	if s := fmt.Sprint(tok) + fmt.Sprintf("%#v", tok); strings.Contains(s, tok.AccessToken) {
		t.Errorf("formatted token shows the access token: %s", s)
	}
	// A cached token: Token again does not mint.
	if again, err := ts.Token(ctx); err != nil || again.AccessToken != tok.AccessToken {
		t.Fatalf("second Token = %v, %v; want the cached token", again, err)
	}
	if n := tr.tokenPosts.Load(); n != 1 {
		t.Fatalf("%d token requests, want 1", n)
	}

	c := salesforce.New(ts, salesforce.WithHTTPClient(hc), salesforce.WithLogger(discard()))
	recID, err := c.Create(ctx, "Contact", map[string]any{"LastName": "Credentials"})
	if err != nil {
		t.Fatal(err)
	}
	rec, ok := org.Record("Contact", recID)
	if !ok || rec["CreatedById"] != org.IntegrationUserID() {
		t.Fatalf("record %s = %v; want created by the integration user", recID, rec)
	}

	// The Pub/Sub adapter: tenant id = org id.
	creds, err := salesforce.PubSubTokens(ts).Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if creds.TenantID != org.OrgID() || creds.AccessToken != tok.AccessToken || creds.InstanceURL != org.URL() {
		t.Fatalf("pubsub credentials tenant %q instance %q; want %q %q and the same token", creds.TenantID, creds.InstanceURL, org.OrgID(), org.URL())
	}
	fresh, err := salesforce.PubSubTokens(ts).Refresh(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if fresh.TenantID != org.OrgID() || fresh.AccessToken == tok.AccessToken {
		t.Fatalf("refreshed pubsub credentials: tenant %q, same token %v", fresh.TenantID, fresh.AccessToken == tok.AccessToken)
	}
	if n := tr.tokenPosts.Load(); n != 2 {
		t.Fatalf("%d token requests after a refresh, want 2", n)
	}
}

func TestFakeOrgClientCredentialsRejected(t *testing.T) {
	ctx := foCtx(t)
	org := salesforcetest.NewOrg()
	defer org.Close()
	id, secret := org.ClientCredentials()
	const wrong = "WRONG-SECRET-0123456789"
	for _, tc := range []struct{ name, id, secret string }{
		{"wrong secret", id, wrong},
		{"wrong client id", "3MVG9unknown", secret},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := salesforce.ClientCredentials(salesforce.ClientCredentialsConfig{TokenURL: org.URL(), ClientID: tc.id, ClientSecret: tc.secret, HTTPClient: org.Client()})
			_, err := ts.Token(ctx)
			foWantKind(t, "token", err, sfsync.KindPermanent)
			if msg := err.Error(); strings.Contains(msg, wrong) || strings.Contains(msg, secret) {
				t.Fatalf("error shows a secret: %s", msg)
			}
			var oe *salesforce.OAuthError
			if !errors.As(err, &oe) || oe.Status != http.StatusBadRequest || oe.Code != "invalid_client" {
				t.Fatalf("error %v; want OAuthError 400 invalid_client", err)
			}
			if !errors.Is(err, salesforce.ErrSessionInvalid) {
				t.Error("a rejected grant does not match ErrSessionInvalid")
			}
			// Through the client: no API call is made.
			before := foUsed(org)
			c := salesforce.New(ts, salesforce.WithHTTPClient(org.Client()), salesforce.WithLogger(discard()))
			_, err = c.Limits(ctx)
			foWantKind(t, "Limits", err, sfsync.KindPermanent)
			if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), wrong) {
				t.Fatalf("error shows a secret: %v", err)
			}
			if foUsed(org) != before {
				t.Fatal("a call without a token reached the API")
			}
		})
	}
}

func TestFakeOrgJWTBearer(t *testing.T) {
	ctx := foCtx(t)
	org := salesforcetest.NewOrg()
	defer org.Close()
	key, otherKey := foKeys()
	const consumerKey = "3MVG9jwtConsumerKey"
	org.RegisterJWTKey(consumerKey, &key.PublicKey, salesforcetest.IntegrationUsername)
	hc, tr := foHTTP(org)

	ts := salesforce.JWTBearer(salesforce.JWTConfig{LoginURL: org.URL(), ConsumerKey: consumerKey,
		Username: salesforcetest.IntegrationUsername, PrivateKey: key, HTTPClient: hc})
	tok, err := ts.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if tok.InstanceURL != org.URL() || tok.OrgID != org.OrgID() || tok.UserID != org.IntegrationUserID() {
		t.Fatalf("token %v; want instance %s org %s user %s", tok, org.URL(), org.OrgID(), org.IntegrationUserID())
	}
	c := salesforce.New(ts, salesforce.WithHTTPClient(hc), salesforce.WithLogger(discard()))
	lim, err := c.Limits(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if lim["DailyApiRequests"].Max != salesforcetest.DefaultDailyLimit {
		t.Fatalf("limits %v", lim["DailyApiRequests"])
	}
	if n := tr.tokenPosts.Load(); n != 1 {
		t.Fatalf("%d token requests, want 1", n)
	}

	for _, tc := range []struct {
		name, consumer, user string
		key                  *rsa.PrivateKey
		desc                 string
	}{
		{"unregistered key", consumerKey, salesforcetest.IntegrationUsername, otherKey, "invalid assertion"},
		{"unknown consumer", "3MVG9other", salesforcetest.IntegrationUsername, key, "invalid client identifier"},
		{"wrong user", consumerKey, "someone@else.test", key, "user hasn't approved this consumer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := salesforce.JWTBearer(salesforce.JWTConfig{LoginURL: org.URL(), ConsumerKey: tc.consumer,
				Username: tc.user, PrivateKey: tc.key, HTTPClient: org.Client()})
			_, err := bad.Token(ctx)
			foWantKind(t, "token", err, sfsync.KindPermanent)
			var oe *salesforce.OAuthError
			if !errors.As(err, &oe) || oe.Code != "invalid_grant" || oe.Description != tc.desc {
				t.Fatalf("error %v; want invalid_grant %q", err, tc.desc)
			}
		})
	}
}

// An expired token costs exactly one re-authentication, after which the
// call succeeds; a token source that cannot help is not asked twice.
func TestFakeOrgExpiredTokenReauthenticatesOnce(t *testing.T) {
	ctx := foCtx(t)
	org := salesforcetest.NewOrg()
	defer org.Close()
	hc, tr := foHTTP(org)
	id, secret := org.ClientCredentials()
	counted := &foCountingTokens{ts: salesforce.ClientCredentials(salesforce.ClientCredentialsConfig{TokenURL: org.URL(), ClientID: id, ClientSecret: secret, HTTPClient: hc})}
	c := salesforce.New(counted, salesforce.WithHTTPClient(hc), salesforce.WithLogger(discard()))

	recID, err := c.Create(ctx, "Contact", map[string]any{"LastName": "Before"})
	if err != nil {
		t.Fatal(err)
	}
	if tr.tokenPosts.Load() != 1 || counted.refreshs.Load() != 0 {
		t.Fatalf("%d token requests, %d refreshes before expiry; want 1, 0", tr.tokenPosts.Load(), counted.refreshs.Load())
	}
	org.ExpireTokens()
	rec, err := c.Get(ctx, "Contact", recID, "LastName")
	if err != nil {
		t.Fatalf("Get after ExpireTokens: %v", err)
	}
	if rec["LastName"] != "Before" {
		t.Fatalf("record %v", rec)
	}
	if r, p := counted.refreshs.Load(), tr.tokenPosts.Load(); r != 1 || p != 2 {
		t.Fatalf("%d refreshes, %d token requests after expiry; want exactly 1 re-auth (1, 2)", r, p)
	}
	if err := c.Update(ctx, "Contact", recID, map[string]any{"LastName": "After"}); err != nil {
		t.Fatal(err)
	}
	if r := counted.refreshs.Load(); r != 1 {
		t.Fatalf("%d refreshes with a valid token, want 1", r)
	}
	if got, _ := org.Record("Contact", recID); got["LastName"] != "After" {
		t.Fatalf("LastName %v after update", got["LastName"])
	}

	// A static token cannot be renewed: one refresh, then ErrSessionInvalid.
	static := &foCountingTokens{ts: salesforce.StaticToken(salesforce.Token{AccessToken: org.AccessToken(), InstanceURL: org.URL(), OrgID: org.OrgID()})}
	sc := salesforce.New(static, salesforce.WithHTTPClient(org.Client()), salesforce.WithLogger(discard()))
	org.ExpireTokens()
	_, err = sc.Get(ctx, "Contact", recID)
	foWantKind(t, "Get with an expired static token", err, sfsync.KindAuth)
	if !errors.Is(err, salesforce.ErrSessionInvalid) {
		t.Fatalf("error %v does not match ErrSessionInvalid", err)
	}
	if ae := foAPIError(t, err); ae.Status != http.StatusUnauthorized || ae.Code != "INVALID_SESSION_ID" {
		t.Fatalf("APIError %d %s, want 401 INVALID_SESSION_ID", ae.Status, ae.Code)
	}
	if r := static.refreshs.Load(); r != 1 {
		t.Fatalf("%d refreshes, want 1", r)
	}
}

// D: a failing token endpoint (5xx) is retryable, not a rejected grant; a
// failed re-authentication fails the call, and the next call recovers.
func TestFakeOrgTokenEndpointUnavailable(t *testing.T) {
	ctx := foCtx(t)
	org := salesforcetest.NewOrg()
	defer org.Close()
	id, secret := org.ClientCredentials()
	counted := &foCountingTokens{ts: salesforce.ClientCredentials(salesforce.ClientCredentialsConfig{TokenURL: org.URL(), ClientID: id, ClientSecret: secret, HTTPClient: org.Client()})}
	c := salesforce.New(counted, salesforce.WithHTTPClient(org.Client()), salesforce.WithLogger(discard()))

	org.InjectFault(salesforcetest.Fault{PathContains: "/services/oauth2/token", Status: http.StatusServiceUnavailable})
	_, err := c.Limits(ctx)
	foWantKind(t, "token endpoint 503", err, sfsync.KindRetryable)
	if errors.Is(err, salesforce.ErrSessionInvalid) || strings.Contains(err.Error(), secret) {
		t.Fatalf("token endpoint 503: %v", err)
	}
	if _, err := c.Limits(ctx); err != nil {
		t.Fatalf("after the token endpoint recovered: %v", err)
	}

	org.ExpireTokens()
	org.InjectFault(salesforcetest.Fault{PathContains: "/services/oauth2/token", Status: http.StatusBadGateway})
	_, err = c.Limits(ctx)
	foWantKind(t, "failed re-authentication", err, sfsync.KindRetryable)
	if r := counted.refreshs.Load(); r != 1 {
		t.Fatalf("%d refreshes, want 1", r)
	}
	if _, err := c.Limits(ctx); err != nil {
		t.Fatalf("after the token endpoint recovered: %v", err)
	}
	if r := counted.refreshs.Load(); r != 2 {
		t.Fatalf("%d refreshes, want 2", r)
	}
}
