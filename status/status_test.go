package status_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	stdsync "sync"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/status"
	"github.com/sfsync/sfsync/store/memory"
	sfsyncsync "github.com/sfsync/sfsync/sync"
	"github.com/sfsync/sfsync/throttle"
)

// fakeEngine stands in for *sync.Engine: a requeue applies the change and
// deletes its dead letter, as the engine does.
type fakeEngine struct {
	state *memory.Store
	now   time.Time

	mu     stdsync.Mutex
	health error
	lease  *sfsync.Lease
	done   chan struct{}
}

func (e *fakeEngine) Done() <-chan struct{} { return e.done }

func (e *fakeEngine) Stats() sfsyncsync.Stats {
	return sfsyncsync.Stats{Received: 12, Processed: 11, Applied: 7, DeadLetters: 1, InFlight: 1, Lag: 1500 * time.Millisecond}
}

func (e *fakeEngine) Health() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.health
}

func (e *fakeEngine) Lease() (sfsync.Lease, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.lease == nil {
		return sfsync.Lease{}, false
	}
	return *e.lease, true
}

func (e *fakeEngine) Requeue(ctx context.Context, key string) (sfsync.Outcome, error) {
	d, err := e.state.DeadLetter(ctx, key)
	if err != nil {
		return sfsync.Outcome{}, err
	}
	o := sfsync.Outcome{Key: key, Object: d.Change.Object, RecordID: d.Change.RecordID, Status: sfsync.StatusApplied, Reason: "requeued", At: e.now}
	if err := e.state.RecordOutcomes(ctx, []sfsync.Outcome{o}); err != nil {
		return sfsync.Outcome{}, err
	}
	return o, e.state.DeleteDeadLetter(ctx, key)
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func setup(t *testing.T, opts ...status.Option) (*httptest.Server, *fakeEngine) {
	t.Helper()
	ctx := context.Background()
	now := time.Date(2026, 3, 1, 12, 30, 20, 0, time.UTC)
	state := memory.New()
	eng := &fakeEngine{state: state, now: now, done: make(chan struct{}), lease: &sfsync.Lease{Name: "contacts", Holder: "host-a", Token: 7, Expires: now.Add(time.Minute)}}
	topic := "/data/ContactChangeEvent"
	var outs []sfsync.Outcome
	for i, st := range []sfsync.Status{sfsync.StatusApplied, sfsync.StatusApplied, sfsync.StatusEcho, sfsync.StatusDeadLettered} {
		at := now.Add(-time.Duration(3-i) * time.Minute)
		outs = append(outs, sfsync.Outcome{
			Key: "k" + string(rune('a'+i)), Object: "Contact", RecordID: "003A", Status: st, At: at,
			Version: sfsync.Version{Time: at.Add(-2 * time.Second)}, Position: sfsync.Position{Stream: topic, Token: []byte{0, 0, 0, byte(i)}},
		})
	}
	mustDo(t, state.RecordOutcomes(ctx, outs))
	mustDo(t, state.SaveCheckpoint(ctx, sfsync.Position{Stream: topic, Token: []byte{0, 0, 0, 3}}))
	mustDo(t, state.SaveCheckpoint(ctx, sfsync.Position{Stream: "erp/person", Token: []byte("41")}))
	mustDo(t, state.SaveCheckpoint(ctx, sfsync.Position{Stream: "sfsync/backfill/Contact", Token: []byte(`{"phase":"reading","reason":"first start","read":40,"total":100}`)}))
	mustDo(t, state.PutDeadLetter(ctx, sfsync.DeadLetter{
		Change:      sfsync.Change{Key: "kd", Object: "Contact", RecordID: "003A", Source: sfsync.Salesforce, Fields: map[string]any{"Email": "<b>not an email</b>"}},
		Destination: sfsync.External("erp"), Err: "email rejected", Kind: sfsync.KindPermanent, Attempts: 1, LastFailed: now,
	}))
	limiter := throttle.New(throttle.WithReserve(0.1), throttle.WithLogger(quiet))
	t.Cleanup(func() { limiter.Close() })
	limiter.ObserveUsage(420, 5000)

	h := status.New(eng, append([]status.Option{
		status.WithState(state), status.WithStreams("erp/person"), status.WithBackfill("Contact"),
		status.WithLimiter("00DORG", limiter), status.WithClock(func() time.Time { return now }), status.WithLogger(quiet),
	}, opts...)...)
	srv := httptest.NewServer(http.StripPrefix("/status", h))
	t.Cleanup(srv.Close)
	return srv, eng
}

func mustDo(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	mustDo(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	mustDo(t, err)
	return resp.StatusCode, string(b)
}

func TestJSON(t *testing.T) {
	srv, _ := setup(t)
	code, body := get(t, srv.URL+"/status/status.json")
	if code != http.StatusOK {
		t.Fatalf("status.json: %d %s", code, body)
	}
	var r status.Report
	mustDo(t, json.Unmarshal([]byte(body), &r))
	if !r.Ready || r.Engine.Processed != 11 || r.Engine.LagSeconds != 1.5 {
		t.Errorf("engine: ready=%v %+v", r.Ready, r.Engine)
	}
	if len(r.Streams) != 2 || r.Streams[0].Name != "/data/ContactChangeEvent" || r.Streams[0].Checkpoint != "00000003" ||
		r.Streams[0].LagSeconds != 2 || r.Streams[1].Name != "erp/person" || r.Streams[1].Checkpoint != "41" {
		t.Errorf("streams: %+v", r.Streams)
	}
	if got := r.Outcomes.Counts[sfsync.StatusApplied]; len(got) != 10 || got[6] != 1 || got[7] != 1 {
		t.Errorf("applied per minute: %v (minutes %v)", got, r.Outcomes.Minutes)
	}
	if len(r.DeadLetters) != 1 || r.DeadLetters[0].Key != "kd" || r.Requeue {
		t.Errorf("dead letters: %+v requeue=%v", r.DeadLetters, r.Requeue)
	}
	if len(r.API) != 1 || r.API[0].Used != 420 || r.API[0].Max != 5000 || r.API[0].Reserve != 500 {
		t.Errorf("api: %+v", r.API)
	}
	if r.Lease == nil || r.Lease.Holder != "host-a" || r.Lease.Token != 7 {
		t.Errorf("lease: %+v", r.Lease)
	}
	if len(r.Backfills) != 1 || !r.Backfills[0].Pending || r.Backfills[0].Reason != "first start" || r.Backfills[0].Phase != "reading" || r.Backfills[0].Read != 40 {
		t.Errorf("backfills: %+v", r.Backfills)
	}
}

func TestPage(t *testing.T) {
	srv, _ := setup(t)
	code, body := get(t, srv.URL+"/status/")
	if code != http.StatusOK {
		t.Fatalf("page: %d %s", code, body)
	}
	for _, want := range []string{
		`<meta http-equiv="refresh" content="5">`, `id="ready" class="badge ok">ready`,
		"00000003", "1.5s", "420 / 5000", "host-a", "first start", "40 of 100 (40%)",
		`href="deadletter?key=kd"`, "Read-only: the host set no requeue token.",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(body, "requeue…") {
		t.Error("read-only page offers a requeue")
	}

	code, body = get(t, srv.URL+"/status/deadletter?key=kd")
	if code != http.StatusOK || !strings.Contains(body, "email rejected") || !strings.Contains(body, "&lt;b&gt;not an email&lt;/b&gt;") {
		t.Errorf("dead letter page: %d\n%s", code, body)
	}
	if code, _ := get(t, srv.URL+"/status/deadletter?key=nope"); code != http.StatusNotFound {
		t.Errorf("missing dead letter: %d, want 404", code)
	}
}

func TestHealthAndReadiness(t *testing.T) {
	srv, eng := setup(t)
	if code, body := get(t, srv.URL+"/status/healthz"); code != http.StatusOK || body != "ok\n" {
		t.Errorf("healthz: %d %q", code, body)
	}
	if code, _ := get(t, srv.URL+"/status/readyz"); code != http.StatusOK {
		t.Errorf("readyz while healthy: %d", code)
	}
	eng.mu.Lock()
	eng.health = errors.New("salesforce: OAuth grant rejected: invalid_grant")
	eng.mu.Unlock()
	code, body := get(t, srv.URL+"/status/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "invalid_grant") {
		t.Errorf("readyz while failing: %d %q", code, body)
	}
	if code, _ := get(t, srv.URL+"/status/healthz"); code != http.StatusOK {
		t.Errorf("healthz while not ready: %d (liveness is not readiness)", code)
	}
	_, page := get(t, srv.URL+"/status/")
	if !strings.Contains(page, "not ready") || !strings.Contains(page, "invalid_grant") {
		t.Error("page does not say why the engine is not ready")
	}
}

func postForm(t *testing.T, u string, form url.Values) *http.Response {
	t.Helper()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.PostForm(u, form)
	mustDo(t, err)
	resp.Body.Close()
	return resp
}

func TestRequeue(t *testing.T) {
	readOnly, _ := setup(t)
	if resp := postForm(t, readOnly.URL+"/status/requeue", url.Values{"key": {"kd"}, "token": {""}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("read-only requeue: %s, want 403", resp.Status)
	}

	srv, _ := setup(t, status.WithRequeueToken("s3cret"))
	if _, body := get(t, srv.URL+"/status/"); !strings.Contains(body, `<a class="button" href="deadletter?key=kd">requeue…</a>`) {
		t.Errorf("no requeue link:\n%s", body)
	}
	if _, body := get(t, srv.URL+"/status/deadletter?key=kd"); !strings.Contains(body, `<button type="submit" id="requeue">`) {
		t.Errorf("no requeue button on the dead letter's page:\n%s", body)
	}
	if resp := postForm(t, srv.URL+"/status/requeue", url.Values{"key": {"kd"}, "token": {"wrong"}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("wrong token: %s, want 403", resp.Status)
	}
	resp := postForm(t, srv.URL+"/status/requeue", url.Values{"key": {"kd"}, "token": {"s3cret"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "./?requeued=kd" {
		t.Fatalf("requeue: %s Location %q", resp.Status, resp.Header.Get("Location"))
	}
	_, body := get(t, srv.URL+"/status/?requeued=kd")
	if !strings.Contains(body, "<b>applied</b> — requeued") || !strings.Contains(body, `id="no-dead-letters"`) {
		t.Errorf("after requeue the page does not show it:\n%s", body)
	}
}

// An engine whose Run has returned fails liveness: it will not recover.
func TestHealthzFailsOnceTheEngineStopped(t *testing.T) {
	srv, eng := setup(t)
	close(eng.done)
	if code, body := get(t, srv.URL+"/status/healthz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "stopped") {
		t.Errorf("healthz after Run returned: %d %q", code, body)
	}
}
