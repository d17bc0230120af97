package sync_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/sync"
	"github.com/sfsync/sfsync/sync/synctest"
)

func Example() {
	// A stream of Salesforce changes and an external system to sync into.
	stream := synctest.NewLog("/data/ContactChangeEvent")
	erp := synctest.NewSystem(sfsync.External("erp"))

	source := stream.Source()
	engine, err := sync.New(source, erp, sync.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		panic(err)
	}
	stream.Append(sfsync.Change{
		Source: sfsync.Salesforce, Object: "Contact", RecordID: "003A", Op: sfsync.OpUpdate,
		Fields:  map[string]any{"Phone": "+1 555 0100"},
		Version: sfsync.Version{Time: time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)},
		Key:     "003A:tx1:1",
	})

	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- engine.Run(ctx) }()
	if err := source.WaitCommitted(ctx, 1); err != nil {
		panic(err)
	}
	stop()
	if err := <-done; err != nil {
		panic(err)
	}

	contact, _ := erp.Record("Contact", "003A")
	fmt.Println("erp Phone:", contact.Fields["Phone"])
	fmt.Println("applied:", engine.Stats().Applied)
	// Output:
	// erp Phone: +1 555 0100
	// applied: 1
}
