package sync_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/store/sqlite"
	sfsyncsync "github.com/sfsync/sfsync/sync"
	"github.com/sfsync/sfsync/sync/synctest"
)

// A change holding values no store or sink can take as they are (NaN, ±Inf,
// a NUL byte, invalid UTF-8) is dead-lettered with them described, its dead
// letter is stored, and the engine goes on, on every run.
func TestUnwritableValuesAreDeadLetteredAndTheEngineGoesOn(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	log := synctest.NewLog("erp/contacts")
	ext := synctest.NewSystem(sfsync.Salesforce)
	log.Append(sfsync.Change{Source: erp, Object: "Contact", RecordID: "C-1", Op: sfsync.OpUpdate, Key: "bad",
		Fields: map[string]any{"Amount": math.NaN(), "Score": math.Inf(-1), "Name": "a\x00b", "Title": "\xff\xfe"}, Version: at(0)})
	log.Append(sfsync.Change{Source: erp, Object: "Contact", RecordID: "C-2", Op: sfsync.OpUpdate, Key: "good",
		Fields: map[string]any{"Phone": "1"}, Version: at(time.Second)})

	runOnce := func() error {
		st, err := sqlite.Open(context.Background(), path)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		src := log.Source()
		e, err := sfsyncsync.New(src, ext, sfsyncsync.WithLogger(quiet()), sfsyncsync.WithStore(st),
			// e.g. a converter that rejects NaN; any permanent rejection will do
			sfsyncsync.WithValidator(func(c sfsync.Change) error {
				if v, ok := c.Fields["Amount"].(float64); ok && math.IsNaN(v) {
					return errors.New("Amount is NaN")
				}
				return nil
			}), fastRetries(2))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- e.Run(ctx) }()
		wait, stop := context.WithTimeout(context.Background(), 30*time.Second)
		defer stop()
		werr := src.WaitCommitted(wait, log.Len())
		cancel()
		if err := <-done; err != nil {
			return err
		}
		if werr != nil {
			return werr
		}
		d, err := st.DeadLetter(context.Background(), "bad")
		if err != nil {
			return fmt.Errorf("reading the dead letter: %w", err)
		}
		for _, want := range []string{"Amount is NaN", "Score is -Inf", "Name holds a NUL byte", "Title is not valid UTF-8"} {
			if !strings.Contains(d.Err, want) {
				t.Errorf("dead letter says %q, want it to mention %q", d.Err, want)
			}
		}
		if v, ok := d.Change.Fields["Amount"].(float64); !ok || !math.IsNaN(v) {
			t.Errorf("dead letter keeps Amount=%v, want NaN", d.Change.Fields["Amount"])
		}
		return nil
	}
	for i := 1; i <= 2; i++ {
		if err := runOnce(); err != nil {
			t.Errorf("run %d: %v; one bad event must be dead-lettered, not stop the engine", i, err)
		}
	}
	if r, ok := ext.Record("Contact", "C-2"); !ok || r.Fields["Phone"] != "1" {
		t.Errorf("the good change after the bad one did not arrive")
	}
}
