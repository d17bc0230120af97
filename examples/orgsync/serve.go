package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/metrics"
	"github.com/sfsync/sfsync/pubsub"
	"github.com/sfsync/sfsync/reconcile"
	"github.com/sfsync/sfsync/salesforce/salesforcetest"
	"github.com/sfsync/sfsync/status"
	"github.com/sfsync/sfsync/store/sqlite"
	"github.com/sfsync/sfsync/sync"
	"github.com/sfsync/sfsync/sync/synctest"
	"github.com/sfsync/sfsync/throttle"
)

// served is what the served demo shows and acts on.
type served struct {
	engine     *sync.Engine
	state      *sqlite.Store
	limiter    *throttle.Limiter
	tenant     string
	sub        *pubsub.Subscription
	outbox     string
	reconciler *reconcile.Reconciler
	org        *salesforcetest.Org
	erp        *synctest.System
}

// serve leaves a dead letter to requeue, then serves the status page and
// /metrics until parent ends. ctx bounds the scripted part only.
func (d served) serve(ctx, parent context.Context, out io.Writer, opts options) error {
	fmt.Fprintln(out, "\n== a validation rule in the org rejects the ERP's phone 000 for Turing: dead-lettered; an admin then relaxes the rule, so a requeue from the status page applies it")
	strict := new(atomic.Bool)
	strict.Store(true)
	d.org.AddValidationRule("Contact", func(f map[string]any) (string, string, bool) {
		if strict.Load() && f["Phone"] == "000" {
			return "Phone must be a real number", "Phone", false
		}
		return "", "", true
	})
	d.erp.Edit("person", "P-7", map[string]any{"phone": "000"}, sfsync.Version{Time: time.Now().Add(2 * time.Minute), Counter: 3})
	if err := d.engine.WaitUntil(ctx, func() bool { return countDeadLetters(d.state) > 0 }); err != nil {
		return fmt.Errorf("waiting for the dead letter: %w", err)
	}
	strict.Store(false)

	token := opts.token
	if token == "" {
		token = rand.Text()
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	const topic = "/data/ContactChangeEvent"
	prom, err := metrics.NewPrometheus(
		metrics.Engine("contacts", d.engine.Stats), metrics.Streams("contacts", d.engine.Streams), metrics.Limiter(d.tenant, d.limiter),
		metrics.Subscription(topic, d.sub.Stats), metrics.Reconciler("contacts", d.reconciler.Stats),
	)
	if err != nil {
		return err
	}
	defer prom.Shutdown(context.Background())

	mux := http.NewServeMux()
	mux.Handle("/status/", http.StripPrefix("/status", status.New(d.engine,
		status.WithState(d.state), status.WithStreams(d.outbox), status.WithSubscription(topic, d.sub.Stats),
		status.WithLimiter(d.tenant, d.limiter), status.WithReconciler(d.reconciler.Stats),
		status.WithRequeueToken(token), status.WithLogger(quiet))))
	mux.Handle("/metrics", prom)
	mux.Handle("/{$}", http.RedirectHandler("/status/", http.StatusFound))

	ln, err := net.Listen("tcp", opts.http)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", opts.http, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	base := "http://" + ln.Addr().String()
	fmt.Fprintf(out, "\n== serving %s/status/ (requeue token %s) and %s/metrics; Ctrl-C stops\n", base, token, base)
	if opts.served != nil {
		opts.served(base)
	}

	select {
	case <-parent.Done():
	case err := <-serveErr:
		return fmt.Errorf("serving: %w", err)
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("stopping the server: %w", err)
	}
	if err := <-serveErr; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func countDeadLetters(state *sqlite.Store) int {
	ds, err := state.DeadLetters(context.Background(), sfsync.DeadLetterQuery{})
	if err != nil {
		return 0
	}
	return len(ds)
}
