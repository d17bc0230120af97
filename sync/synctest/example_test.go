package synctest_test

import (
	"context"
	"fmt"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/sync/synctest"
)

func Example() {
	// A system of record whose edits appear on a change feed, as an
	// external system's outbox would.
	feed := synctest.NewLog("erp/person")
	erp := synctest.NewSystem(sfsync.External("erp"), synctest.WithFeed(feed))
	erp.Edit("person", "P-1", map[string]any{"email": "ada@example.com"}, sfsync.Version{Time: time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)})

	// The feed is an event source the engine can consume.
	src := feed.Source()
	changes, err := src.Receive(context.Background())
	if err != nil {
		fmt.Println(err)
		return
	}
	rec, _ := erp.Record("person", "P-1")
	fmt.Println(changes[0].Op, changes[0].RecordID, changes[0].Fields["email"], rec.Fields["email"])
	// Output: create P-1 ada@example.com ada@example.com
}
