package pubsubtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/linkedin/goavro/v2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/internal/eventbus"
)

// Error codes sent in the "error-code" trailer (prefix sfdc.platform.eventbus.grpc.).
const (
	CodeAuth              = "sfdc.platform.eventbus.grpc.service.auth.error"
	CodeUnavailable       = "sfdc.platform.eventbus.grpc.service.unavailable"
	CodeTopicNotFound     = "sfdc.platform.eventbus.grpc.topic.not.found"
	CodeTopicPermission   = "sfdc.platform.eventbus.grpc.topic.meta.permission"
	CodeTopicEmpty        = "sfdc.platform.eventbus.grpc.topic.validation.empty"
	CodeSchemaValidation  = "sfdc.platform.eventbus.grpc.schema.validation.failed"
	CodeReplayCorrupted   = "sfdc.platform.eventbus.grpc.subscription.fetch.replayid.corrupted"
	CodeReplayValidation  = "sfdc.platform.eventbus.grpc.subscription.fetch.replayid.validation.failed"
	CodeRequestedInvalid  = "sfdc.platform.eventbus.grpc.subscription.fetch.requested.events.invalid"
	CodeTopicMismatch     = "sfdc.platform.eventbus.grpc.subscription.fetch.topic.mismatch"
	CodePublishTopicEmpty = "sfdc.platform.eventbus.grpc.publish.topic.validation.empty"
	CodeManagedActive     = "sfdc.platform.eventbus.grpc.managed.subscription.already.active"
	CodeManagedNameNF     = "sfdc.platform.eventbus.grpc.managed.subscription.developer.name.not.found"
	CodeManagedIDNF       = "sfdc.platform.eventbus.grpc.managed.subscription.subscription.id.not.found"
	CodeManagedEmpty      = "sfdc.platform.eventbus.grpc.managed.subscription.id.or.developer.name.empty"
	CodeManagedEvents     = "sfdc.platform.eventbus.grpc.managed.subscription.fetch.request.events.invalid"
	CodeManagedCommitRest = "sfdc.platform.eventbus.grpc.managed.subscription.fetch.request.commit.request.restricted"
	CodeDeliveryLimit     = "sfdc.platform.eventbus.grpc.subscription.limit.exceeded"
)

// MaxOwed is the largest number of events a Subscribe or ManagedSubscribe
// call can be owed; larger requests are capped to it.
const MaxOwed = 100

// Defaults of the options.
const (
	DefaultOrgID       = "00D000000000001AAA"
	DefaultInstanceURL = "https://fake.my.salesforce.com"
	DefaultToken       = "token"
)

// TopicChangeEvents is the channel of the change events of every object
// selected for Change Data Capture.
const TopicChangeEvents = "/data/ChangeEvents"

// FirstReplayID is the position of a bus that has never held an event: the
// real bus is shared by many orgs and its positions are never zero, and a
// keepalive carries it as latest_replay_id before the first event, so it is
// a valid CUSTOM position (within retention from when the server started).
// The first event appended gets the id after it.
const FirstReplayID = 1000

type config struct {
	now         func() time.Time
	retention   time.Duration
	keepalive   time.Duration
	idle        time.Duration
	orgID       string
	instanceURL string
	tokens      []string
	plaintext   bool
}

// Option configures a Server.
type Option func(*config)

// WithClock sets the clock that timestamps events and drives retention.
// The default is time.Now. Keepalive and idle timers always use real time.
func WithClock(now func() time.Time) Option { return func(c *config) { c.now = now } }

// WithRetention sets how long events are retained (default 72h).
func WithRetention(d time.Duration) Option { return func(c *config) { c.retention = d } }

// WithKeepalive sets the interval of empty keepalive FetchResponses (carrying
// latest_replay_id) sent while the server owes events but has none (default 60s).
func WithKeepalive(d time.Duration) Option { return func(c *config) { c.keepalive = d } }

// WithIdleTimeout sets how long a subscription stream that is owed nothing
// waits for a new request before the server ends it with status OK (default 60s).
func WithIdleTimeout(d time.Duration) Option { return func(c *config) { c.idle = d } }

// WithTenant sets the expected tenantid and instanceurl metadata.
func WithTenant(orgID, instanceURL string) Option {
	return func(c *config) { c.orgID, c.instanceURL = orgID, instanceURL }
}

// WithTokens sets the accepted accesstoken values (default "token").
func WithTokens(valid ...string) Option {
	return func(c *config) { c.tokens = slices.Clone(valid) }
}

// Fault describes misbehaviour injected with InjectFault.
type Fault struct {
	// DuplicateNext resends each of the next n events delivered once more.
	DuplicateNext int
	// DisconnectAfter ends the next stream that delivers events with
	// codes.Unavailable after it has sent n more events.
	DisconnectAfter int
	// Delay is slept before each response until replaced.
	Delay time.Duration
	// OmitLatestReplayID sends keepalives without latest_replay_id until
	// replaced. The real service is not known to do so; it tests that a
	// client survives one.
	OmitLatestReplayID bool
	// ExceedDeliveryLimit fails the next n Subscribe and ManagedSubscribe
	// calls as the org's exhausted event delivery allocation does: the
	// documented error code CodeDeliveryLimit and message "You have
	// exceeded the event delivery limit for your org.". The spec does not
	// give the status; the fake sends RESOURCE_EXHAUSTED, gRPC's code for
	// an exhausted quota.
	ExceedDeliveryLimit int
}

// Stats are counters of what the server saw and did.
type Stats struct {
	Subscribes      int // Subscribe and ManagedSubscribe calls that passed authentication
	FetchRequests   int // FetchRequests and ManagedFetchRequests received
	EventsSent      int // events delivered, duplicates included
	MaxOwed         int // largest outstanding requested count seen
	Unauthenticated int // calls rejected with UNAUTHENTICATED
}

// Server is a fake Salesforce Pub/Sub API server on a loopback port.
type Server struct {
	cfg       config
	lis       net.Listener
	srv       *grpc.Server
	cert      *x509.Certificate // nil with WithPlaintext
	done      chan struct{}
	closeOnce sync.Once

	mu        sync.Mutex
	tokens    map[string]bool
	topics    map[string]*topic
	schemas   map[string]*schema
	issued    map[uint64]time.Time // replay id -> append time, all topics
	tip       uint64
	wake      chan struct{} // closed and replaced on every append
	stats     Stats
	dupLeft   int
	discLeft  int
	discOwner *stream
	delay     time.Duration
	bareKeep  bool
	limitLeft int
	managed   map[string]*managedSub // by subscription id
	byName    map[string]*managedSub
}

type topic struct {
	name      string
	schemaID  string
	schemas   map[string]bool
	events    []stored
	published []*eventbus.ProducerEvent
}

type stored struct {
	replay uint64
	at     time.Time
	event  *eventbus.ProducerEvent
}

type schema struct {
	id    string
	json  string
	codec *goavro.Codec
}

// NewServer starts a fake Pub/Sub API server serving gRPC over TLS on
// 127.0.0.1 with a random port and a certificate of its own
// ([Server.ClientTLSConfig] trusts it), or plaintext with [WithPlaintext].
// It panics if it cannot listen.
func NewServer(opts ...Option) *Server {
	cfg := config{
		now:         time.Now,
		retention:   72 * time.Hour,
		keepalive:   60 * time.Second,
		idle:        60 * time.Second,
		orgID:       DefaultOrgID,
		instanceURL: DefaultInstanceURL,
		tokens:      []string{DefaultToken},
	}
	for _, o := range opts {
		o(&cfg)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(fmt.Sprintf("pubsubtest: failed to listen on a port: %v", err))
	}
	s := &Server{
		cfg:     cfg,
		lis:     lis,
		done:    make(chan struct{}),
		topics:  map[string]*topic{},
		schemas: map[string]*schema{},
		issued:  map[uint64]time.Time{FirstReplayID: cfg.now()},
		tip:     FirstReplayID,
		wake:    make(chan struct{}),
		managed: map[string]*managedSub{},
		byName:  map[string]*managedSub{},
	}
	s.SetTokens(cfg.tokens...)
	serverOpts := []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(s.unaryAuth),
		grpc.ChainStreamInterceptor(s.streamAuth),
	}
	if !cfg.plaintext {
		pair, err := SelfSigned("pubsubtest")
		if err != nil {
			_ = lis.Close()
			panic(err)
		}
		s.cert = pair.Leaf
		serverOpts = append(serverOpts, grpc.Creds(credentials.NewServerTLSFromCert(&pair)))
	}
	s.srv = grpc.NewServer(serverOpts...)
	eventbus.RegisterPubSubServer(s.srv, service{s: s})
	go func() { _ = s.srv.Serve(lis) }()
	return s
}

// Addr returns the host:port the server listens on.
func (s *Server) Addr() string { return s.lis.Addr().String() }

// Close ends all streams and stops the server.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.done)
		s.srv.Stop()
	})
}

// SetTokens replaces the accepted access tokens; others become invalid.
func (s *Server) SetTokens(valid ...string) {
	m := make(map[string]bool, len(valid))
	for _, t := range valid {
		m[t] = true
	}
	s.mu.Lock()
	s.tokens = m
	s.mu.Unlock()
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// InjectFault replaces the injected fault state; InjectFault(Fault{}) clears it.
func (s *Server) InjectFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dupLeft = f.DuplicateNext
	s.discLeft = f.DisconnectAfter
	s.discOwner = nil
	s.delay = f.Delay
	s.bareKeep = f.OmitLatestReplayID
	s.limitLeft = f.ExceedDeliveryLimit
}

// overLimit reports whether the injected delivery limit refuses a
// subscription call, and counts it.
func (s *Server) overLimit() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.limitLeft <= 0 {
		return false
	}
	s.limitLeft--
	return true
}

const msgDeliveryLimit = "You have exceeded the event delivery limit for your org."

// AddTopic creates a topic with the given Avro schema and returns the schema id.
func (s *Server) AddTopic(name, schemaJSON string) (schemaID string, err error) {
	sc, err := newSchema(schemaJSON)
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.topics[name]; ok {
		return "", fmt.Errorf("pubsubtest: topic %q already exists", name)
	}
	s.schemas[sc.id] = sc
	s.topics[name] = &topic{name: name, schemaID: sc.id, schemas: map[string]bool{sc.id: true}}
	return sc.id, nil
}

// SetSchema changes a topic's schema; later appends use it. A different
// schema yields a different id; events already stored keep their schema id.
func (s *Server) SetSchema(name, schemaJSON string) (schemaID string, err error) {
	sc, err := newSchema(schemaJSON)
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.topics[name]
	if !ok {
		return "", fmt.Errorf("pubsubtest: unknown topic %q", name)
	}
	s.schemas[sc.id] = sc
	t.schemaID = sc.id
	t.schemas[sc.id] = true
	return sc.id, nil
}

func newSchema(schemaJSON string) (*schema, error) {
	codec, err := goavro.NewCodec(schemaJSON)
	if err != nil {
		return nil, fmt.Errorf("pubsubtest: bad schema: %w", err)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, []byte(schemaJSON)); err != nil {
		return nil, fmt.Errorf("pubsubtest: bad schema: %w", err)
	}
	sum := sha256.Sum256(buf.Bytes())
	return &schema{id: base64.RawURLEncoding.EncodeToString(sum[:])[:22], json: schemaJSON, codec: codec}, nil
}

// Append encodes native (goavro native form: unions as goavro.Union maps)
// with the topic's current schema, stores it and returns its replay id.
func (s *Server) Append(topicName string, native map[string]any) (replayID []byte, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.topics[topicName]
	if !ok {
		return nil, fmt.Errorf("pubsubtest: unknown topic %q", topicName)
	}
	payload, err := s.schemas[t.schemaID].codec.BinaryFromNative(nil, native)
	if err != nil {
		return nil, fmt.Errorf("pubsubtest: encode event: %w", err)
	}
	ev := &eventbus.ProducerEvent{Id: newUUID(), SchemaId: t.schemaID, Payload: payload}
	return encodeReplay(s.appendLocked(t, ev)), nil
}

// AppendEncoded stores an already encoded payload naming schemaID verbatim
// (neither the id nor the payload is checked) and returns its replay id.
func (s *Server) AppendEncoded(topicName, schemaID string, payload []byte) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.topics[topicName]
	if !ok {
		return nil, fmt.Errorf("pubsubtest: unknown topic %q", topicName)
	}
	ev := &eventbus.ProducerEvent{Id: newUUID(), SchemaId: schemaID, Payload: slices.Clone(payload)}
	return encodeReplay(s.appendLocked(t, ev)), nil
}

// PublishedEvent is an event a client published, as the server stored it.
type PublishedEvent struct {
	// ID is the id the publisher gave the event, which the server echoes
	// back as the result's correlation key.
	ID       string
	SchemaID string
	// Payload is the event's Avro binary: one record, no container header.
	Payload []byte
	// Headers are the event's headers, by key.
	Headers map[string][]byte
}

// Published returns copies of the events clients published successfully to topic.
func (s *Server) Published(topicName string) []PublishedEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.topics[topicName]
	if !ok {
		return nil
	}
	out := make([]PublishedEvent, len(t.published))
	for i, e := range t.published {
		out[i] = PublishedEvent{ID: e.GetId(), SchemaID: e.GetSchemaId(), Payload: slices.Clone(e.GetPayload())}
		for _, h := range e.GetHeaders() {
			if out[i].Headers == nil {
				out[i].Headers = map[string][]byte{}
			}
			out[i].Headers[h.GetKey()] = slices.Clone(h.GetValue())
		}
	}
	return out
}

func (s *Server) appendLocked(t *topic, ev *eventbus.ProducerEvent) uint64 {
	s.tip++
	now := s.cfg.now()
	s.issued[s.tip] = now
	t.events = append(t.events, stored{replay: s.tip, at: now, event: ev})
	close(s.wake)
	s.wake = make(chan struct{})
	return s.tip
}

func (s *Server) expired(at time.Time) bool {
	return s.cfg.now().Sub(at) > s.cfg.retention
}

func encodeReplay(v uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, v)
	return b
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// fail builds a Pub/Sub style error: message suffixed with the rpc id and the
// "error-code" (and "rpc-id") trailers set on ctx's call.
func fail(ctx context.Context, c codes.Code, errorCode, rpcID, msg string) error {
	_ = grpc.SetTrailer(ctx, metadata.Pairs("error-code", errorCode, "rpc-id", rpcID))
	return status.Error(c, msg+" rpcId: "+rpcID)
}

const authMsg = "An authentication exception occurred. Provide valid authentication via metadata headers."

func (s *Server) authenticate(ctx context.Context) error {
	md, _ := metadata.FromIncomingContext(ctx)
	first := func(k string) string {
		if v := md.Get(k); len(v) > 0 {
			return v[0]
		}
		return ""
	}
	s.mu.Lock()
	ok := s.tokens[first("accesstoken")] && first("accesstoken") != "" &&
		first("instanceurl") == s.cfg.instanceURL && sameTenant(first("tenantid"), s.cfg.orgID)
	if !ok {
		s.stats.Unauthenticated++
	}
	s.mu.Unlock()
	if ok {
		return nil
	}
	return fail(ctx, codes.Unauthenticated, CodeAuth, newUUID(), authMsg)
}

// sameTenant reports whether the tenantid metadata names the org: its id
// in the 18- or the 15-character form (Salesforce's own examples send the
// latter), alone or in the full form core/<MyDomain subdomain>/<org id>.
func sameTenant(tenantID, orgID string) bool {
	if rest, ok := strings.CutPrefix(tenantID, "core/"); ok {
		sub, id, ok := strings.Cut(rest, "/")
		if !ok || sub == "" {
			return false
		}
		tenantID = id
	}
	return tenantID != "" && sfsync.SameID(tenantID, orgID)
}

func (s *Server) unaryAuth(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	if err := s.authenticate(ctx); err != nil {
		return nil, err
	}
	return h(ctx, req)
}

func (s *Server) streamAuth(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	if err := s.authenticate(ss.Context()); err != nil {
		return err
	}
	return h(srv, ss)
}

// sleepDelay waits for the injected Delay, if any.
func (s *Server) sleepDelay(ctx context.Context) error {
	s.mu.Lock()
	d := s.delay
	s.mu.Unlock()
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-s.done:
		return status.Error(codes.Unavailable, "server closed")
	}
}

func (s *Server) topicNotFound(ctx context.Context, rpcID, name string) error {
	return fail(ctx, codes.NotFound, CodeTopicNotFound, rpcID, fmt.Sprintf(
		"The topic information for org CORE/prod/%s and topic %s not found. Ensure the topic name is correct and that the topic exists.",
		s.cfg.orgID, name))
}

// rpcGetTopic serves [service.GetTopic].
func (s *Server) rpcGetTopic(ctx context.Context, req *eventbus.TopicRequest) (*eventbus.TopicInfo, error) {
	rpcID := newUUID()
	if req.GetTopicName() == "" {
		return nil, fail(ctx, codes.InvalidArgument, CodeTopicEmpty, rpcID, "The topic name can't be blank.")
	}
	s.mu.Lock()
	t, ok := s.topics[req.GetTopicName()]
	var id string
	if ok && !multiEntity(t.name) {
		id = t.schemaID
	}
	s.mu.Unlock()
	if !ok {
		return nil, s.topicNotFound(ctx, rpcID, req.GetTopicName())
	}
	if err := s.sleepDelay(ctx); err != nil {
		return nil, err
	}
	return &eventbus.TopicInfo{
		TopicName: req.GetTopicName(), TenantGuid: s.cfg.orgID,
		CanPublish: !changeEvents(req.GetTopicName()), CanSubscribe: true, SchemaId: id, RpcId: rpcID,
	}, nil
}

// rpcGetSchema serves [service.GetSchema].
func (s *Server) rpcGetSchema(ctx context.Context, req *eventbus.SchemaRequest) (*eventbus.SchemaInfo, error) {
	rpcID := newUUID()
	if req.GetSchemaId() == "" {
		return nil, fail(ctx, codes.InvalidArgument, CodeSchemaValidation, rpcID, "Schema validation failed. The schema ID can't be blank.")
	}
	s.mu.Lock()
	sc, ok := s.schemas[req.GetSchemaId()]
	s.mu.Unlock()
	if !ok {
		return nil, fail(ctx, codes.NotFound, CodeSchemaValidation, rpcID,
			fmt.Sprintf("The schema information for schema ID %s not found. Ensure the schema ID is correct.", req.GetSchemaId()))
	}
	if err := s.sleepDelay(ctx); err != nil {
		return nil, err
	}
	return &eventbus.SchemaInfo{SchemaJson: sc.json, SchemaId: sc.id, RpcId: rpcID}, nil
}
