package sqlite_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/store/sqlite"
)

// Open a store in a file, commit a batch of finished work with its
// checkpoint, and find the checkpoint again after reopening the file.
func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "sfsync-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "state.db")

	s, err := sqlite.Open(ctx, path)
	if err != nil {
		log.Fatal(err)
	}
	err = s.CommitState(ctx, sfsync.Commit{
		Outcomes:    []sfsync.Outcome{{Key: "003A:tx1", Object: "Contact", RecordID: "003A", Status: sfsync.StatusApplied, At: time.Now()}},
		Claims:      []string{"003A:tx1"},
		ClaimTTL:    24 * time.Hour,
		Checkpoints: []sfsync.Position{{Stream: "/data/ContactChangeEvent", Token: []byte{0, 0, 0, 0, 0, 0, 0, 42}}},
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := s.Close(); err != nil {
		log.Fatal(err)
	}

	// The state survives: a new process resumes from the checkpoint.
	s, err = sqlite.Open(ctx, path)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	pos, err := s.LoadCheckpoint(ctx, "/data/ContactChangeEvent")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(pos.Stream, pos.Token)
	// Output: /data/ContactChangeEvent [0 0 0 0 0 0 0 42]
}
