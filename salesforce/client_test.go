package salesforce

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/throttle"
)

const (
	testToken = "00Dtest!SECRET-ACCESS-TOKEN"
	testOrg   = "00D000000000001AAA"
	testUser  = "005000000000001AAA"
	dataPath  = "/services/data/v62.0"
)

// fakeOrg is an httptest server that answers like the REST API: it checks
// the bearer token and sets Sforce-Limit-Info on every response.
type fakeOrg struct {
	t     *testing.T
	srv   *httptest.Server
	calls atomic.Int64
	max   int
	// handle answers the request after the common checks.
	handle http.HandlerFunc
	mu     sync.Mutex
	reqs   []recorded
}

type recorded struct {
	Method, Path, RawQuery, EscapedPath string
	Header                              http.Header
	Body                                []byte
}

func newFake(t *testing.T, h http.HandlerFunc) *fakeOrg {
	t.Helper()
	f := &fakeOrg{t: t, max: 5000, handle: h}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeOrg) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	f.mu.Lock()
	f.reqs = append(f.reqs, recorded{r.Method, r.URL.Path, r.URL.RawQuery, r.URL.EscapedPath(), r.Header.Clone(), body})
	f.mu.Unlock()
	n := f.calls.Add(1)
	w.Header().Set("Sforce-Limit-Info", fmt.Sprintf("api-usage=%d/%d; api-bursts=1/750", n, f.max))
	if r.Header.Get("Authorization") != "Bearer "+testToken {
		writeErr(w, http.StatusUnauthorized, "INVALID_SESSION_ID", "Session expired or invalid")
		return
	}
	f.handle(w, r)
}

func (f *fakeOrg) requests() []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]recorded(nil), f.reqs...)
}

func (f *fakeOrg) last() recorded {
	r := f.requests()
	if len(r) == 0 {
		f.t.Fatal("no request made")
	}
	return r[len(r)-1]
}

func (f *fakeOrg) token() Token {
	return Token{AccessToken: testToken, InstanceURL: f.srv.URL, OrgID: testOrg, UserID: testUser}
}

func (f *fakeOrg) client(opts ...Option) *Client {
	return New(StaticToken(f.token()), opts...)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, status int, code, msg string, fields ...string) {
	if fields == nil {
		fields = []string{}
	}
	writeJSON(w, status, []map[string]any{{"message": msg, "errorCode": code, "fields": fields}})
}

func TestRequestHeadersAndPath(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusCreated, map[string]any{"id": "001A", "success": true, "errors": []any{}})
	})
	c := f.client(WithClientID("erp-sync"), WithAPIVersion("v60.0"))
	if c.ClientID() != "erp-sync" || c.APIVersion() != "60.0" {
		t.Fatalf("ClientID %q APIVersion %q", c.ClientID(), c.APIVersion())
	}
	if _, err := c.Create(context.Background(), "Account", map[string]any{"Name": "<Acme & Co>"}); err != nil {
		t.Fatal(err)
	}
	r := f.last()
	if r.Method != http.MethodPost || r.Path != "/services/data/v60.0/sobjects/Account" {
		t.Errorf("request %s %s", r.Method, r.Path)
	}
	for k, want := range map[string]string{
		"Authorization":       "Bearer " + testToken,
		"Sforce-Call-Options": "client=erp-sync",
		"Content-Type":        "application/json",
		"Accept":              "application/json",
	} {
		if got := r.Header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if string(r.Body) != `{"Name":"<Acme & Co>"}` {
		t.Errorf("body %s", r.Body)
	}
	if New(StaticToken(f.token())).ClientID() != "sfsync" {
		t.Error("default client id is not sfsync")
	}
}

func TestUsageFeedsLimiter(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"Id": "001A"})
	})
	lim := throttle.New(throttle.WithRate(rate.Inf, 1))
	defer lim.Close()
	c := f.client(WithLimiter(lim))
	if u, m := c.Usage(); u != 0 || m != 0 {
		t.Fatalf("usage before any call %d/%d", u, m)
	}
	for range 3 {
		if _, err := c.Get(context.Background(), "Account", "001A"); err != nil {
			t.Fatal(err)
		}
	}
	if u, m := c.Usage(); u != 3 || m != 5000 {
		t.Errorf("Usage = %d/%d, want 3/5000", u, m)
	}
	if h := lim.Headroom(); h.Used != 3 || h.Max != 5000 || h.InUse != 0 {
		t.Errorf("limiter headroom %+v", h)
	}
}

func TestDailyLimitExceeded(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/limits") {
			writeJSON(w, http.StatusOK, map[string]any{"DailyApiRequests": map[string]int{"Max": 5000, "Remaining": 4000}})
			return
		}
		writeErr(w, http.StatusForbidden, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
	})
	lim := throttle.New(throttle.WithRate(rate.Inf, 1))
	defer lim.Close()
	c := f.client(WithLimiter(lim))
	err := c.Update(context.Background(), "Account", "001A", map[string]any{"Name": "x"})
	if !errors.Is(err, ErrDailyLimitExceeded) || sfsync.KindOf(err) != sfsync.KindRateLimited {
		t.Fatalf("err = %v (kind %v)", err, sfsync.KindOf(err))
	}
	if !lim.Headroom().Paused {
		t.Error("limiter not paused after TotalRequests REQUEST_LIMIT_EXCEEDED")
	}
	// The probe must not wait for the paused limiter.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	used, max, err := c.LimitsProbe()(ctx)
	if err != nil || used != 1000 || max != 5000 {
		t.Fatalf("probe = %d/%d, %v", used, max, err)
	}
}

func TestConcurrentRequestsLimit(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		writeErr(w, http.StatusForbidden, "REQUEST_LIMIT_EXCEEDED", "ConcurrentRequests (Concurrent API Requests) Limit exceeded.")
	})
	lim := throttle.New(throttle.WithRate(rate.Inf, 1), throttle.WithConcurrency(8))
	defer lim.Close()
	c := f.client(WithLimiter(lim))
	err := c.Delete(context.Background(), "Account", "001A")
	if sfsync.KindOf(err) != sfsync.KindRetryable || errors.Is(err, ErrDailyLimitExceeded) {
		t.Fatalf("err = %v (kind %v)", err, sfsync.KindOf(err))
	}
	if h := lim.Headroom(); h.Concurrency != 4 || h.Paused {
		t.Errorf("headroom after concurrency limit: %+v", h)
	}
}

func TestPriorityFromContext(t *testing.T) {
	if p := priorityOf(context.Background()); p != throttle.PriorityHigh {
		t.Errorf("default priority %v", p)
	}
	if p := priorityOf(WithPriority(context.Background(), throttle.PriorityLow)); p != throttle.PriorityLow {
		t.Errorf("priority %v", p)
	}
	// Low-priority work stops at the reserve; high-priority work passes.
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, map[string]any{}) })
	f.max = 10
	lim := throttle.New(throttle.WithRate(rate.Inf, 1), throttle.WithReserve(0.5))
	defer lim.Close()
	lim.ObserveUsage(9, 10)
	c := f.client(WithLimiter(lim))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Get(WithPriority(ctx, throttle.PriorityLow), "Account", "001A"); !errors.Is(err, context.Canceled) {
		t.Errorf("low priority inside the reserve: %v", err)
	}
	if f.calls.Load() != 0 {
		t.Error("low-priority call was made inside the reserve")
	}
}

// countingTokens serves "stale" first and testToken after a refresh.
type countingTokens struct {
	mu        sync.Mutex
	instance  string
	current   string
	refreshes int
	fresh     string
}

func (c *countingTokens) Token(context.Context) (Token, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return Token{AccessToken: c.current, InstanceURL: c.instance, OrgID: testOrg}, nil
}

func (c *countingTokens) Refresh(context.Context) (Token, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.refreshes++
	c.current = c.fresh
	return Token{AccessToken: c.current, InstanceURL: c.instance, OrgID: testOrg}, nil
}

func TestInvalidSessionRefreshesOnce(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"Id": "001A", "Name": "Acme"})
	})
	ts := &countingTokens{instance: f.srv.URL, current: "stale-token", fresh: testToken}
	c := New(ts)
	rec, err := c.Get(context.Background(), "Account", "001A")
	if err != nil || rec["Name"] != "Acme" {
		t.Fatalf("Get = %v, %v", rec, err)
	}
	if ts.refreshes != 1 || f.calls.Load() != 2 {
		t.Errorf("refreshes %d, calls %d; want 1, 2", ts.refreshes, f.calls.Load())
	}
	// A second call uses the refreshed token directly.
	if _, err := c.Get(context.Background(), "Account", "001A"); err != nil {
		t.Fatal(err)
	}
	if ts.refreshes != 1 || f.calls.Load() != 3 {
		t.Errorf("refreshes %d, calls %d; want 1, 3", ts.refreshes, f.calls.Load())
	}
}

func TestInvalidSessionPersistsRefreshesOnlyOnce(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) { t.Error("request got through") })
	ts := &countingTokens{instance: f.srv.URL, current: "stale-token", fresh: "still-bad-token"}
	c := New(ts)
	err := c.Update(context.Background(), "Account", "001A", map[string]any{"Name": "x"})
	if sfsync.KindOf(err) != sfsync.KindAuth || !errors.Is(err, ErrSessionInvalid) {
		t.Fatalf("err = %v (kind %v)", err, sfsync.KindOf(err))
	}
	if ts.refreshes != 1 || f.calls.Load() != 2 {
		t.Errorf("refreshes %d, calls %d; want 1, 2", ts.refreshes, f.calls.Load())
	}
	// The request body was sent again on the retry.
	for _, r := range f.requests() {
		if string(r.Body) != `{"Name":"x"}` {
			t.Errorf("body %q", r.Body)
		}
	}
}

func TestSessionNotValidForRESTIsNotRefreshed(t *testing.T) {
	f := newFake(t, nil)
	f.handle = func(w http.ResponseWriter, r *http.Request) {
		writeErr(w, http.StatusUnauthorized, "INVALID_SESSION_ID", "This session is not valid for use with the REST API")
	}
	ts := &countingTokens{instance: f.srv.URL, current: testToken, fresh: testToken}
	_, err := New(ts).Get(context.Background(), "Account", "001A")
	if sfsync.KindOf(err) != sfsync.KindAuth {
		t.Fatalf("err = %v", err)
	}
	if ts.refreshes != 0 || f.calls.Load() != 1 {
		t.Errorf("refreshes %d, calls %d; want 0, 1", ts.refreshes, f.calls.Load())
	}
}

func TestRefreshFailure(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {})
	bad := errors.New("mint failed")
	c := New(failingRefresh{Token{AccessToken: "stale", InstanceURL: f.srv.URL}, sfsync.Classify(sfsync.KindAuth, bad)})
	_, err := c.Get(context.Background(), "Account", "001A")
	if !errors.Is(err, bad) || sfsync.KindOf(err) != sfsync.KindAuth {
		t.Fatalf("err = %v", err)
	}
}

type failingRefresh struct {
	tok Token
	err error
}

func (f failingRefresh) Token(context.Context) (Token, error)   { return f.tok, nil }
func (f failingRefresh) Refresh(context.Context) (Token, error) { return Token{}, f.err }

func TestNetworkErrorIsRetryable(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {})
	c := f.client()
	f.srv.Close()
	_, err := c.Get(context.Background(), "Account", "001A")
	if err == nil || sfsync.KindOf(err) != sfsync.KindRetryable {
		t.Fatalf("err = %v (kind %v)", err, sfsync.KindOf(err))
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = c.Get(ctx, "Account", "001A")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled: %v", err)
	}
}

func TestTokensNeverInErrorsOrLogs(t *testing.T) {
	var logs bytes.Buffer
	lg := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet:
			writeErr(w, http.StatusNotFound, "NOT_FOUND", "The requested resource does not exist")
		case http.MethodDelete:
			w.WriteHeader(http.StatusBadGateway)
			_, _ = io.WriteString(w, "<html><body>Bad Gateway</body></html>")
		default:
			writeErr(w, http.StatusForbidden, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
		}
	})
	ts := &countingTokens{instance: f.srv.URL, current: "stale-SECRET-token", fresh: testToken}
	c := New(ts, WithLogger(lg))
	var errs []error
	_, err := c.Get(context.Background(), "Account", "001A")
	errs = append(errs, err)
	errs = append(errs, c.Delete(context.Background(), "Account", "001A"))
	errs = append(errs, c.Update(context.Background(), "Account", "001A", map[string]any{"A": 1}))
	bad := New(StaticToken(Token{AccessToken: "another-SECRET", InstanceURL: f.srv.URL}), WithLogger(lg))
	_, err = bad.Get(context.Background(), "Account", "001A")
	errs = append(errs, err)
	tok := f.token()
	lg.Info("token", "tok", tok)
	for _, s := range []string{fmt.Sprint(tok), fmt.Sprintf("%+v", tok), fmt.Sprintf("%#v", tok), logs.String()} {
		if strings.Contains(s, "SECRET") {
			t.Errorf("token leaked: %s", s)
		}
	}
	for _, err := range errs {
		if err == nil {
			t.Fatal("expected an error")
		}
		if strings.Contains(err.Error(), "SECRET") || strings.Contains(fmt.Sprintf("%+v", err), "SECRET") {
			t.Errorf("token in error: %v", err)
		}
	}
	if !strings.Contains(logs.String(), "salesforce request") {
		t.Errorf("no request logged: %s", logs.String())
	}
}

func TestHTTPClientAndBadBodies(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			writeJSON(w, http.StatusCreated, map[string]any{"id": nil, "success": false, "errors": []any{
				map[string]any{"statusCode": "FIELD_INTEGRITY_EXCEPTION", "message": "bad", "fields": []any{"A"}}}})
			return
		}
		w.Header().Set("Content-Type", "text/html")
		_, _ = io.WriteString(w, "<html>login</html>")
	})
	var used atomic.Bool
	hc := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		used.Store(true)
		return http.DefaultTransport.RoundTrip(r)
	})}
	c := f.client(WithHTTPClient(hc))
	_, err := c.Get(context.Background(), "Account", "001A")
	if sfsync.KindOf(err) != sfsync.KindRetryable || !used.Load() {
		t.Errorf("HTML 200: %v (custom client used: %v)", err, used.Load())
	}
	_, err = c.Create(context.Background(), "Account", map[string]any{"A": 1})
	if sfsync.KindOf(err) != sfsync.KindPermanent || !strings.Contains(err.Error(), "FIELD_INTEGRITY_EXCEPTION") {
		t.Errorf("create failure: %v", err)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
