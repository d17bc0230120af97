package salesforcetest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/sfsync/sfsync/internal/eventbus"
	"github.com/sfsync/sfsync/salesforce/salesforcetest"
)

const api = "/services/data/v62.0"

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func newOrg(t *testing.T, opts ...salesforcetest.Option) *salesforcetest.Org {
	t.Helper()
	org := salesforcetest.NewOrg(opts...)
	t.Cleanup(org.Close)
	return org
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %q: %v", r.body, err)
	}
}

// sfErr decodes a REST error array and returns its single element.
func (r resp) sfErr(t *testing.T) map[string]any {
	t.Helper()
	var errs []map[string]any
	r.json(t, &errs)
	if len(errs) != 1 {
		t.Fatalf("want one error, got %s", r.body)
	}
	if _, ok := errs[0]["fields"]; !ok {
		t.Fatalf("error without fields: %s", r.body)
	}
	return errs[0]
}

func (r resp) want(t *testing.T, status int, code string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	if code != "" {
		if got := r.sfErr(t)["errorCode"]; got != code {
			t.Fatalf("errorCode %v, want %s: %s", got, code, r.body)
		}
	}
}

// call sends a request with the org's token; path is under /services/data/v62.0
// unless it starts with /services. hdr holds header name/value pairs.
func call(t *testing.T, org *salesforcetest.Org, method, path string, body any, hdr ...string) resp {
	t.Helper()
	return callTok(t, org, org.AccessToken(), method, path, body, hdr...)
}

func callTok(t *testing.T, org *salesforcetest.Org, token, method, path string, body any, hdr ...string) resp {
	t.Helper()
	if !strings.HasPrefix(path, "/services") {
		path = api + path
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, org.URL()+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := org.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp{status: res.StatusCode, header: res.Header, body: b}
}

// createAccount creates an Account over REST and returns its id.
func createAccount(t *testing.T, org *salesforcetest.Org, fields map[string]any, hdr ...string) string {
	t.Helper()
	r := call(t, org, "POST", "/sobjects/Account", fields, hdr...)
	r.want(t, 201, "")
	var out struct{ ID string }
	r.json(t, &out)
	return out.ID
}

// ---- CDC subscription ----

type event struct {
	schemaID string
	header   map[string]any
	body     map[string]any
}

func (e event) strs(key string) []string {
	var out []string
	for _, v := range e.header[key].([]any) {
		out = append(out, v.(string))
	}
	return out
}

type cdcSub struct {
	t      *testing.T
	ctx    context.Context
	client eventbus.PubSubClient
	stream eventbus.PubSub_SubscribeClient
	codecs map[string]*goavro.Codec
	buf    []*eventbus.ConsumerEvent
}

func pubsubCtx(t *testing.T, org *salesforcetest.Org, token string) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return metadata.AppendToOutgoingContext(ctx, "accesstoken", token, "instanceurl", org.URL(), "tenantid", org.OrgID())
}

func pubsubClient(t *testing.T, org *salesforcetest.Org) eventbus.PubSubClient {
	t.Helper()
	transport := insecure.NewCredentials()
	if cfg := org.ClientTLSConfig(); cfg != nil {
		transport = credentials.NewTLS(cfg)
	}
	conn, err := grpc.NewClient(org.PubSub().Addr(), grpc.WithTransportCredentials(transport))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return eventbus.NewPubSubClient(conn)
}

// subscribe reads topic from the earliest event.
func subscribe(t *testing.T, org *salesforcetest.Org, topic string) *cdcSub {
	t.Helper()
	s := &cdcSub{t: t, ctx: pubsubCtx(t, org, org.AccessToken()), client: pubsubClient(t, org), codecs: map[string]*goavro.Codec{}}
	var err error
	if s.stream, err = s.client.Subscribe(s.ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.stream.Send(&eventbus.FetchRequest{TopicName: topic, ReplayPreset: eventbus.ReplayPreset_EARLIEST, NumRequested: 100}); err != nil {
		t.Fatal(err)
	}
	return s
}

// next returns the next n events, decoded with their writer schemas.
func (s *cdcSub) next(n int) []event {
	s.t.Helper()
	for len(s.buf) < n {
		res, err := s.stream.Recv()
		if err != nil {
			s.t.Fatalf("recv: %v", err)
		}
		s.buf = append(s.buf, res.GetEvents()...)
		if res.GetPendingNumRequested() == 0 {
			if err := s.stream.Send(&eventbus.FetchRequest{NumRequested: 100}); err != nil {
				s.t.Fatal(err)
			}
		}
	}
	var out []event
	for _, ce := range s.buf[:n] {
		id := ce.GetEvent().GetSchemaId()
		codec := s.codecs[id]
		if codec == nil {
			info, err := s.client.GetSchema(s.ctx, &eventbus.SchemaRequest{SchemaId: id})
			if err != nil {
				s.t.Fatalf("GetSchema %s: %v", id, err)
			}
			if codec, err = goavro.NewCodec(info.GetSchemaJson()); err != nil {
				s.t.Fatal(err)
			}
			s.codecs[id] = codec
		}
		native, rest, err := codec.NativeFromBinary(ce.GetEvent().GetPayload())
		if err != nil || len(rest) != 0 {
			s.t.Fatalf("decode: %v (%d bytes left)", err, len(rest))
		}
		m := native.(map[string]any)
		out = append(out, event{schemaID: id, header: m["ChangeEventHeader"].(map[string]any), body: m})
	}
	s.buf = s.buf[n:]
	return out
}

// one returns the next event.
func (s *cdcSub) one() event {
	s.t.Helper()
	return s.next(1)[0]
}

// unwrap returns the value of a goavro union (or nil).
func unwrap(v any) any {
	if m, ok := v.(map[string]any); ok && len(m) == 1 {
		for _, x := range m {
			return x
		}
	}
	return v
}

// component returns a compound field's component value.
func component(e event, field, comp string) any {
	rec, _ := unwrap(e.body[field]).(map[string]any)
	if rec == nil {
		return nil
	}
	return unwrap(rec[comp])
}
