package postgres_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/store/postgres"
)

// Open a store in a schema of its own, take the subscription's lease, and
// commit a batch of finished work fenced by it.
func Example() {
	ctx := context.Background()
	s, err := postgres.Open(ctx, os.Getenv("SFSYNC_TEST_POSTGRES"),
		postgres.WithSchema("sfsync"),
		postgres.WithRetention(7*24*time.Hour),
	)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	lease, err := s.AcquireLease(ctx, "/data/ContactChangeEvent", "host-a", 30*time.Second)
	if err != nil {
		log.Fatal(err) // errors.Is(err, sfsync.ErrLeaseHeld): another instance consumes it
	}
	err = s.CommitState(ctx, sfsync.Commit{
		Outcomes:    []sfsync.Outcome{{Key: "003A:tx1", Object: "Contact", RecordID: "003A", Status: sfsync.StatusApplied, At: time.Now()}},
		Claims:      []string{"003A:tx1"},
		ClaimTTL:    24 * time.Hour,
		Checkpoints: []sfsync.Position{{Stream: "/data/ContactChangeEvent", Token: []byte{0, 0, 0, 0, 0, 0, 0, 42}}},
		Lease:       &lease,
	})
	if err != nil {
		log.Fatal(err) // errors.Is(err, sfsync.ErrFenced): stop, another instance took over
	}
	pos, err := s.LoadCheckpoint(ctx, "/data/ContactChangeEvent")
	fmt.Println(pos.Token, err)
}
