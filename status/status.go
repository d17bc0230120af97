package status

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/pubsub"
	"github.com/sfsync/sfsync/reconcile"
	sfsyncsync "github.com/sfsync/sfsync/sync"
	"github.com/sfsync/sfsync/throttle"
)

// Engine is what the page reads of a sync engine; *sync.Engine is one.
//
// The page shows more of an engine that also has these methods, as
// *sync.Engine does: Lease() (sfsync.Lease, bool), the lease it holds
// (holder and fencing token); Streams() []sync.StreamState, each stream's
// state; OutcomesPerMinute(n int) []sync.MinuteOutcomes, the outcomes it
// counted; Done() <-chan struct{}, closed once Run has returned.
type Engine interface {
	Stats() sfsyncsync.Stats
	Health() error
	Requeue(ctx context.Context, key string) (sfsync.Outcome, error)
}

// leaseReporter is the optional part of [Engine].
type leaseReporter interface {
	Lease() (sfsync.Lease, bool)
}

// State is the engine's durable state the page reads: checkpoints per
// stream, the outcome ledger and the dead letters. The stores in store/...
// are all three; parts held in different stores can be combined in a
// struct that embeds them.
type State interface {
	sfsync.CheckpointStore
	sfsync.Ledger
	sfsync.DeadLetterStore
}

type limiterSource struct {
	tenant string
	l      *throttle.Limiter
}

type subscriptionSource struct {
	topic string
	stats func() pubsub.SubscriptionStats
}

type config struct {
	state         State
	streams       []string
	backfill      []string
	reconciler    func() reconcile.Stats
	limiters      []limiterSource
	tenants       []*throttle.Tenants
	subscriptions []subscriptionSource
	token         string
	refresh       time.Duration
	window        time.Duration
	maxLetters    int
	logger        *slog.Logger
	clock         func() time.Time
}

// Option configures a [Handler].
type Option func(*config)

// WithState gives the page the engine's durable state: without it the page
// shows the engine's counters and health only.
func WithState(s State) Option { return func(c *config) { c.state = s } }

// WithStreams names streams whose checkpoints the page shows even when no
// outcome in the window mentions them (for a Pub/Sub subscription its
// topic; for any source its Stream method). Streams seen in the window's
// outcomes are shown without being named.
func WithStreams(names ...string) Option {
	return func(c *config) { c.streams = append(c.streams, names...) }
}

// WithBackfill names the objects given to sync.WithBackfill, whose backfill
// state (owed and why, or done) the page shows from the checkpoints.
func WithBackfill(objects ...string) Option {
	return func(c *config) { c.backfill = append(c.backfill, objects...) }
}

// WithReconciler shows how far reconciliation and backfill scans have got;
// pass reconciler.Stats.
func WithReconciler(stats func() reconcile.Stats) Option {
	return func(c *config) { c.reconciler = stats }
}

// WithLimiter shows the API usage and throttle state of one org's limiter.
func WithLimiter(tenant string, l *throttle.Limiter) Option {
	return func(c *config) { c.limiters = append(c.limiters, limiterSource{tenant, l}) }
}

// WithTenants shows the API usage and throttle state of every org in t.
func WithTenants(t *throttle.Tenants) Option {
	return func(c *config) { c.tenants = append(c.tenants, t) }
}

// WithSubscription shows a Pub/Sub subscription's events, keepalives and
// reconnects beside its stream; pass sub.Stats.
func WithSubscription(topic string, stats func() pubsub.SubscriptionStats) Option {
	return func(c *config) { c.subscriptions = append(c.subscriptions, subscriptionSource{topic, stats}) }
}

// WithRequeueToken enables requeue: each dead letter's page gets a form
// with a token field and a requeue button, and a requeue is done only when
// the form carries this token (which also keeps other sites from posting
// it). Without it (the default) the page is read-only, because anyone who
// can reach it could otherwise replay writes. The form is on the dead
// letter's page, which does not reload itself, so a token being typed is
// never lost to the main page's refresh.
func WithRequeueToken(token string) Option { return func(c *config) { c.token = token } }

// WithRefresh sets how often the page reloads itself (default 5 s; zero or
// negative turns it off).
func WithRefresh(d time.Duration) Option { return func(c *config) { c.refresh = d } }

// WithWindow sets how far back the outcomes per minute go (default 10
// minutes, at least one).
func WithWindow(d time.Duration) Option { return func(c *config) { c.window = d } }

// WithLogger sets the logger for requeues and store errors (default
// slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// WithClock sets the clock (default time.Now), for tests.
func WithClock(now func() time.Time) Option { return func(c *config) { c.clock = now } }

// Handler serves the status page of one engine:
//
//	GET  /                  the page (HTML, refreshes itself)
//	GET  /status.json       the same data as JSON ([Report])
//	GET  /healthz           liveness: 200 while the engine runs (503 once an engine with Done() has stopped)
//	GET  /readyz            readiness: 200 when Engine.Health is nil, else 503 with the reasons
//	GET  /deadletter?key=K  one dead letter, whole
//	POST /requeue           form key, token: requeue a dead letter (see [WithRequeueToken])
//
// Links are relative, so it can be mounted under a prefix with
// http.StripPrefix.
type Handler struct {
	engine Engine
	cfg    config
	mux    *http.ServeMux
	tmpl   *template.Template
}

// New returns the status page of engine.
func New(engine Engine, opts ...Option) *Handler {
	h := &Handler{engine: engine, cfg: config{
		refresh: 5 * time.Second, window: 10 * time.Minute, maxLetters: 50,
		logger: slog.Default(), clock: time.Now,
	}}
	for _, o := range opts {
		o(&h.cfg)
	}
	h.cfg.window = max(h.cfg.window, time.Minute)
	h.tmpl = parseTemplates()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", h.page)
	mux.HandleFunc("GET /status.json", h.json)
	mux.HandleFunc("GET /healthz", h.healthz)
	mux.HandleFunc("GET /readyz", h.readyz)
	mux.HandleFunc("GET /deadletter", h.deadLetter)
	mux.HandleFunc("POST /requeue", h.requeue)
	h.mux = mux
	return h
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

func (h *Handler) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	// An engine whose Run has returned is not coming back: the process
	// should be restarted.
	if d, ok := h.engine.(interface{ Done() <-chan struct{} }); ok {
		select {
		case <-d.Done():
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, "engine stopped\n")
			return
		default:
		}
	}
	io.WriteString(w, "ok\n")
}

func (h *Handler) readyz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if err := h.engine.Health(); err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, "not ready: %v\n", err)
		return
	}
	io.WriteString(w, "ready\n")
}

func (h *Handler) deadLetter(w http.ResponseWriter, r *http.Request) {
	key := r.URL.Query().Get("key")
	if h.cfg.state == nil || key == "" {
		http.NotFound(w, r)
		return
	}
	d, err := h.cfg.state.DeadLetter(r.Context(), key)
	if errors.Is(err, sfsync.ErrNotFound) {
		h.render(w, http.StatusNotFound, "letter", letterPage{Key: key, Missing: true})
		return
	}
	if err != nil {
		h.fail(w, fmt.Errorf("status: reading dead letter %q: %w", key, err))
		return
	}
	h.render(w, http.StatusOK, "letter", letterPage{Key: key, Letter: d, Change: pretty(d.Change), Requeue: h.cfg.token != ""})
}

func (h *Handler) requeue(w http.ResponseWriter, r *http.Request) {
	if h.cfg.token == "" {
		http.Error(w, "this status page is read-only: the host did not set a requeue token", http.StatusForbidden)
		return
	}
	key := r.PostFormValue("key")
	if subtle.ConstantTimeCompare([]byte(r.PostFormValue("token")), []byte(h.cfg.token)) != 1 {
		h.cfg.logger.Warn("status: requeue refused: wrong token", "key", key, "remote", r.RemoteAddr)
		http.Error(w, "wrong requeue token", http.StatusForbidden)
		return
	}
	if key == "" {
		http.Error(w, "no dead letter key given", http.StatusBadRequest)
		return
	}
	o, err := h.engine.Requeue(r.Context(), key)
	if err != nil {
		h.cfg.logger.Error("status: requeue failed", "key", key, "err", err)
		h.fail(w, err)
		return
	}
	h.cfg.logger.Info("status: requeued", "key", key, "status", o.Status, "reason", o.Reason, "remote", r.RemoteAddr)
	// Post/redirect/get, so a reload does not requeue again. The Location
	// is relative because the handler may be mounted under a prefix it
	// cannot see.
	w.Header().Set("Location", "./?requeued="+url.QueryEscape(key))
	w.WriteHeader(http.StatusSeeOther)
}

func (h *Handler) fail(w http.ResponseWriter, err error) {
	h.render(w, http.StatusInternalServerError, "error", err.Error())
}
