package salesforce

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/throttle"
)

// DefaultAPIVersion is the REST API version used unless [WithAPIVersion]
// says otherwise.
const DefaultAPIVersion = "62.0"

// DefaultClientID is the client id sent in Sforce-Call-Options unless
// [WithClientID] says otherwise.
const DefaultClientID = "sfsync"

// maxResponseBody bounds a response body read into memory.
const maxResponseBody = 256 << 20

// Client calls the REST API of one org. It is safe for concurrent use.
type Client struct {
	tokens TokenSource
	cfg    config

	mu        sync.Mutex
	used, max int

	describes describeCache
}

type config struct {
	apiVersion string
	clientID   string
	hc         *http.Client
	limiter    *throttle.Limiter
	logger     *slog.Logger
}

// Option configures a [Client].
type Option func(*config)

// WithAPIVersion sets the REST API version, such as "62.0" (the default);
// a leading "v" is accepted.
func WithAPIVersion(v string) Option {
	return func(c *config) {
		if v = strings.TrimPrefix(strings.TrimSpace(v), "v"); v != "" {
			c.apiVersion = v
		}
	}
}

// WithClientID sets the client id sent as Sforce-Call-Options: client=<id>
// with every request (default [DefaultClientID]). Change events caused by
// the client's writes carry it in their changeOrigin, and an engine
// writing through a [Sink] of this client takes it from the sink to
// recognise those events as its own echoes (see sync.WithClientID). Give
// each engine writing to one org an id of its own: an engine skips every
// change made under its id.
func WithClientID(id string) Option {
	return func(c *config) {
		if id != "" {
			c.clientID = id
		}
	}
}

// WithHTTPClient sets the HTTP client. The default is the HTTP client of
// the token source when it is an [OAuthSource] given one (the HTTPClient
// of [JWTConfig] or [ClientCredentialsConfig]), so a custom client (a
// proxy, TLS roots, timeouts) is set once for both OAuth and REST; else
// http.DefaultClient.
func WithHTTPClient(h *http.Client) Option {
	return func(c *config) {
		if h != nil {
			c.hc = h
		}
	}
}

// WithLimiter makes every call acquire a slot of l first, at the priority
// of the call's context ([WithPriority]; high by default), and report the
// org's usage and limit errors to l.
func WithLimiter(l *throttle.Limiter) Option { return func(c *config) { c.limiter = l } }

// WithLogger sets the logger (default slog.Default()). Requests are logged
// at debug level, limit errors at warn level; tokens never are.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) {
		if l != nil {
			c.logger = l
		}
	}
}

type ctxKey int

const (
	priorityKey ctxKey = iota
	bypassLimiterKey
)

// WithPriority returns a context whose calls acquire the client's limiter
// at priority p: [throttle.PriorityLow] for reconciliation and backfill.
func WithPriority(ctx context.Context, p throttle.Priority) context.Context {
	return context.WithValue(ctx, priorityKey, p)
}

func priorityOf(ctx context.Context) throttle.Priority {
	if p, ok := ctx.Value(priorityKey).(throttle.Priority); ok {
		return p
	}
	return throttle.PriorityHigh
}

// Err returns a lasting failure of the client's token source (an OAuth
// grant Salesforce rejected, see [OAuthSource.Err]), or nil. Engines show
// it in their health.
func (c *Client) Err() error {
	if r, ok := c.tokens.(interface{ Err() error }); ok {
		if err := r.Err(); err != nil {
			return fmt.Errorf("salesforce: authentication fails until the cause is fixed: %w", err)
		}
	}
	return nil
}

// New returns a client authenticating with tokens.
func New(tokens TokenSource, opts ...Option) *Client {
	cfg := config{apiVersion: DefaultAPIVersion, clientID: DefaultClientID, hc: http.DefaultClient, logger: slog.Default()}
	if o, ok := tokens.(*OAuthSource); ok && o.hc != nil {
		cfg.hc = o.hc
	}
	for _, o := range opts {
		o(&cfg)
	}
	return &Client{tokens: tokens, cfg: cfg}
}

// ClientID returns the id sent in Sforce-Call-Options.
func (c *Client) ClientID() string { return c.cfg.clientID }

// APIVersion returns the REST API version, such as "62.0".
func (c *Client) APIVersion() string { return c.cfg.apiVersion }

// Usage returns the org's daily API usage as the last Sforce-Limit-Info
// header reported it; both are 0 before any response.
func (c *Client) Usage() (used, max int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.used, c.max
}

func (c *Client) observe(used, max int) {
	c.mu.Lock()
	c.used, c.max = used, max
	c.mu.Unlock()
	if c.cfg.limiter != nil {
		c.cfg.limiter.ObserveUsage(used, max)
	}
}

// request is one REST call.
type request struct {
	method string
	// path is relative to /services/data/vXX.X, or absolute when it starts
	// with /services/ (a nextRecordsUrl).
	path   string
	query  url.Values
	body   any
	header http.Header
	// stream leaves a successful response's body unread in
	// response.stream (the caller closes it), for results too large to
	// hold; error responses are read as usual.
	stream bool
}

type response struct {
	status int
	header http.Header
	body   []byte
	stream io.ReadCloser
}

func (c *Client) fullPath(p string) string {
	if strings.HasPrefix(p, "/services/") {
		return p
	}
	return "/services/data/v" + c.cfg.apiVersion + p
}

// do runs r: limiter, token, one re-authentication on INVALID_SESSION_ID,
// usage bookkeeping and error classification. Responses with status >= 300
// are returned as classified errors.
//
// A streamed response gives its limiter slot back once the headers have
// arrived, not when the caller closes the body: the caller handles the
// records of a results page while it reads them, and a handler that makes
// calls of its own (re-reads) must not wait for the slot of the page that
// feeds it. The request was counted when it was made.
func (c *Client) do(ctx context.Context, r request) (*response, error) {
	var body []byte
	if r.body != nil {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(r.body); err != nil {
			return nil, invalidf("encoding the request body: %v", err)
		}
		body = bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	}
	if l := c.cfg.limiter; l != nil && ctx.Value(bypassLimiterKey) == nil {
		release, err := l.Acquire(ctx, priorityOf(ctx))
		if err != nil {
			return nil, fmt.Errorf("salesforce: %s %s: %w", r.method, r.path, err)
		}
		defer release()
	}
	tok, err := c.tokens.Token(ctx)
	if err != nil {
		return nil, fmt.Errorf("salesforce: getting a token: %w", err)
	}
	for attempt := 0; ; attempt++ {
		resp, err := c.send(ctx, tok, r, body)
		if err != nil {
			return nil, err
		}
		if resp.status < 300 {
			return resp, nil
		}
		ae := parseAPIError(resp.status, resp.body)
		if attempt == 0 && resp.status == http.StatusUnauthorized && ae.Code == "INVALID_SESSION_ID" &&
			!strings.Contains(ae.Message, "not valid for use with the REST API") {
			c.cfg.logger.InfoContext(ctx, "salesforce: session expired; re-authenticating", "method", r.method, "path", r.path)
			tok, err = c.tokens.Refresh(ctx)
			if err != nil {
				return nil, fmt.Errorf("salesforce: re-authenticating after INVALID_SESSION_ID: %w", err)
			}
			continue
		}
		return nil, c.failure(ctx, r, resp, ae)
	}
}

// failure turns an error response into a classified error and tells the
// limiter about limit errors.
func (c *Client) failure(ctx context.Context, r request, resp *response, ae *APIError) error {
	if resp.status == http.StatusMultipleChoices {
		ae.Matches = parseMatches(resp.body)
		ae.Body = ""
		ae.Message = fmt.Sprintf("matched %d records: %s", len(ae.Matches), strings.Join(ae.Matches, ", "))
		if len(ae.Matches) == 0 {
			ae.Message = "matched several records; the response does not list them readably"
		}
	}
	if ae.Code == "REQUEST_LIMIT_EXCEEDED" {
		c.cfg.logger.WarnContext(ctx, "salesforce: request limit exceeded", "method", r.method, "path", r.path, "message", ae.Message)
		if l := c.cfg.limiter; l != nil {
			if isConcurrencyLimit(ae.Message) {
				l.ConcurrencyLimited()
			} else {
				l.LimitExceeded()
			}
		}
	}
	var after time.Duration
	if s, err := strconv.Atoi(resp.header.Get("Retry-After")); err == nil && s > 0 {
		after = time.Duration(s) * time.Second
	}
	return classify(ae, after)
}

// send makes one HTTP request.
func (c *Client) send(ctx context.Context, tok Token, r request, body []byte) (*response, error) {
	u := strings.TrimRight(tok.InstanceURL, "/") + c.fullPath(r.path)
	if len(r.query) > 0 {
		u += "?" + r.query.Encode()
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u, rd)
	if err != nil {
		return nil, invalidf("building the request %s %s: %v", r.method, r.path, err)
	}
	req.Header.Set("Accept", "application/json")
	for k, v := range r.header {
		req.Header[k] = v
	}
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	req.Header.Set("Sforce-Call-Options", "client="+c.cfg.clientID)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	start := time.Now()
	hr, err := c.cfg.hc.Do(req)
	if err != nil {
		return nil, transportError(ctx, r.method+" "+r.path, err)
	}
	if used, max, ok := ParseLimitInfo(hr.Header.Get("Sforce-Limit-Info")); ok {
		c.observe(used, max)
	}
	if r.stream && hr.StatusCode < 300 {
		c.cfg.logger.DebugContext(ctx, "salesforce request", "method", r.method, "path", r.path, "status", hr.StatusCode, "duration", time.Since(start), "streamed", true)
		return &response{status: hr.StatusCode, header: hr.Header, stream: hr.Body}, nil
	}
	defer hr.Body.Close()
	data, err := io.ReadAll(io.LimitReader(hr.Body, maxResponseBody+1))
	if err != nil {
		return nil, transportError(ctx, r.method+" "+r.path+": reading the response", err)
	}
	if len(data) > maxResponseBody {
		return nil, sfsync.Permanent(fmt.Errorf("salesforce: %s %s: response larger than %d bytes", r.method, r.path, maxResponseBody))
	}
	c.cfg.logger.DebugContext(ctx, "salesforce request", "method", r.method, "path", r.path, "status", hr.StatusCode, "duration", time.Since(start))
	return &response{status: hr.StatusCode, header: hr.Header, body: data}, nil
}

// transportError classifies a failed round trip: the context's error when
// it ended, else a retryable network error. *url.Error messages carry the
// URL, which never holds credentials.
func transportError(ctx context.Context, what string, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("salesforce: %s: %w", what, cerr)
	}
	return sfsync.Retryable(fmt.Errorf("salesforce: %s: %w", what, err))
}

// getJSON GETs path and decodes the response into out.
func (c *Client) getJSON(ctx context.Context, path string, query url.Values, out any) error {
	resp, err := c.do(ctx, request{method: http.MethodGet, path: path, query: query})
	if err != nil {
		return err
	}
	return decode(resp, path, out)
}

func decode(resp *response, what string, out any) error {
	if err := checkJSON(what, resp.body); err != nil {
		return err
	}
	if err := json.Unmarshal(resp.body, out); err != nil {
		return sfsync.Retryable(fmt.Errorf("salesforce: %s: decoding the response (HTTP %d): %w", what, resp.status, err))
	}
	return nil
}

// parseMatches extracts record ids from the body of a 300 response: a
// list of record URLs, or of records with an Id or attributes.url. A body
// of another shape, or nesting deeper than maxJSONDepth, gives none.
func parseMatches(body []byte) []string {
	if checkJSON("multiple matches", body) != nil {
		return nil
	}
	var raw []json.RawMessage
	if json.Unmarshal(body, &raw) != nil {
		return nil
	}
	var ids []string
	for _, m := range raw {
		var s string
		if json.Unmarshal(m, &s) == nil {
			ids = append(ids, lastSegment(s))
			continue
		}
		var rec struct {
			ID         string `json:"Id"`
			Attributes struct {
				URL string `json:"url"`
			} `json:"attributes"`
		}
		if json.Unmarshal(m, &rec) == nil {
			if id := cmpOr(rec.ID, lastSegment(rec.Attributes.URL)); id != "" {
				ids = append(ids, id)
			}
		}
	}
	return ids
}

func lastSegment(s string) string {
	s = strings.TrimRight(s, "/")
	return s[strings.LastIndexByte(s, '/')+1:]
}

// sobjectPath returns /sobjects/<object>[/<segment>...], path-escaping
// every part.
func sobjectPath(object string, segs ...string) string {
	var b strings.Builder
	b.WriteString("/sobjects/")
	b.WriteString(escapeSegment(object))
	for _, s := range segs {
		b.WriteByte('/')
		b.WriteString(escapeSegment(s))
	}
	return b.String()
}

// escapeSegment escapes s for one path segment, including '+', which some
// servers decode as a space.
func escapeSegment(s string) string {
	return strings.ReplaceAll(url.PathEscape(s), "+", "%2B")
}

func checkObject(object string) error {
	if object == "" || strings.ContainsAny(object, "/?#") {
		return invalidf("bad object name %q", object)
	}
	return nil
}
