package salesforce

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/pubsub"
)

// DefaultLoginURL is the production login host of the JWT bearer flow.
const DefaultLoginURL = "https://login.salesforce.com"

// jwtLifetime is how far ahead of now the assertion's exp lies.
const jwtLifetime = 3 * time.Minute

// Token is an OAuth access token with the org it belongs to.
type Token struct {
	AccessToken string
	// InstanceURL is the org's My Domain URL (instance_url), without a path.
	InstanceURL string
	// OrgID and UserID come from the identity URL (or userinfo).
	OrgID, UserID string
	IssuedAt      time.Time
}

// String hides the access token, so that a token never reaches a log.
func (t Token) String() string {
	return fmt.Sprintf("{instance %s, org %s, user %s, token redacted}", t.InstanceURL, t.OrgID, t.UserID)
}

// GoString hides the access token from %#v as well.
func (t Token) GoString() string { return "salesforce.Token" + t.String() }

// LogValue hides the access token from slog.
func (t Token) LogValue() slog.Value {
	return slog.GroupValue(slog.String("instance", t.InstanceURL), slog.String("org", t.OrgID), slog.String("user", t.UserID))
}

// TokenSource supplies access tokens. Token returns the current token,
// minting one if there is none; Refresh mints a new one, after the server
// rejected the current one. Both are safe for concurrent use.
type TokenSource interface {
	Token(ctx context.Context) (Token, error)
	Refresh(ctx context.Context) (Token, error)
}

// StaticToken returns a TokenSource that always returns t; Refresh returns
// t as well.
func StaticToken(t Token) TokenSource { return staticToken(t) }

type staticToken Token

func (s staticToken) Token(context.Context) (Token, error)   { return Token(s), nil }
func (s staticToken) Refresh(context.Context) (Token, error) { return Token(s), nil }

// JWTConfig configures the OAuth 2.0 JWT bearer flow.
type JWTConfig struct {
	// LoginURL is the authorization server: https://login.salesforce.com
	// (the default), https://test.salesforce.com or a My Domain URL.
	LoginURL string
	// ConsumerKey is the connected app's consumer key (the iss claim).
	ConsumerKey string
	// Username is the pre-authorized user (the sub claim).
	Username string
	// PrivateKey signs the assertion (RS256); the connected app holds the
	// certificate.
	PrivateKey *rsa.PrivateKey
	// Audience is the aud claim. Salesforce accepts only
	// https://login.salesforce.com, https://test.salesforce.com or an
	// Experience Cloud site URL, whatever host the token is requested from:
	// it defaults to LoginURL when that is one of the first two, to
	// https://test.salesforce.com for a sandbox My Domain, and to
	// https://login.salesforce.com otherwise.
	Audience string
	// HTTPClient defaults to http.DefaultClient. A [Client] made with
	// this source uses it too, unless given [WithHTTPClient].
	HTTPClient *http.Client
	// Clock defaults to time.Now.
	Clock func() time.Time
}

// defaultAudience is the aud claim Salesforce expects for a login URL.
func defaultAudience(loginURL string) string {
	u, err := url.Parse(loginURL)
	switch {
	case err != nil:
		return DefaultLoginURL
	case u.Host == "login.salesforce.com" || u.Host == "test.salesforce.com":
		return "https://" + u.Host
	case strings.HasSuffix(u.Host, ".sandbox.my.salesforce.com"):
		return "https://test.salesforce.com"
	}
	return DefaultLoginURL
}

// JWTBearer returns a token source that mints tokens with the JWT bearer
// flow: an RS256 assertion with iss, sub, aud and exp (now + 3 minutes)
// posted to <LoginURL>/services/oauth2/token. A missing or unusable
// private key is a permanent failure (see [OAuthSource]).
func JWTBearer(cfg JWTConfig) *OAuthSource {
	cfg.LoginURL = strings.TrimRight(cmpOr(cfg.LoginURL, DefaultLoginURL), "/")
	cfg.Audience = cmpOr(cfg.Audience, defaultAudience(cfg.LoginURL))
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	s := &OAuthSource{hc: cfg.HTTPClient, clock: cfg.Clock, tokenURL: tokenEndpoint(cfg.LoginURL)}
	s.form = func() (url.Values, error) {
		if cfg.PrivateKey == nil {
			return nil, sfsync.Permanent(errors.New("salesforce: jwt bearer: no private key configured; set JWTConfig.PrivateKey"))
		}
		now := cfg.Clock()
		claims := jwt.MapClaims{
			"iss": cfg.ConsumerKey,
			"sub": cfg.Username,
			"aud": cfg.Audience,
			"exp": now.Add(jwtLifetime).Unix(),
		}
		assertion, err := jwt.NewWithClaims(jwt.SigningMethodRS256, claims).SignedString(cfg.PrivateKey)
		if err != nil {
			return nil, sfsync.Permanent(fmt.Errorf("salesforce: jwt bearer: signing the assertion with the private key failed; configure a usable RSA key: %w", err))
		}
		return url.Values{
			"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"},
			"assertion":  {assertion},
		}, nil
	}
	return s
}

// ClientCredentialsConfig configures the OAuth 2.0 client credentials flow.
type ClientCredentialsConfig struct {
	// TokenURL is the org's My Domain base URL
	// (https://<MyDomain>.my.salesforce.com); the token endpoint
	// /services/oauth2/token is appended unless it is already there.
	TokenURL string
	// ClientID and ClientSecret are the connected app's consumer key and
	// secret.
	ClientID, ClientSecret string
	// HTTPClient defaults to http.DefaultClient. A [Client] made with
	// this source uses it too, unless given [WithHTTPClient].
	HTTPClient *http.Client
}

// ClientCredentials returns a token source that mints tokens with the
// client credentials flow, running as the connected app's integration user.
func ClientCredentials(cfg ClientCredentialsConfig) *OAuthSource {
	s := &OAuthSource{hc: cfg.HTTPClient, clock: time.Now, tokenURL: tokenEndpoint(cfg.TokenURL)}
	s.form = func() (url.Values, error) {
		return url.Values{
			"grant_type":    {"client_credentials"},
			"client_id":     {cfg.ClientID},
			"client_secret": {cfg.ClientSecret},
		}, nil
	}
	return s
}

const tokenPath = "/services/oauth2/token"

func tokenEndpoint(base string) string {
	base = strings.TrimRight(base, "/")
	if strings.HasSuffix(base, tokenPath) {
		return base
	}
	return base + tokenPath
}

// OAuthSource is the [TokenSource] of a server-to-server grant (JWT bearer
// or client credentials): it caches the token and mints a new one on
// Refresh. Concurrent Refresh calls share one mint.
//
// A permanent failure — the token endpoint rejecting the grant
// (invalid_grant, invalid_client, unsupported_grant_type, any other 4xx
// but 408 and 429) or a private key that cannot sign — is remembered: every
// later Token and Refresh returns it at once, classified
// [sfsync.KindPermanent] with errors.As reaching the *[OAuthError] where
// the endpoint answered, without asking the endpoint again. Repeating a
// rejected grant cannot succeed, and hammering the endpoint with it can get
// the user or app locked out. [OAuthSource.Err] reports the failure (for an
// engine's health); once the cause is fixed on the Salesforce side (the
// user pre-authorized, the app re-enabled), [OAuthSource.Reset] makes the
// next call try again. A wrong secret or key needs a new source.
//
// Transient failures (5xx, 408, 429, network errors) are retryable and not
// remembered: the caller retries (the engine with backoff) and the next
// call asks the endpoint again.
type OAuthSource struct {
	hc       *http.Client
	clock    func() time.Time
	tokenURL string
	form     func() (url.Values, error)

	// mint serialises minting; it is a channel so that waiting honours ctx.
	mint chan struct{}
	once sync.Once

	mu     sync.Mutex
	tok    *Token
	gen    uint64 // incremented by every successful mint and by Reset
	failed error  // the remembered permanent failure
}

func (s *OAuthSource) lock(ctx context.Context) error {
	s.once.Do(func() { s.mint = make(chan struct{}, 1) })
	select {
	case s.mint <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *OAuthSource) unlock() { <-s.mint }

func (s *OAuthSource) cached() (*Token, uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tok, s.gen, s.failed
}

// Token returns the cached token, minting one if there is none. After a
// permanent failure it returns that failure until [OAuthSource.Reset].
func (s *OAuthSource) Token(ctx context.Context) (Token, error) {
	t, _, failed := s.cached()
	if failed != nil {
		return Token{}, failed
	}
	if t != nil {
		return *t, nil
	}
	return s.refresh(ctx, true)
}

// Refresh mints a new token. If another caller minted one while this one
// waited, that token is returned instead of minting again. After a
// permanent failure it returns that failure until [OAuthSource.Reset].
func (s *OAuthSource) Refresh(ctx context.Context) (Token, error) { return s.refresh(ctx, false) }

// Err returns the permanent failure the source remembers, or nil. It is
// meant for health checks: while it is not nil, nothing authenticates
// until the cause is fixed and [OAuthSource.Reset] is called.
func (s *OAuthSource) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failed
}

// Reset forgets the remembered permanent failure and the cached token, so
// that the next Token or Refresh asks the token endpoint again. Call it
// after fixing the cause on the Salesforce side.
func (s *OAuthSource) Reset() {
	s.mu.Lock()
	s.failed, s.tok = nil, nil
	s.gen++
	s.mu.Unlock()
}

func (s *OAuthSource) refresh(ctx context.Context, onlyIfMissing bool) (Token, error) {
	_, gen, failed := s.cached()
	if failed != nil {
		return Token{}, failed
	}
	if err := s.lock(ctx); err != nil {
		return Token{}, err
	}
	defer s.unlock()
	t, g, failed := s.cached()
	if failed != nil {
		// Another caller's mint failed for good while this one waited.
		return Token{}, failed
	}
	if t != nil && (g != gen || onlyIfMissing) {
		return *t, nil
	}
	nt, err := s.fetch(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		if sfsync.IsPermanent(err) && ctx.Err() == nil {
			s.failed = remembered(err)
			// The token that was rejected (the reason for this refresh)
			// is not handed out again.
			s.tok = nil
			return Token{}, s.failed
		}
		return Token{}, err
	}
	s.tok = &nt
	s.gen++
	return nt, nil
}

// remembered wraps a permanent failure for the calls that get it without
// asking the token endpoint, keeping its kind and code.
func remembered(err error) error {
	var code string
	var se *sfsync.Error
	if errors.As(err, &se) {
		// Unwrapped so the kind and code are printed once.
		code, err = se.Code, se.Err
	}
	return &sfsync.Error{Kind: sfsync.KindPermanent, Code: code,
		Err: fmt.Errorf("salesforce: oauth: token source failed permanently, not retried until Reset or a new source: %w", err)}
}

type tokenResponse struct {
	AccessToken string `json:"access_token"`
	InstanceURL string `json:"instance_url"`
	ID          string `json:"id"`
	IssuedAt    string `json:"issued_at"`
	TokenType   string `json:"token_type"`
}

// maxAuthBody bounds the token and userinfo responses read.
const maxAuthBody = 1 << 20

func (s *OAuthSource) httpClient() *http.Client {
	if s.hc != nil {
		return s.hc
	}
	return http.DefaultClient
}

func (s *OAuthSource) fetch(ctx context.Context) (Token, error) {
	form, err := s.form()
	if err != nil {
		return Token{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return Token{}, sfsync.Permanent(fmt.Errorf("salesforce: oauth token request: %w", err))
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := s.httpClient().Do(req)
	if err != nil {
		return Token{}, transportError(ctx, "oauth token request", err)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAuthBody))
	resp.Body.Close()
	if err != nil {
		return Token{}, transportError(ctx, "oauth token response", err)
	}
	if resp.StatusCode != http.StatusOK {
		return Token{}, oauthError(resp.StatusCode, body)
	}
	if err := jsonTooDeep("oauth token response", body); err != nil {
		return Token{}, sfsync.Classify(sfsync.KindAuth, err)
	}
	var tr tokenResponse
	if err := json.Unmarshal(body, &tr); err != nil || tr.AccessToken == "" || tr.InstanceURL == "" {
		return Token{}, sfsync.Classify(sfsync.KindAuth, errors.New("salesforce: oauth token response lacks access_token or instance_url"))
	}
	t := Token{AccessToken: tr.AccessToken, InstanceURL: strings.TrimRight(tr.InstanceURL, "/"), IssuedAt: s.clock()}
	if ms, err := strconv.ParseInt(tr.IssuedAt, 10, 64); err == nil && ms > 0 {
		t.IssuedAt = time.UnixMilli(ms)
	}
	t.OrgID, t.UserID = ParseIdentityURL(tr.ID)
	if t.OrgID == "" || t.UserID == "" {
		if err := s.userinfo(ctx, &t); err != nil {
			return Token{}, err
		}
	}
	return t, nil
}

// userinfo fills the org and user ids from /services/oauth2/userinfo.
func (s *OAuthSource) userinfo(ctx context.Context, t *Token) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.InstanceURL+"/services/oauth2/userinfo", nil)
	if err != nil {
		return sfsync.Permanent(fmt.Errorf("salesforce: userinfo request: %w", err))
	}
	req.Header.Set("Authorization", "Bearer "+t.AccessToken)
	req.Header.Set("Accept", "application/json")
	resp, err := s.httpClient().Do(req)
	if err != nil {
		return transportError(ctx, "userinfo request", err)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAuthBody))
	resp.Body.Close()
	if err != nil {
		return transportError(ctx, "userinfo response", err)
	}
	if resp.StatusCode != http.StatusOK {
		return oauthError(resp.StatusCode, body)
	}
	if err := jsonTooDeep("userinfo response", body); err != nil {
		return sfsync.Classify(sfsync.KindAuth, err)
	}
	var ui struct {
		OrganizationID string `json:"organization_id"`
		UserID         string `json:"user_id"`
	}
	if err := json.Unmarshal(body, &ui); err != nil || ui.OrganizationID == "" {
		return sfsync.Classify(sfsync.KindAuth, errors.New("salesforce: userinfo response lacks organization_id"))
	}
	t.OrgID, t.UserID = ui.OrganizationID, ui.UserID
	return nil
}

// ParseIdentityURL returns the org id and user id of an identity URL
// (https://login.salesforce.com/id/<orgId>/<userId>): its last two path
// segments. Both are empty when the URL does not have that shape.
func ParseIdentityURL(id string) (orgID, userID string) {
	u, err := url.Parse(id)
	if err != nil || id == "" {
		return "", ""
	}
	segs := strings.Split(strings.Trim(u.Path, "/"), "/")
	if len(segs) < 3 || segs[len(segs)-3] != "id" {
		return "", ""
	}
	orgID, userID = segs[len(segs)-2], segs[len(segs)-1]
	if orgID == "" || userID == "" {
		return "", ""
	}
	return orgID, userID
}

// oauthError classifies a failed token or userinfo response: 5xx, 408 and
// 429 are transient; every other status is a verdict on the grant or its
// configuration (invalid_grant, invalid_client, unsupported_grant_type,
// ...) that repeating the request cannot change, so it is permanent. The
// message carries the error and error_description of the body, never the
// request.
func oauthError(status int, body []byte) error {
	var oe struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	// A body nesting too deep is left to parseAPIError, which says so.
	if jsonTooDeep("oauth error", body) == nil {
		_ = json.Unmarshal(body, &oe)
	}
	kind := sfsync.KindPermanent
	if transientStatus(status) {
		kind = sfsync.KindRetryable
	}
	var msg string
	switch {
	case oe.Error != "" && oe.Description != "":
		msg = oe.Error + ": " + oe.Description
	case oe.Error != "":
		msg = oe.Error
	default:
		ae := parseAPIError(status, body)
		msg = strings.TrimPrefix(ae.Error(), "salesforce: ")
	}
	return &sfsync.Error{Kind: kind, Code: oe.Error, Err: &OAuthError{Status: status, Code: oe.Error, Description: cmpOr(oe.Description, msg)}}
}

// OAuthError is a failed OAuth token or userinfo response, such as
// invalid_grant.
type OAuthError struct {
	Status      int
	Code        string // error, such as "invalid_grant"
	Description string // error_description
}

func (e *OAuthError) Error() string {
	if e.Code != "" {
		return fmt.Sprintf("salesforce: oauth: HTTP %d %s: %s", e.Status, e.Code, e.Description)
	}
	return fmt.Sprintf("salesforce: oauth: HTTP %d: %s", e.Status, e.Description)
}

// Is matches [ErrSessionInvalid] for rejected grants, not for the
// transient answers (5xx, 408, 429).
func (e *OAuthError) Is(target error) bool {
	return target == ErrSessionInvalid && !transientStatus(e.Status)
}

// transientStatus reports whether a token endpoint status may clear by
// itself.
func transientStatus(status int) bool {
	return status >= 500 || status == http.StatusTooManyRequests || status == http.StatusRequestTimeout
}

// PubSubTokens adapts ts to the token source of package pubsub; the tenant
// id is the org id.
func PubSubTokens(ts TokenSource) interface {
	pubsub.TokenSource
	pubsub.Refresher
} {
	return pubsubTokens{ts}
}

type pubsubTokens struct{ ts TokenSource }

func (p pubsubTokens) Token(ctx context.Context) (pubsub.Credentials, error) {
	t, err := p.ts.Token(ctx)
	return credentials(t), err
}

func (p pubsubTokens) Refresh(ctx context.Context) (pubsub.Credentials, error) {
	t, err := p.ts.Refresh(ctx)
	return credentials(t), err
}

func credentials(t Token) pubsub.Credentials {
	return pubsub.Credentials{AccessToken: t.AccessToken, InstanceURL: t.InstanceURL, TenantID: t.OrgID}
}
