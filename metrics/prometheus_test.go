package metrics_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/metrics"
	"github.com/sfsync/sfsync/reconcile"
	"github.com/sfsync/sfsync/store/memory"
	sfsyncsync "github.com/sfsync/sfsync/sync"
)

func scrape(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s\n%s", url, resp.Status, body)
	}
	return string(body)
}

func TestPrometheus(t *testing.T) {
	ctx := context.Background()
	state := memory.New()
	if err := state.SaveCheckpoint(ctx, sfsync.Position{Stream: "sfsync/backfill/Contact", Token: []byte(`{"phase":"reading","reason":"first start","read":40,"total":100}`)}); err != nil {
		t.Fatal(err)
	}
	if err := state.SaveCheckpoint(ctx, sfsync.Position{Stream: "sfsync/backfill/Account", Token: []byte("done")}); err != nil {
		t.Fatal(err)
	}
	prom, err := metrics.NewPrometheus(
		metrics.Engine("contacts", func() sfsyncsync.Stats { return sfsyncsync.Stats{Processed: 12, Applied: 9} }),
		metrics.Reconciler("authority", func() reconcile.Stats { return reconcile.Stats{Scanned: 40, Emitted: 38, Deleted: 2} }),
		metrics.Backfill(state, "Contact", "Account", "Lead"),
		metrics.Streams("contacts", func() []sfsyncsync.StreamState {
			return []sfsyncsync.StreamState{
				{Name: "/data/ContactChangeEvent", Phase: sfsyncsync.StreamStreaming, Lag: 1500 * time.Millisecond, InFlight: 2},
				{Name: "erp/person", Phase: sfsyncsync.StreamDegraded},
			}
		}),
	)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(prom)
	defer srv.Close()

	body := scrape(t, srv.URL)
	for _, want := range []string{
		`sfsync_changes_processed_total{engine="contacts"} 12`,
		`sfsync_changes_applied_total{engine="contacts"} 9`,
		`sfsync_reconcile_scanned_total{reconciler="authority"} 40`,
		`sfsync_reconcile_deleted_total{reconciler="authority"} 2`,
		`sfsync_backfill_pending{object="Contact"} 1`,
		`sfsync_backfill_read{object="Contact"} 40`,
		`sfsync_backfill_total{object="Contact"} 100`,
		`sfsync_backfill_pending{object="Account"} 0`,
		`sfsync_backfill_pending{object="Lead"} 0`,
		`sfsync_streams_lag_seconds{engine="contacts",stream="/data/ContactChangeEvent"} 1.5`,
		`sfsync_streams_in_flight{engine="contacts",stream="/data/ContactChangeEvent"} 2`,
		`sfsync_streams_up{engine="contacts",stream="/data/ContactChangeEvent"} 1`,
		`sfsync_streams_up{engine="contacts",stream="erp/person"} 0`,
		`go_goroutines `,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("scrape:\n%s", body)
	}

	if err := prom.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if body := scrape(t, srv.URL); strings.Contains(body, "sfsync_") {
		t.Errorf("after Shutdown the scrape still reports sfsync series")
	}
}

func TestPrometheusInvalidOption(t *testing.T) {
	if _, err := metrics.NewPrometheus(metrics.Engine("e", nil)); err == nil {
		t.Fatal("NewPrometheus accepted an engine with nothing to read")
	}
	if _, err := metrics.NewPrometheus(metrics.Backfill(nil, "Contact")); err == nil {
		t.Fatal("NewPrometheus accepted a nil checkpoint store")
	}
}

func TestBackfillPending(t *testing.T) {
	ctx := context.Background()
	state := memory.New()
	if pending, _, err := metrics.BackfillPending(ctx, state, "Contact"); err != nil || pending {
		t.Fatalf("never owed: pending=%v err=%v", pending, err)
	}
	// The format of earlier releases still reads.
	if err := state.SaveCheckpoint(ctx, sfsync.Position{Stream: "sfsync/backfill/Contact", Token: []byte("owed:replay id expired")}); err != nil {
		t.Fatal(err)
	}
	pending, reason, err := metrics.BackfillPending(ctx, state, "Contact")
	if err != nil || !pending || reason != "replay id expired" {
		t.Fatalf("owed: pending=%v reason=%q err=%v", pending, reason, err)
	}
	if err := state.SaveCheckpoint(ctx, sfsync.Position{Stream: "sfsync/backfill/Contact", Token: []byte(`{"phase":"reading","reason":"first start","read":40,"total":100}`)}); err != nil {
		t.Fatal(err)
	}
	if pending, reason, err := metrics.BackfillPending(ctx, state, "Contact"); err != nil || !pending || reason != "first start" {
		t.Fatalf("reading: pending=%v reason=%q err=%v", pending, reason, err)
	}
	if err := state.SaveCheckpoint(ctx, sfsync.Position{Stream: "sfsync/backfill/Contact", Token: []byte(`{"phase":"done","read":100,"total":100}`)}); err != nil {
		t.Fatal(err)
	}
	if pending, _, err := metrics.BackfillPending(ctx, state, "Contact"); err != nil || pending {
		t.Fatalf("done: pending=%v err=%v", pending, err)
	}
}

// The manual reader sees the reconciler series with their attribute.
func TestReconcilerSeries(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer provider.Shutdown(context.Background())
	reg, err := metrics.Register(provider.Meter("test"), metrics.Reconciler("r", func() reconcile.Stats { return reconcile.Stats{Scanned: 3, Emitted: 2, Deleted: 1} }))
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Unregister()
	check(t, collect(t, reader), map[string]point{
		"sfsync.reconcile.scanned{reconciler=r}": {"sum", "{record}", 3},
		"sfsync.reconcile.emitted{reconciler=r}": {"sum", "{change}", 2},
		"sfsync.reconcile.deleted{reconciler=r}": {"sum", "{change}", 1},
	})
}
