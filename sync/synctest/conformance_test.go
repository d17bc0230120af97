package synctest_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/sinktest"
	"github.com/sfsync/sfsync/sync/synctest"
)

// TestSystemConformance runs the sink conformance suite on System, the
// stand-in other packages' tests write to, so that it behaves as a real
// sink must.
func TestSystemConformance(t *testing.T) {
	sinktest.Run(t, func(t *testing.T) sinktest.Target {
		const object, reject = "Customer", "REJECT-ME"
		fields := []string{"Name", "Email", "Phone"}
		sys := synctest.NewSystem(sfsync.External("erp"), synctest.WithSchema(object, fields...))
		sys.InjectFault(synctest.Fault{
			Match: func(c sfsync.Change) bool { return c.Object == object && c.Fields[fields[0]] == reject },
			Err:   sfsync.Permanent(errors.New("erp: Name REJECT-ME is not allowed")),
			Times: -1,
		})
		return sinktest.Target{
			Sink: sys, Reader: sys,
			Lookup: func(t *testing.T, object, id string) (map[string]any, bool) {
				r, ok := sys.Record(object, id)
				return r.Fields, ok && r.Exists && !r.Deleted
			},
			Object: object, Fields: fields, Reject: reject,
			NewID: func(i int) string { return fmt.Sprintf("C-%d", i) },
		}
	})
}
