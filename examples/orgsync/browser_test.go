package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromium finds a Chromium to drive, or says why there is none.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	msg := "no Chromium on PATH (Debian: apt-get install chromium); the status page's browser test did not run"
	// CI sets this so that a missing browser fails rather than skips.
	if os.Getenv("SFSYNC_TEST_BROWSER") == "required" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// TestStatusPageInBrowser runs the demo with -http and drives headless
// Chromium against its status page: a person sees the streams and their
// lag, the dead letter the demo leaves, and requeues it from the page.
// The screenshot is saved in the test's artifact directory (go test
// -artifacts keeps it; README's image comes from there).
func TestStatusPageInBrowser(t *testing.T) {
	exe := chromium(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()

	var out bytes.Buffer
	baseURL := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, &out, options{http: "127.0.0.1:0", token: "let-me-requeue", served: func(u string) { baseURL <- u }})
	}()
	var base string
	select {
	case base = <-baseURL:
	case err := <-done:
		t.Fatalf("demo ended before serving: %v\n%s", err, out.String())
	}

	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx, append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.WindowSize(1280, 1000),
		chromedp.Flag("disable-dev-shm-usage", true))...)
	defer cancelAlloc()
	browser, cancelBrowser := chromedp.NewContext(alloc)
	defer cancelBrowser()
	browser, cancelTimeout := context.WithTimeout(browser, time.Minute)
	defer cancelTimeout()

	text := func(sel string) string {
		t.Helper()
		got, err := chromedp.Run(browser, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("reading %s: %v", sel, err)
		}
		return got
	}
	if err := chromedp.Do(browser,
		chromedp.Navigate(base+"/"), // redirects to /status/
		chromedp.WaitVisible(chromedp.CSS("#dead-letters tr.letter")),
	); err != nil {
		t.Fatalf("opening the status page: %v", err)
	}
	shot, err := chromedp.Run(browser, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	saveScreenshot(t, shot)
	for sel, want := range map[string][]string{
		"#ready":        {"ready"},
		"#streams":      {"/data/ContactChangeEvent", "erp/person", "caught up", "watchdog 10m0s", "1 dead-lettered"},
		"#outcomes":     {"Counted by the engine since it started"},
		"#lease":        {"orgsync", "fencing token"},
		"#lag":          {"lag"},
		"#api":          {"/ 5000"},
		"#dead-letters": {"person/P-7", "erp → salesforce", "Phone must be a real number", "requeue…"},
	} {
		got := text(sel)
		for _, w := range want {
			if !strings.Contains(got, w) {
				t.Errorf("%s shows %q, want it to contain %q", sel, got, w)
			}
		}
	}

	if err := chromedp.Do(browser,
		chromedp.Click(chromedp.CSS("#dead-letters a.button")),
		chromedp.WaitVisible(chromedp.CSS("#token")),
		chromedp.SendKeys(chromedp.CSS("#token"), "let-me-requeue"),
		chromedp.Click(chromedp.CSS("#requeue")),
		chromedp.WaitVisible(chromedp.CSS("#no-dead-letters")),
	); err != nil {
		t.Fatalf("requeueing from the page: %v", err)
	}
	if flash := text("#flash"); !strings.Contains(flash, "applied") {
		t.Errorf("after the requeue the page says %q, want the change applied", flash)
	}

	// /metrics is scraped as Prometheus would.
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `sfsync_changes_processed_total{engine="contacts"}`) {
		t.Errorf("/metrics lacks the engine's counters:\n%s", body)
	}

	cancel() // Ctrl-C
	if err := <-done; err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "== stopped: drained and committed") || !strings.Contains(out.String(), "dead letters now 0") {
		t.Errorf("demo did not stop cleanly:\n%s", out.String())
	}
}

func saveScreenshot(t *testing.T, png []byte) {
	t.Helper()
	path := filepath.Join(t.ArtifactDir(), "status.png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}
