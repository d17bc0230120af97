package sqlite

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
)

// Commits leave checkpoints to the background connection, which copies the
// whole log back, so the log can restart.
func TestCheckpointsRunOutsideCommits(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "state.db"), WithCompactionInterval(0))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var auto int
	if err := s.w.QueryRowContext(ctx, `PRAGMA wal_autocheckpoint`).Scan(&auto); err != nil {
		t.Fatal(err)
	}
	if auto < 16384 {
		t.Fatalf("the writer checkpoints every %d pages inside its commits", auto)
	}
	at := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	for i := range 50 {
		o := benchOutcome(i, at)
		if err := s.CommitState(ctx, sfsync.Commit{Outcomes: []sfsync.Outcome{o}, Claims: []string{o.Key}, ClaimTTL: time.Hour}); err != nil {
			t.Fatal(err)
		}
	}
	_, left, err := s.checkpoint(ctx, "PASSIVE")
	if err != nil {
		t.Fatal(err)
	}
	if left != 0 {
		t.Fatalf("%d frames left in the log with no writer running", left)
	}
}
