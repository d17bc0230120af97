package sourcetest_test

import (
	"fmt"
	"testing"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/sourcetest"
	"github.com/sfsync/sfsync/sync/synctest"
)

// synctestTarget runs the suite on synctest's Source, the log reader other
// packages' tests use as an event source.
func synctestTarget(t *testing.T) sourcetest.Target {
	log := synctest.NewLog("erp/person")
	return sourcetest.Target{
		Open: func(t *testing.T, consumer string) sfsync.EventSource { return log.Source() },
		Emit: func(t *testing.T, record, value string) {
			log.Append(sfsync.Change{Source: sfsync.External("erp"), Object: "person", RecordID: record, Op: sfsync.OpUpdate,
				Fields: map[string]any{"name": value}, Key: "k-" + value})
		},
		Value: func(c sfsync.Change) (string, bool) { v, ok := c.Fields["name"].(string); return v, ok },
		Skip:  map[string]string{"CloseWhileBlocked": "synctest.Source has no Close: its Receive ends with its context"},
	}
}

func TestSynctestSource(t *testing.T) {
	sourcetest.Run(t, synctestTarget)
}

// Example shows a source running the whole suite from one test function.
func Example() {
	_ = func(t *testing.T) {
		sourcetest.Run(t, func(t *testing.T) sourcetest.Target {
			log := synctest.NewLog("erp/person")
			return sourcetest.Target{
				Open: func(t *testing.T, consumer string) sfsync.EventSource { return log.Source() },
				Emit: func(t *testing.T, record, value string) {
					log.Append(sfsync.Change{Object: "person", RecordID: record, Op: sfsync.OpUpdate, Fields: map[string]any{"name": value}})
				},
				Value: func(c sfsync.Change) (string, bool) { v, ok := c.Fields["name"].(string); return v, ok },
			}
		})
	}
	fmt.Println("sourcetest.Run(t, newTarget)")
	// Output: sourcetest.Run(t, newTarget)
}
