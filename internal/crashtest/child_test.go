package crashtest

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	stdsync "sync"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/pubsub"
	"github.com/sfsync/sfsync/store/sqlite"
	"github.com/sfsync/sfsync/sync"
)

// childEnv names the environment variable that carries a child's
// configuration; TestCrashChild runs only when it is set.
const childEnv = "SFSYNC_CRASH_CHILD"

// object is the Salesforce object whose change events the test syncs, and
// topic is the fake org's change event channel of it.
const (
	object = "Account"
	topic  = "/data/AccountChangeEvent"
)

// childConfig is what the parent tells a child.
type childConfig struct {
	// Addr is the address of the fake org's Pub/Sub API server.
	Addr string `json:"addr"`
	// Creds authenticate to it: the org's access token, instance URL and
	// org id.
	Creds pubsub.Credentials `json:"creds"`
	// CA is the PEM of the certificate the server presents: the child
	// dials TLS, as against Salesforce, trusting it alone.
	CA    string `json:"ca"`
	Topic string `json:"topic"`
	DB    string `json:"db"`
	Sink  string `json:"sink"`
	// Last is the hex replay id of the last event; the child exits once it
	// has committed it.
	Last string `json:"last"`
}

// out writes one protocol line to the parent. Each line is a single write
// to the pipe, so lines of concurrent writers never interleave.
func out(format string, args ...any) {
	_, _ = fmt.Fprintf(os.Stdout, "crash: "+format+"\n", args...)
}

// reportingSource tells the parent about every checkpoint the engine made
// durable, and signals when the last event's position was committed.
type reportingSource struct {
	*pubsub.Subscription
	last     []byte
	doneOnce stdsync.Once
	done     chan struct{}
}

func (s *reportingSource) Commit(ctx context.Context, pos sfsync.Position) error {
	err := s.Subscription.Commit(ctx, pos)
	// The engine calls Commit after the store committed the checkpoint.
	out("checkpoint %x", pos.Token)
	if bytes.Equal(pos.Token, s.last) {
		s.doneOnce.Do(func() { close(s.done) })
	}
	return err
}

// TestCrashChild is the child process of TestCrashRecovery: it runs the
// engine, subscribed to the parent's fake Salesforce org through the Pub/Sub
// API, until it is killed or has committed the last event.
func TestCrashChild(t *testing.T) {
	raw := os.Getenv(childEnv)
	if raw == "" {
		t.Skip("runs only as the child process of TestCrashRecovery")
	}
	var cfg childConfig
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		t.Fatalf("bad %s: %v", childEnv, err)
	}
	last, err := hex.DecodeString(cfg.Last)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// Only errors, on stderr; the parent shows them when a run fails.
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))

	out("opening")
	store, err := sqlite.Open(ctx, cfg.DB, sqlite.WithLogger(logger), sqlite.WithCompactionInterval(0))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if cp, err := store.LoadCheckpoint(ctx, cfg.Topic); err == nil && bytes.Equal(cp.Token, last) {
		out("done already")
		return
	} else if err != nil && !errors.Is(err, sfsync.ErrNotFound) {
		t.Fatal(err)
	}
	sink, err := openSink(cfg.Sink, func(newly, skipped int) { out("applied %d skipped %d", newly, skipped) })
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM([]byte(cfg.CA)) {
		t.Fatalf("bad %s: no certificate in ca", childEnv)
	}
	client, err := pubsub.Dial(cfg.Addr, pubsub.StaticToken(cfg.Creds), pubsub.WithLogger(logger),
		pubsub.WithTLSConfig(&tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	sub := client.Subscribe(cfg.Topic, pubsub.WithWindow(20),
		pubsub.WithBackOff(func() backoff.BackOff { return &backoff.ZeroBackOff{} }))
	defer sub.Close()
	src := &reportingSource{Subscription: sub, last: last, done: make(chan struct{})}
	engine, err := sync.New(src, sink,
		sync.WithLogger(logger), sync.WithTenant(cfg.Creds.TenantID), sync.WithStore(store),
		sync.WithMapping(&sync.Mapping{Object: object, External: "company", Fields: []sync.Field{
			{Salesforce: "Industry", External: "industry"},
		}}))
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	finished := make(chan error, 1)
	go func() { finished <- engine.Run(runCtx) }()
	out("started")
	select {
	case <-src.done:
	case err := <-finished:
		t.Fatalf("the engine stopped before committing the last event: %v", err)
	case <-ctx.Done():
		t.Fatal("the engine did not commit the last event in time")
	}
	stop()
	if err := <-finished; err != nil {
		t.Fatal(err)
	}
	out("done")
}
