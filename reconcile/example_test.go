package reconcile_test

import (
	"context"
	"fmt"
	"iter"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/reconcile"
)

func ExampleReconciler() {
	authority := reconcile.AuthorityFunc(func(ctx context.Context, object string, ids []string, since time.Time) iter.Seq2[sfsync.Record, error] {
		return func(yield func(sfsync.Record, error) bool) {
			yield(sfsync.Record{Object: object, ID: "003000000000001AAA", Exists: true,
				Fields: map[string]any{"Email": "ada@example.com"}}, nil)
		}
	})
	r := reconcile.New(authority, reconcile.WithRate(100, 10))
	_ = r.Reconcile(context.Background(), sfsync.Scope{Object: "Contact", Reason: "gap"},
		func(_ context.Context, c sfsync.Change) error {
			fmt.Println(c.Op, c.Object, c.RecordID, c.Fields["Email"])
			return nil
		})
	// Output: update Contact 003000000000001AAA ada@example.com
}
