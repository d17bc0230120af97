package salesforce

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/sfsync/sfsync"
)

var testKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

// oauthServer is a fake authorization server that also serves userinfo.
type oauthServer struct {
	t        *testing.T
	srv      *httptest.Server
	mints    atomic.Int64
	userinfo atomic.Int64
	// check inspects a token request; a non-zero status is the answer,
	// else a token is minted.
	check  func(r *http.Request) (status int, body map[string]any)
	withID bool
	// instance overrides the instance_url (default: this server).
	instance string
}

func newOAuthServer(t *testing.T, withID bool, check func(r *http.Request) (int, map[string]any)) *oauthServer {
	s := &oauthServer{t: t, check: check, withID: withID}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *oauthServer) serve(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/services/oauth2/token":
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
			s.t.Errorf("token request %s %s", r.Method, r.Header.Get("Content-Type"))
		}
		if err := r.ParseForm(); err != nil {
			s.t.Error(err)
		}
		if status, body := s.check(r); status != 0 {
			writeJSON(w, status, body)
			return
		}
		n := s.mints.Add(1)
		body := map[string]any{
			"access_token": testToken + strings.Repeat("x", int(n)-1),
			"instance_url": cmpOr(s.instance, s.srv.URL) + "/",
			"token_type":   "Bearer",
			"scope":        "api",
			"issued_at":    "1715000000000",
			"signature":    "sig",
		}
		if s.withID {
			body["id"] = "https://login.salesforce.com/id/" + testOrg + "/" + testUser
		}
		writeJSON(w, http.StatusOK, body)
	case "/services/oauth2/userinfo":
		s.userinfo.Add(1)
		if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer "+testToken) {
			writeJSON(w, http.StatusForbidden, map[string]any{"error": "invalid_token"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"organization_id": testOrg, "user_id": testUser, "sub": "x"})
	default:
		http.NotFound(w, r)
	}
}

func TestJWTBearer(t *testing.T) {
	key := testKey()
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	srv := newOAuthServer(t, true, func(r *http.Request) (int, map[string]any) {
		if gt := r.PostForm.Get("grant_type"); gt != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
			t.Errorf("grant_type %q", gt)
		}
		tok, err := jwt.Parse(r.PostForm.Get("assertion"), func(tok *jwt.Token) (any, error) { return &key.PublicKey, nil },
			jwt.WithValidMethods([]string{"RS256"}), jwt.WithTimeFunc(func() time.Time { return now }),
			jwt.WithIssuer("consumer-key"), jwt.WithSubject("sync@example.com"), jwt.WithAudience(DefaultLoginURL), jwt.WithExpirationRequired())
		if err != nil {
			t.Errorf("assertion: %v", err)
			return http.StatusBadRequest, map[string]any{"error": "invalid_grant", "error_description": "bad assertion"}
		}
		exp, _ := tok.Claims.GetExpirationTime()
		if !exp.Equal(now.Add(3 * time.Minute)) {
			t.Errorf("exp %v", exp)
		}
		if tok.Header["alg"] != "RS256" {
			t.Errorf("alg %v", tok.Header["alg"])
		}
		return 0, nil
	})
	ts := JWTBearer(JWTConfig{
		LoginURL: srv.srv.URL + "/", ConsumerKey: "consumer-key", Username: "sync@example.com",
		PrivateKey: key, HTTPClient: srv.srv.Client(), Clock: func() time.Time { return now },
	})
	ctx := context.Background()
	tok, err := ts.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := Token{AccessToken: testToken, InstanceURL: srv.srv.URL, OrgID: testOrg, UserID: testUser, IssuedAt: time.UnixMilli(1715000000000)}
	if tok != want {
		t.Errorf("token %#v, want %#v", tok, want)
	}
	if again, _ := ts.Token(ctx); again != tok || srv.mints.Load() != 1 {
		t.Errorf("Token did not cache: %d mints", srv.mints.Load())
	}
	fresh, err := ts.Refresh(ctx)
	if err != nil || fresh.AccessToken == tok.AccessToken || srv.mints.Load() != 2 {
		t.Fatalf("Refresh: %v, %d mints", err, srv.mints.Load())
	}
	if cur, _ := ts.Token(ctx); cur != fresh {
		t.Error("Token after Refresh is not the fresh token")
	}
	if srv.userinfo.Load() != 0 {
		t.Error("userinfo called although the identity URL was present")
	}
}

func TestJWTBearerAudienceOverride(t *testing.T) {
	key := testKey()
	srv := newOAuthServer(t, true, func(r *http.Request) (int, map[string]any) {
		_, err := jwt.Parse(r.PostForm.Get("assertion"), func(*jwt.Token) (any, error) { return &key.PublicKey, nil },
			jwt.WithValidMethods([]string{"RS256"}), jwt.WithAudience("https://test.salesforce.com"))
		if err != nil {
			t.Errorf("assertion: %v", err)
		}
		return 0, nil
	})
	ts := JWTBearer(JWTConfig{LoginURL: srv.srv.URL, Audience: "https://test.salesforce.com", ConsumerKey: "k", Username: "u", PrivateKey: key, HTTPClient: srv.srv.Client()})
	if _, err := ts.Token(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestInvalidGrant(t *testing.T) {
	key := testKey()
	var assertion string
	srv := newOAuthServer(t, true, func(r *http.Request) (int, map[string]any) {
		assertion = r.PostForm.Get("assertion")
		return http.StatusBadRequest, map[string]any{"error": "invalid_grant", "error_description": "user hasn't approved this consumer"}
	})
	ts := JWTBearer(JWTConfig{LoginURL: srv.srv.URL, ConsumerKey: "k", Username: "u", PrivateKey: key, HTTPClient: srv.srv.Client()})
	_, err := ts.Token(context.Background())
	if sfsync.KindOf(err) != sfsync.KindPermanent || !strings.Contains(err.Error(), "user hasn't approved this consumer") || !strings.Contains(err.Error(), "invalid_grant") {
		t.Fatalf("err = %v (kind %v)", err, sfsync.KindOf(err))
	}
	if assertion == "" || strings.Contains(err.Error(), assertion) {
		t.Errorf("assertion in error: %v", err)
	}
	var oe *OAuthError
	if !errors.As(err, &oe) || oe.Code != "invalid_grant" || !errors.Is(err, ErrSessionInvalid) {
		t.Errorf("OAuthError %+v", oe)
	}
}

func TestJWTBearerNoKey(t *testing.T) {
	_, err := JWTBearer(JWTConfig{LoginURL: "http://127.0.0.1:0"}).Token(context.Background())
	if sfsync.KindOf(err) != sfsync.KindPermanent {
		t.Errorf("err = %v", err)
	}
}

func TestClientCredentialsWithUserinfo(t *testing.T) {
	const secret = "CLIENT-SECRET-value"
	srv := newOAuthServer(t, false, func(r *http.Request) (int, map[string]any) {
		f := r.PostForm
		if f.Get("grant_type") != "client_credentials" || f.Get("client_id") != "cid" || f.Get("client_secret") != secret {
			t.Errorf("form %v", f)
		}
		return 0, nil
	})
	ts := ClientCredentials(ClientCredentialsConfig{TokenURL: srv.srv.URL, ClientID: "cid", ClientSecret: secret, HTTPClient: srv.srv.Client()})
	tok, err := ts.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if tok.OrgID != testOrg || tok.UserID != testUser || tok.InstanceURL != srv.srv.URL || srv.userinfo.Load() != 1 {
		t.Errorf("token %v, %d userinfo calls", tok, srv.userinfo.Load())
	}
	// The client uses the minted token's instance URL.
	ps := PubSubTokens(ts)
	creds, err := ps.Token(context.Background())
	if err != nil || creds.TenantID != testOrg || creds.AccessToken != tok.AccessToken || creds.InstanceURL != tok.InstanceURL {
		t.Errorf("pubsub credentials %v, %v", creds, err)
	}
	creds, err = ps.Refresh(context.Background())
	if err != nil || creds.AccessToken == tok.AccessToken || srv.mints.Load() != 2 {
		t.Errorf("pubsub refresh %v, %v", creds, err)
	}
}

func TestClientCredentialsFailures(t *testing.T) {
	const secret = "CLIENT-SECRET-value"
	status := http.StatusBadRequest
	srv := newOAuthServer(t, true, func(r *http.Request) (int, map[string]any) {
		return status, map[string]any{"error": "invalid_client", "error_description": "invalid client credentials"}
	})
	ts := ClientCredentials(ClientCredentialsConfig{TokenURL: srv.srv.URL + "/services/oauth2/token", ClientID: "cid", ClientSecret: secret, HTTPClient: srv.srv.Client()})
	_, err := ts.Token(context.Background())
	if sfsync.KindOf(err) != sfsync.KindPermanent || strings.Contains(err.Error(), secret) || !strings.Contains(err.Error(), "invalid client credentials") {
		t.Errorf("err = %v", err)
	}
	// A rejected grant is remembered until Reset.
	ts.Reset()
	status = http.StatusServiceUnavailable
	_, err = ts.Refresh(context.Background())
	if sfsync.KindOf(err) != sfsync.KindRetryable {
		t.Errorf("503: %v", err)
	}
	srv.srv.Close()
	_, err = ts.Token(context.Background())
	if sfsync.KindOf(err) != sfsync.KindRetryable || strings.Contains(err.Error(), secret) {
		t.Errorf("network: %v", err)
	}
}

func TestTokenResponseWithoutToken(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"instance_url": "https://x"})
	}))
	defer srv.Close()
	_, err := ClientCredentials(ClientCredentialsConfig{TokenURL: srv.URL}).Token(context.Background())
	if sfsync.KindOf(err) != sfsync.KindAuth {
		t.Errorf("err = %v", err)
	}
}

func TestConcurrentRefreshSharesMint(t *testing.T) {
	// Callers that started waiting before a mint completed get its token.
	srv := newOAuthServer(t, true, func(r *http.Request) (int, map[string]any) { return 0, nil })
	ts := ClientCredentials(ClientCredentialsConfig{TokenURL: srv.srv.URL, HTTPClient: srv.srv.Client()})
	if err := ts.lock(context.Background()); err != nil { // hold the mint lock
		t.Fatal(err)
	}
	const n = 8
	var started, wg sync.WaitGroup
	started.Add(n)
	toks := make([]Token, n)
	for i := range n {
		wg.Go(func() {
			started.Done()
			toks[i], _ = ts.Refresh(context.Background())
		})
	}
	started.Wait()
	// Waiters that read the generation before the first mint completed
	// reuse its token; how many did depends on scheduling.
	ts.unlock()
	wg.Wait()
	if m := srv.mints.Load(); m < 1 || m > n {
		t.Errorf("%d mints", m)
	}
	for _, tok := range toks {
		if tok.AccessToken == "" {
			t.Error("a refresh failed")
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := ts.lock(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer ts.unlock()
	if _, err := ts.Refresh(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("refresh with a canceled context while locked: %v", err)
	}
}

func TestParseIdentityURL(t *testing.T) {
	tests := []struct{ in, org, user string }{
		{"https://login.salesforce.com/id/00D5e000003TIrBEAW/0055e000005wGZ4AAM", "00D5e000003TIrBEAW", "0055e000005wGZ4AAM"},
		{"https://test.salesforce.com/id/00DA/005B/", "00DA", "005B"},
		{"https://acme.my.salesforce.com/services/id/00DA/005B", "00DA", "005B"},
		{"https://login.salesforce.com/id/00DA", "", ""},
		{"", "", ""},
		{"::", "", ""},
	}
	for _, tt := range tests {
		org, user := ParseIdentityURL(tt.in)
		if org != tt.org || user != tt.user {
			t.Errorf("ParseIdentityURL(%q) = %q, %q", tt.in, org, user)
		}
	}
}

func TestStaticToken(t *testing.T) {
	tok := Token{AccessToken: "a", InstanceURL: "https://x", OrgID: "00D"}
	ts := StaticToken(tok)
	a, _ := ts.Token(context.Background())
	b, _ := ts.Refresh(context.Background())
	if a != tok || b != tok {
		t.Errorf("%v %v", a, b)
	}
}

func TestClientWithJWT(t *testing.T) {
	// End to end: the client calls the instance URL of the minted token
	// with its access token.
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"Id": "001A"})
	})
	srv := newOAuthServer(t, true, func(r *http.Request) (int, map[string]any) { return 0, nil })
	srv.instance = f.srv.URL
	c := New(JWTBearer(JWTConfig{LoginURL: srv.srv.URL, ConsumerKey: "k", Username: "u", PrivateKey: testKey()}))
	rec, err := c.Get(context.Background(), "Account", "001A")
	if err != nil || rec["Id"] != "001A" {
		t.Fatalf("Get = %v, %v", rec, err)
	}
	if srv.mints.Load() != 1 || f.calls.Load() != 1 {
		t.Errorf("%d mints, %d calls", srv.mints.Load(), f.calls.Load())
	}
}

func TestJWTDefaultAudience(t *testing.T) {
	for login, want := range map[string]string{
		"https://login.salesforce.com":                "https://login.salesforce.com",
		"https://test.salesforce.com/":                "https://test.salesforce.com",
		"https://acme.my.salesforce.com":              "https://login.salesforce.com",
		"https://acme--uat.sandbox.my.salesforce.com": "https://test.salesforce.com",
		"http://127.0.0.1:8080":                       "https://login.salesforce.com",
	} {
		if got := defaultAudience(login); got != want {
			t.Errorf("defaultAudience(%q) = %q, want %q", login, got, want)
		}
	}
}
