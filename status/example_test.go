package status_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/status"
	"github.com/sfsync/sfsync/store/memory"
	sfsyncsync "github.com/sfsync/sfsync/sync"
)

// idle stands in for a *sync.Engine in this example.
type idle struct{}

func (idle) Stats() sfsyncsync.Stats { return sfsyncsync.Stats{} }
func (idle) Health() error           { return nil }
func (idle) Requeue(context.Context, string) (sfsync.Outcome, error) {
	return sfsync.Outcome{}, sfsync.ErrNotFound
}

func Example() {
	state := memory.New()

	mux := http.NewServeMux()
	// In a program: status.New(engine, ...), engine a *sync.Engine.
	mux.Handle("/status/", http.StripPrefix("/status", status.New(idle{}, status.WithState(state))))

	srv := httptest.NewServer(mux)
	defer srv.Close()
	for _, path := range []string{"/status/healthz", "/status/readyz"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			panic(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Printf("%s %d %s", path, resp.StatusCode, body)
	}
	// Output:
	// /status/healthz 200 ok
	// /status/readyz 200 ready
}
