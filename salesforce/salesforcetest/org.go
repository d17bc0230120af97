package salesforcetest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"github.com/sfsync/sfsync/pubsub/pubsubtest"
)

// Defaults of the options and fixed identities of the org.
const (
	DefaultOrgID            = "00D000000000001AAA"
	DefaultDailyLimit       = 15000
	DefaultConcurrencyLimit = 25
	DefaultQueryPageSize    = 2000

	integrationUserID = "005000000000001AAA"
	uiUserID          = "005000000000002AAA"
	// IntegrationUsername is the username of the integration user; JWT
	// bearer assertions for any registered username run as that user.
	IntegrationUsername = "integration@sfsync.test"
	// UIOrigin is the changeOrigin of edits made with the *AsUser methods.
	UIOrigin = "com/salesforce/api/soap/62.0;client=SfdcInternalAPI/"
)

type config struct {
	now         func() time.Time
	daily       int
	concurrency int
	orgID       string
	pageSize    int

	bulkDuration time.Duration
	bulkPageCap  int
	plaintext    bool

	seed   uint64
	seeded bool
	pubsub []pubsubtest.Option
}

// Option configures an Org.
type Option func(*config)

// WithClock sets the clock that drives SystemModstamp, LastModifiedDate, CDC
// commitTimestamp, JWT expiry checks and Pub/Sub retention (default time.Now).
func WithClock(now func() time.Time) Option { return func(c *config) { c.now = now } }

// WithDailyLimit sets the DailyApiRequests maximum (default 15000).
func WithDailyLimit(n int) Option { return func(c *config) { c.daily = n } }

// WithConcurrencyLimit sets how many /services/data requests may be in
// flight at once (default 25); more get 403 REQUEST_LIMIT_EXCEEDED.
func WithConcurrencyLimit(n int) Option { return func(c *config) { c.concurrency = n } }

// WithOrgID sets the 18-character org id (default 00D000000000001AAA).
func WithOrgID(id string) Option { return func(c *config) { c.orgID = id } }

// WithQueryPageSize caps the records per query page (default 2000), so tests
// can exercise nextRecordsUrl pagination with few records. The
// Sforce-Query-Options batchSize header (clamped to 200..2000) can only
// lower it.
func WithQueryPageSize(n int) Option { return func(c *config) { c.pageSize = n } }

// Fault makes the next Times matching requests (Times <= 0 means once) fail.
type Fault struct {
	// Method matches the HTTP method ("" matches any).
	Method string
	// PathContains matches a substring of the request URI (path and query).
	PathContains string
	// Status is the HTTP status of the failure (400 when zero and Code is
	// set). Zero without Code, with Block set, only delays the request.
	Status int
	// Code is the errorCode of the JSON error array body (on the OAuth
	// endpoints: the "error" of an OAuth error body). When empty the body is
	// an HTML page (as from the Salesforce edge), and the request neither
	// counts against the daily limit nor carries Sforce-Limit-Info.
	Code string
	// Message is the error message (a default per Code when empty).
	Message string
	// Times is how many requests fail (<= 0 means 1).
	Times int
	// RecordID, when set, makes the fault hit DML on that record only: a
	// row request fails with Status (400 when zero), a collections request
	// reports the error for that record in its per-record result.
	RecordID string
	// Block, when set, holds matching requests (after they are counted as
	// in flight) until it is closed.
	Block <-chan struct{}
}

type jwtKey struct {
	pub      *rsa.PublicKey
	username string
}

type rule func(fields map[string]any) (message string, field string, ok bool)

// Org is an in-process fake Salesforce org: REST API, OAuth token endpoint
// and a Pub/Sub API server fed with the change events of every write.
type Org struct {
	cfg  config
	srv  *httptest.Server
	ps   *pubsubtest.Server
	mu   sync.Mutex
	cond *sync.Cond // signalled when inflight changes

	tokens       map[string]string // access token -> user id
	current      string
	clientID     string
	clientSecret string
	jwtKeys      map[string]jwtKey

	used, max int
	inflight  int
	faults    []*Fault

	rules    map[string][]rule
	objects  map[string]*objectDef // by lower-case name
	records  map[string]*record    // by 18-char id
	nextID   int64
	commitNo int64
	writes   int
	created  time.Time
	purged   time.Time // earliestDateAvailable of the delete log

	locators map[string]*locator
	locOrder []string

	bulkJobs     map[string]*bulkJob
	bulkOrder    []string // ids of every job created, oldest first
	bulkCreated  int
	bulkHold     bool
	bulkFailNext []string
	bulkBreak    []int
}

// NewOrg starts a fake org with Account, Contact and Employee__c, serving
// REST on https:// and Pub/Sub over TLS, each with a certificate of its
// own that Client, ClientTLSConfig and CertPool trust ([WithPlaintext]
// serves neither over TLS).
func NewOrg(opts ...Option) *Org {
	cfg := config{now: time.Now, daily: DefaultDailyLimit, concurrency: DefaultConcurrencyLimit,
		orgID: DefaultOrgID, pageSize: DefaultQueryPageSize}
	for _, opt := range opts {
		opt(&cfg)
	}
	o := &Org{
		cfg:          cfg,
		tokens:       map[string]string{},
		clientID:     "3MVG9fake" + randHex(16),
		clientSecret: strings.ToUpper(randHex(32)),
		jwtKeys:      map[string]jwtKey{},
		max:          cfg.daily,
		rules:        map[string][]rule{},
		objects:      map[string]*objectDef{},
		records:      map[string]*record{},
		commitNo:     1652977933433528300,
		locators:     map[string]*locator{},
		bulkJobs:     map[string]*bulkJob{},
	}
	o.cond = sync.NewCond(&o.mu)
	o.created = o.now()
	o.purged = o.created.Truncate(time.Minute)
	o.srv = httptest.NewUnstartedServer(o)
	psOpts := []pubsubtest.Option{pubsubtest.WithClock(cfg.now)}
	if cfg.plaintext {
		o.srv.Start()
		psOpts = append(psOpts, pubsubtest.WithPlaintext())
	} else {
		// httptest's own certificate is the same for every server; a
		// certificate per org means trusting one org trusts no other.
		cert, err := pubsubtest.SelfSigned("salesforcetest")
		if err != nil {
			panic(err)
		}
		o.srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		o.srv.StartTLS()
	}
	o.current = o.mintLocked(integrationUserID)
	psOpts = append(psOpts, cfg.pubsub...)
	o.ps = pubsubtest.NewServer(append(psOpts,
		pubsubtest.WithTenant(cfg.orgID, o.srv.URL),
		pubsubtest.WithTokens(o.current),
	)...)
	if err := o.setupObjects(); err != nil {
		o.Close()
		panic(err)
	}
	return o
}

// Close stops the HTTP and Pub/Sub servers.
func (o *Org) Close() {
	o.srv.Close()
	o.ps.Close()
}

// URL returns the instance URL (https:// unless [WithPlaintext]); the
// OAuth endpoints are served there too.
func (o *Org) URL() string { return o.srv.URL }

// Client returns an *http.Client that trusts the org's REST certificate
// (as httptest.Server.Client does).
func (o *Org) Client() *http.Client { return o.srv.Client() }

// OrgID returns the 18-character org id. Wherever the org compares org ids
// (the Pub/Sub tenantid) the 15-character form is accepted too.
func (o *Org) OrgID() string { return o.cfg.orgID }

// IntegrationUserID is the user that API tokens act as.
func (o *Org) IntegrationUserID() string { return integrationUserID }

// UIUserID is the user of Insert, EditAsUser and DeleteAsUser.
func (o *Org) UIUserID() string { return uiUserID }

// PubSub returns the Pub/Sub API fake that carries the org's change events.
// Its tenant is (OrgID(), URL()) and it accepts the org's current tokens.
func (o *Org) PubSub() *pubsubtest.Server { return o.ps }

// AccessToken returns a valid access token for the integration user.
func (o *Org) AccessToken() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.current
}

// ExpireTokens invalidates every token issued so far (REST answers 401
// INVALID_SESSION_ID, Pub/Sub UNAUTHENTICATED) and issues a fresh one for
// AccessToken.
func (o *Org) ExpireTokens() {
	o.mu.Lock()
	o.tokens = map[string]string{}
	o.current = o.mintLocked(integrationUserID)
	o.mu.Unlock()
}

// ClientCredentials returns the consumer key and secret accepted by the
// client_credentials grant (which runs as the integration user).
func (o *Org) ClientCredentials() (clientID, secret string) { return o.clientID, o.clientSecret }

// RegisterJWTKey makes the JWT bearer grant accept RS256 assertions signed
// with pub's private key, iss = consumerKey and sub = username. The token
// acts as the integration user.
func (o *Org) RegisterJWTKey(consumerKey string, pub *rsa.PublicKey, username string) {
	o.mu.Lock()
	o.jwtKeys[consumerKey] = jwtKey{pub: pub, username: username}
	o.mu.Unlock()
}

// mintLocked issues a token for user and syncs the Pub/Sub token set.
func (o *Org) mintLocked(user string) string {
	tok := o.cfg.orgID[:min(15, len(o.cfg.orgID))] + "!AQ" + randHex(40)
	o.tokens[tok] = user
	if o.ps != nil {
		all := make([]string, 0, len(o.tokens))
		for t := range o.tokens {
			all = append(all, t)
		}
		o.ps.SetTokens(all...)
	}
	return tok
}

// APIUsage returns the daily API requests used and the maximum.
func (o *Org) APIUsage() (used, max int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.used, o.max
}

// SetDailyLimit changes the daily maximum.
func (o *Org) SetDailyLimit(n int) {
	o.mu.Lock()
	o.max = n
	o.mu.Unlock()
}

// ResetUsage sets the daily usage counter to zero.
func (o *Org) ResetUsage() {
	o.mu.Lock()
	o.used = 0
	o.mu.Unlock()
}

// InFlight returns how many /services/data requests are being served.
func (o *Org) InFlight() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.inflight
}

// WaitInFlight blocks until at least n /services/data requests are in
// flight (for example held by a Fault with Block).
func (o *Org) WaitInFlight(n int) {
	o.mu.Lock()
	for o.inflight < n {
		o.cond.Wait()
	}
	o.mu.Unlock()
}

// InjectFault queues a fault; faults are matched in the order injected.
func (o *Org) InjectFault(f Fault) {
	if f.Times <= 0 {
		f.Times = 1
	}
	if f.Status == 0 && f.Code != "" && f.RecordID == "" {
		f.Status = http.StatusBadRequest
	}
	o.mu.Lock()
	o.faults = append(o.faults, &f)
	o.mu.Unlock()
}

// ClearFaults drops every pending fault.
func (o *Org) ClearFaults() {
	o.mu.Lock()
	o.faults = nil
	o.mu.Unlock()
}

// takeFaultLocked consumes and returns the first request-level fault
// matching r whose HTML-ness is html.
func (o *Org) takeFaultLocked(r *http.Request, html bool) *Fault {
	for i, f := range o.faults {
		if f.RecordID != "" || (f.Code == "" && f.Status != 0) != html {
			continue
		}
		if f.Method != "" && !strings.EqualFold(f.Method, r.Method) {
			continue
		}
		if !strings.Contains(r.URL.RequestURI(), f.PathContains) {
			continue
		}
		cp := *f
		f.Times--
		if f.Times <= 0 {
			o.faults = append(o.faults[:i], o.faults[i+1:]...)
		}
		return &cp
	}
	return nil
}

// takeRecordFaultLocked consumes a fault aimed at DML on id.
func (o *Org) takeRecordFaultLocked(id string) *dmlError {
	for i, f := range o.faults {
		if f.RecordID == "" || f.RecordID != id {
			continue
		}
		f.Times--
		if f.Times <= 0 {
			o.faults = append(o.faults[:i], o.faults[i+1:]...)
		}
		status := f.Status
		if status == 0 {
			status = http.StatusBadRequest
		}
		code := f.Code
		if code == "" {
			code = "UNABLE_TO_LOCK_ROW"
		}
		return &dmlError{Status: status, Code: code, Message: faultMessage(code, f.Message, id), injected: true}
	}
	return nil
}

func faultMessage(code, msg, id string) string {
	if msg != "" {
		return msg
	}
	switch code {
	case "UNABLE_TO_LOCK_ROW":
		if id == "" {
			return "unable to obtain exclusive access to this record"
		}
		return "unable to obtain exclusive access to this record or 1 records: " + id
	case "SERVER_UNAVAILABLE":
		return "Server is temporarily unavailable. Please try again later."
	case "REQUEST_LIMIT_EXCEEDED":
		return "TotalRequests Limit exceeded."
	case "INVALID_SESSION_ID":
		return "Session expired or invalid"
	case "UNKNOWN_EXCEPTION":
		return "An unexpected error occurred. Please include this ErrorId if you contact support: 1234567-89 (-1)"
	}
	return strings.ToLower(strings.ReplaceAll(code, "_", " "))
}

// AddValidationRule adds a rule checked on every write of object (API and
// UI) against the record as it would be after the write (REST view, as
// Record returns it). A rule returning ok == false fails the write with
// FIELD_CUSTOM_VALIDATION_EXCEPTION, message and field. Rules run with the
// org locked and must not call the Org's methods.
func (o *Org) AddValidationRule(object string, r func(fields map[string]any) (message string, field string, ok bool)) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if def := o.objects[strings.ToLower(object)]; def != nil {
		object = def.Name
	}
	o.rules[object] = append(o.rules[object], r)
}

// Writes returns the number of record writes (creates, updates, deletes)
// committed through the API.
func (o *Org) Writes() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.writes
}

// PurgeDeleteLog makes deleted-record information before t unavailable:
// getDeleted's earliestDateAvailable becomes t (truncated to the minute).
func (o *Org) PurgeDeleteLog(t time.Time) {
	o.mu.Lock()
	o.purged = t.UTC().Truncate(time.Minute)
	o.mu.Unlock()
}

// now is the org clock truncated to whole seconds, as Salesforce stores
// datetimes.
func (o *Org) now() time.Time { return o.cfg.now().UTC().Truncate(time.Second) }

func randHex(n int) string {
	b := make([]byte, (n+1)/2)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)[:n]
}

func newTransactionKey() string {
	h := randHex(28)
	return fmt.Sprintf("0000%s-%s-%s-%s-%s", h[0:4], h[4:8], h[8:12], h[12:16], h[16:28])
}
