package pubsub

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	stdsync "sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/internal/eventbus"
)

// DefaultEndpoint is the global Pub/Sub API endpoint.
const DefaultEndpoint = "api.pubsub.salesforce.com:7443"

// Credentials authenticate Pub/Sub API calls: they travel as the
// accesstoken, instanceurl and tenantid metadata of every RPC.
type Credentials struct {
	AccessToken string
	// InstanceURL is the org's My Domain URL, without a path.
	InstanceURL string
	// TenantID is the org id (00D...).
	TenantID string
}

// String hides the token, so that credentials never reach a log.
func (c Credentials) String() string {
	return fmt.Sprintf("{instance %s, org %s, token redacted}", c.InstanceURL, c.TenantID)
}

// TokenSource supplies credentials. The OAuth flows of package salesforce
// implement it; [StaticToken] serves a fixed token.
type TokenSource interface {
	Token(ctx context.Context) (Credentials, error)
}

// Refresher is implemented by token sources that can obtain a new token
// when the server rejects the current one (status UNAUTHENTICATED).
type Refresher interface {
	Refresh(ctx context.Context) (Credentials, error)
}

// StaticToken returns a TokenSource that always returns c.
func StaticToken(c Credentials) TokenSource { return staticToken(c) }

type staticToken Credentials

func (s staticToken) Token(context.Context) (Credentials, error) { return Credentials(s), nil }

// ErrReplayUnavailable is matched (errors.Is) by the error a subscription
// returns when the server rejects its stored replay id: older than the 72 h
// retention, or otherwise invalid. It also matches
// [sfsync.ErrPositionUnavailable], which makes the engine backfill.
var ErrReplayUnavailable = fmt.Errorf("pubsub: the server rejected the stored replay id (expired past retention or invalid): %w", sfsync.ErrPositionUnavailable)

// ErrUnauthenticated is matched by errors of calls the server rejected for
// their credentials even after a token refresh.
var ErrUnauthenticated = errors.New("pubsub: the server rejected the credentials")

// Client is a Pub/Sub API client: topics, schemas, publishing and
// subscriptions over one gRPC connection. It is safe for concurrent use.
type Client struct {
	conn    *grpc.ClientConn
	api     eventbus.PubSubClient
	tokens  TokenSource
	log     *slog.Logger
	decoder *Decoder
	cfg     clientConfig

	mu    stdsync.Mutex
	creds *Credentials
}

type clientConfig struct {
	insecure    bool
	tlsConfig   *tls.Config
	dialOptions []grpc.DialOption
	log         *slog.Logger
	maxRecv     int
}

// Option configures a [Client]. It is an interface, not a function type,
// so that one option such as [WithLogger] can configure both a Client and
// a [Decoder] under one name.
type Option interface{ applyClient(*clientConfig) }

type option func(*clientConfig)

func (o option) applyClient(c *clientConfig) { o(c) }

// WithInsecure dials without TLS, for a fake server started plaintext
// (pubsubtest.WithPlaintext, salesforcetest.WithPlaintext). The fakes serve
// TLS by default, as Salesforce does: dial them with [WithTLSConfig] and
// their ClientTLSConfig. Never use it against Salesforce.
func WithInsecure() Option { return option(func(c *clientConfig) { c.insecure = true }) }

// WithTLSConfig sets the TLS configuration (default: system roots).
func WithTLSConfig(t *tls.Config) Option { return option(func(c *clientConfig) { c.tlsConfig = t }) }

// WithDialOptions adds gRPC dial options.
func WithDialOptions(opts ...grpc.DialOption) Option {
	return option(func(c *clientConfig) { c.dialOptions = append(c.dialOptions, opts...) })
}

// WithMaxReceiveSize sets the gRPC receive message size limit in bytes
// (default 101 MiB: a full window of 100 events of the largest size the
// service carries, 1 MB, plus a MiB for framing). A response above it is
// not read: the stream ends with RESOURCE_EXHAUSTED and a subscription
// reopens it asking for fewer events at a time (see [Subscription]). An
// event larger than the limit on its own cannot be received at all: the
// subscription stops before it and its Err reports [ErrMessageTooLarge]
// until a client dialled with a larger limit takes over. The limit is also
// the most one response from a broken or hostile server can make the
// client allocate.
func WithMaxReceiveSize(bytes int) Option { return option(func(c *clientConfig) { c.maxRecv = bytes }) }

// WithLogger sets the logger of a [Client] (which its decoder and
// subscriptions share) or of a [Decoder] made with [NewDecoder] (default
// slog.Default(), also when l is nil): it is both an [Option] and a
// [DecoderOption].
func WithLogger(l *slog.Logger) LoggerOption { return LoggerOption{l} }

// LoggerOption is what [WithLogger] returns: a logger setting for either
// constructor, [Dial] or [NewDecoder].
type LoggerOption struct{ logger *slog.Logger }

func (o LoggerOption) applyClient(c *clientConfig) {
	if o.logger != nil {
		c.log = o.logger
	}
}
func (o LoggerOption) applyDecoder(d *Decoder) {
	if o.logger != nil {
		d.log = o.logger
	}
}

// Dial returns a client of the Pub/Sub API at target (host:port, such as
// [DefaultEndpoint]) authenticating with tokens. The connection is made
// lazily, on the first call.
func Dial(target string, tokens TokenSource, opts ...Option) (*Client, error) {
	var cfg clientConfig
	for _, o := range opts {
		o.applyClient(&cfg)
	}
	if cfg.log == nil {
		cfg.log = slog.Default()
	}
	if cfg.maxRecv <= 0 {
		cfg.maxRecv = maxRecvMsgSize
	}
	if tokens == nil {
		return nil, fmt.Errorf("pubsub: dial %s: no token source; pass StaticToken or an OAuth token source", target)
	}
	transport := credentials.NewTLS(cfg.tlsConfig)
	if cfg.insecure {
		transport = insecure.NewCredentials()
	}
	c := &Client{tokens: tokens, log: cfg.log, cfg: cfg}
	dialOpts := append([]grpc.DialOption{
		grpc.WithTransportCredentials(transport),
		grpc.WithUnaryInterceptor(c.unaryAuth),
		grpc.WithStreamInterceptor(c.streamAuth),
		// Before the caller's options, so that a call option given through
		// WithDialOptions still wins.
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(cfg.maxRecv)),
	}, cfg.dialOptions...)
	conn, err := grpc.NewClient(target, dialOpts...)
	if err != nil {
		return nil, fmt.Errorf("pubsub: dial %s: %w", target, err)
	}
	c.conn = conn
	c.api = eventbus.NewPubSubClient(conn)
	c.decoder = NewDecoder(c.GetSchema, WithLogger(cfg.log))
	return c, nil
}

// Close closes the connection; subscriptions end with an error.
func (c *Client) Close() error { return c.conn.Close() }

// credentials returns the cached credentials, fetching them on first use.
func (c *Client) credentials(ctx context.Context) (Credentials, error) {
	c.mu.Lock()
	cached := c.creds
	c.mu.Unlock()
	if cached != nil {
		return *cached, nil
	}
	cr, err := c.tokens.Token(ctx)
	if err != nil {
		return Credentials{}, fmt.Errorf("pubsub: get a token: %w", err)
	}
	c.mu.Lock()
	c.creds = &cr
	c.mu.Unlock()
	return cr, nil
}

// refresh drops the cached credentials and asks the token source for new
// ones.
func (c *Client) refresh(ctx context.Context) error {
	c.mu.Lock()
	c.creds = nil
	c.mu.Unlock()
	r, ok := c.tokens.(Refresher)
	if !ok {
		return nil // Token is asked again on the next call
	}
	cr, err := r.Refresh(ctx)
	if err != nil {
		return fmt.Errorf("pubsub: refresh the token: %w", err)
	}
	c.mu.Lock()
	c.creds = &cr
	c.mu.Unlock()
	return nil
}

func (c *Client) withAuth(ctx context.Context) (context.Context, error) {
	cr, err := c.credentials(ctx)
	if err != nil {
		return nil, err
	}
	return metadata.AppendToOutgoingContext(ctx, "accesstoken", cr.AccessToken, "instanceurl", cr.InstanceURL, "tenantid", cr.TenantID), nil
}

func (c *Client) unaryAuth(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	for attempt := 0; ; attempt++ {
		actx, err := c.withAuth(ctx)
		if err != nil {
			return err
		}
		err = invoker(actx, method, req, reply, cc, opts...)
		if status.Code(err) != codes.Unauthenticated || attempt > 0 {
			return err
		}
		if rerr := c.refresh(ctx); rerr != nil {
			return errors.Join(err, rerr)
		}
	}
}

func (c *Client) streamAuth(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	actx, err := c.withAuth(ctx)
	if err != nil {
		return nil, err
	}
	return streamer(actx, desc, cc, method, opts...)
}

// TopicInfo describes a topic.
type TopicInfo struct {
	Name         string
	TenantID     string
	CanPublish   bool
	CanSubscribe bool
	// SchemaID is the topic's current schema; blank for multi-entity
	// channels such as /data/ChangeEvents.
	SchemaID string
}

// GetTopic returns what the server says of topic.
func (c *Client) GetTopic(ctx context.Context, topic string) (TopicInfo, error) {
	t, err := c.api.GetTopic(ctx, &eventbus.TopicRequest{TopicName: topic})
	if err != nil {
		return TopicInfo{}, callError("get topic "+topic, err)
	}
	return TopicInfo{Name: t.GetTopicName(), TenantID: t.GetTenantGuid(), CanPublish: t.GetCanPublish(), CanSubscribe: t.GetCanSubscribe(), SchemaID: t.GetSchemaId()}, nil
}

// GetSchema returns the Avro schema JSON of a schema id. Decoding caches
// schemas; this call does not. An id the server does not know is an error
// matching [ErrSchemaNotFound].
func (c *Client) GetSchema(ctx context.Context, schemaID string) (string, error) {
	s, err := c.api.GetSchema(ctx, &eventbus.SchemaRequest{SchemaId: schemaID})
	if status.Code(err) == codes.NotFound {
		return "", callError("get schema "+schemaID, fmt.Errorf("%w: %w", ErrSchemaNotFound, err))
	}
	if err != nil {
		return "", callError("get schema "+schemaID, err)
	}
	return s.GetSchemaJson(), nil
}

// attribute sets the org id of changes the decoder left without one: the
// tenant the client authenticates to is the org the events belong to.
func (c *Client) attribute(ctx context.Context, changes []sfsync.Change) []sfsync.Change {
	cr, err := c.credentials(ctx)
	if err != nil {
		return changes
	}
	for i := range changes {
		if changes[i].Tenant == "" {
			changes[i].Tenant = cr.TenantID
		}
	}
	return changes
}

// Decoder returns the client's decoder, whose schema cache every
// subscription of the client shares.
func (c *Client) Decoder() *Decoder { return c.decoder }

// callError classifies a failed call: UNAUTHENTICATED, replay id errors and
// invalid arguments are permanent; unavailability and aborted or
// internal errors are retryable.
func callError(what string, err error) error {
	st, _ := status.FromError(err)
	wrapped := fmt.Errorf("pubsub: %s: %s: %w", what, st.Code(), err)
	switch st.Code() {
	case codes.Unauthenticated:
		return sfsync.Classify(sfsync.KindAuth, fmt.Errorf("%w; check the token source: %w", ErrUnauthenticated, wrapped))
	case codes.Unavailable, codes.Internal, codes.Aborted, codes.DeadlineExceeded, codes.ResourceExhausted, codes.Unknown:
		return sfsync.Retryable(wrapped)
	case codes.Canceled:
		return wrapped
	}
	return sfsync.Permanent(wrapped)
}

// errorCode returns the Pub/Sub error-code trailer of a failed stream.
func errorCode(trailer metadata.MD) string {
	if v := trailer.Get("error-code"); len(v) > 0 {
		return v[0]
	}
	return ""
}

func isReplayRejected(err error, trailer metadata.MD) bool {
	if status.Code(err) != codes.InvalidArgument {
		return false
	}
	code := errorCode(trailer)
	return strings.HasSuffix(code, "replayid.corrupted") || strings.HasSuffix(code, "replayid.validation.failed")
}
