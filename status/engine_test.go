package status_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/status"
	"github.com/sfsync/sfsync/store/memory"
	sfsyncsync "github.com/sfsync/sfsync/sync"
	"github.com/sfsync/sfsync/sync/synctest"
)

// heartbeat is a source that hears keepalives the engine never sees, as a
// Pub/Sub subscription does.
type heartbeat struct {
	*synctest.Source
	last atomic.Int64
}

func (h *heartbeat) LastReceipt() time.Time { return time.Unix(0, h.last.Load()).UTC() }

type discard struct{}

func (discard) Write(context.Context, []sfsync.Change) error { return nil }

// The page of a running engine shows its streams as the engine sees them
// (state, checkpoint, lag, last receipt), the outcomes it counted per
// minute, and a stream silent past its watchdog as the reason it is not
// ready.
func TestPageOfARunningEngine(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 30, 0, 0, time.UTC)
	var clock atomic.Int64
	clock.Store(t0.Add(20 * time.Second).UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()).UTC() }

	state := memory.New()
	topic := synctest.NewLog("/data/ContactChangeEvent")
	src := &heartbeat{Source: topic.Source()}
	src.last.Store(now().UnixNano())
	engine, err := sfsyncsync.New(src, discard{}, sfsyncsync.WithStore(state), sfsyncsync.WithLogger(quiet),
		sfsyncsync.WithClock(now), sfsyncsync.WithWatchdog(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- engine.Run(ctx) }()
	defer func() { cancel(); <-done }()

	wait, stop := context.WithTimeout(context.Background(), 30*time.Second)
	defer stop()
	for i, id := range []string{"003A", "003B"} {
		topic.Append(sfsync.Change{Source: sfsync.Salesforce, Object: "Contact", RecordID: id, Op: sfsync.OpUpdate,
			Fields: map[string]any{"Phone": "1"}, Version: sfsync.Version{Time: t0.Add(time.Duration(i) * time.Second)}})
	}
	if err := engine.WaitUntil(wait, func() bool { return engine.Stats().Processed == 2 }); err != nil {
		t.Fatal(err)
	}
	if err := engine.WaitIdle(wait); err != nil {
		t.Fatal(err)
	}

	h := status.New(engine, status.WithState(state), status.WithClock(now), status.WithLogger(quiet))
	srv := httptest.NewServer(h)
	defer srv.Close()
	code, body := get(t, srv.URL+"/status.json")
	if code != http.StatusOK {
		t.Fatalf("status.json: %d %s", code, body)
	}
	var r status.Report
	mustDo(t, json.Unmarshal([]byte(body), &r))
	if len(r.Streams) != 1 {
		t.Fatalf("streams: %+v", r.Streams)
	}
	s := r.Streams[0]
	if s.Name != "/data/ContactChangeEvent" || s.Phase != "streaming" || !s.CaughtUp || s.Checkpoint != "0000000000000001" ||
		s.LagSeconds != 19 || s.WatchdogSeconds != 60 || !s.LastEvent.Equal(t0.Add(time.Second)) || !s.LastReceipt.Equal(now()) {
		t.Errorf("stream: %+v", s)
	}
	applied := r.Outcomes.Counts[sfsync.StatusApplied]
	if r.Outcomes.From != "engine" || len(applied) != 10 || applied[9] != 2 {
		t.Errorf("outcomes: %+v", r.Outcomes)
	}
	_, page := get(t, srv.URL+"/")
	for _, want := range []string{"caught up", "0000000000000001", "19s", "watchdog 1m0s", "Counted by the engine since it started"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}

	// Two minutes without even a keepalive.
	clock.Add(int64(2 * time.Minute))
	if code, body := get(t, srv.URL+"/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "not even a keepalive") {
		t.Errorf("readyz of a silent stream: %d %q", code, body)
	}
	_, page = get(t, srv.URL+"/")
	if !strings.Contains(page, `<span class="badge bad">degraded</span>`) || !strings.Contains(page, "stream silent beyond its watchdog") {
		t.Errorf("page of a silent stream:\n%s", page)
	}
}
