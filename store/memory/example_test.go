package memory_test

import (
	"context"
	"fmt"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/store/memory"
)

func Example() {
	ctx := context.Background()
	store := memory.New()
	// The engine writes a batch of finished work in one commit.
	err := store.CommitState(ctx, sfsync.Commit{
		Outcomes:    []sfsync.Outcome{{Key: "003A:tx-1:1", Object: "Contact", RecordID: "003A", Status: sfsync.StatusApplied}},
		Claims:      []string{"003A:tx-1:1"},
		ClaimTTL:    time.Hour,
		Checkpoints: []sfsync.Position{{Stream: "/data/ContactChangeEvent", Token: []byte{0, 0, 0, 0, 0, 0, 0, 7}}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	cp, _ := store.LoadCheckpoint(ctx, "/data/ContactChangeEvent")
	seen, _ := store.Seen(ctx, "003A:tx-1:1")
	fmt.Println(cp.Token, seen, store.Durable())
	// Output: [0 0 0 0 0 0 0 7] true false
}
