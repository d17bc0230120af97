package sqlite

import (
	"context"
	"fmt"
	stdsync "sync"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
)

// TestEchoVisibleDuringGroupCommit pins a group commit inside its
// transaction, after it has taken the remembered writes from memory and
// inserted them uncommitted: MatchWrite must still find them (it once found
// them neither in memory nor in the table until the commit ended), and a
// write consumed then must not reappear once the commit lands.
func TestEchoVisibleDuringGroupCommit(t *testing.T) {
	ctx := context.Background()
	s := open(t, WithCompactionInterval(0))
	if err := s.RememberWrites(ctx, []string{"fp/of.our-write", "second/F.v", "third/F.v"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	inTx, release := make(chan struct{}), make(chan struct{})
	s.inTx = func() {
		close(inTx)
		<-release
	}
	var c sfsync.Commit
	for i := range 60 {
		c.Outcomes = append(c.Outcomes, sfsync.Outcome{Key: fmt.Sprint("k", i), Object: "Contact", RecordID: fmt.Sprint(i), Status: sfsync.StatusApplied, At: time.Now()})
	}
	done := make(chan error, 1)
	go func() { done <- s.CommitState(ctx, c) }()
	<-inTx

	during, err := s.MatchWrite(ctx, "fp/of.our-write")
	if err != nil {
		t.Fatal(err)
	}
	if !during {
		t.Error("a remembered, unexpired write was not matched while a group commit ran")
	}
	if err := s.RememberWrites(ctx, []string{"fourth/F.v"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		t.Fatalf("the commit finished while held inside its transaction: %v", err)
	default:
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	s.inTx = nil

	for fp, want := range map[string]bool{"fp/of.our-write": false, "second/F.v": true, "fourth/F.v": true} {
		if got, err := s.MatchWrite(ctx, fp); err != nil || got != want {
			t.Errorf("after the commit, MatchWrite(%q) = %v, %v; want %v", fp, got, err, want)
		}
	}
	var rows int
	if err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM echoes`).Scan(&rows); err != nil || rows != 1 {
		t.Errorf("%d echo rows after the commit, %v; want 1 (third/F.v): a write consumed in flight was stored", rows, err)
	}
}

// TestEchoesNeverMissedUnderConcurrentCommits remembers and matches writes
// while group commits run back to back, so that matches land in every
// phase of a commit.
func TestEchoesNeverMissedUnderConcurrentCommits(t *testing.T) {
	ctx := context.Background()
	s := open(t, WithCompactionInterval(0))
	stop := make(chan struct{})
	var committer stdsync.WaitGroup
	committer.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			c := sfsync.Commit{ClaimTTL: time.Hour}
			for j := range 20 {
				c.Claims = append(c.Claims, fmt.Sprintf("c%d-%d", i, j))
			}
			if err := s.CommitState(ctx, c); err != nil {
				t.Error(err)
				return
			}
		}
	})
	var workers stdsync.WaitGroup
	for w := range 4 {
		workers.Go(func() {
			const lag = 5 // match each write a few writes later, so some are in the table by then
			for i := range 400 + lag {
				if i < 400 {
					if err := s.RememberWrites(ctx, []string{fmt.Sprintf("w%d/r%d/F.v", w, i)}, time.Hour); err != nil {
						t.Error(err)
						return
					}
				}
				if i < lag {
					continue
				}
				fp := fmt.Sprintf("w%d/r%d/F.v", w, i-lag)
				if ok, err := s.MatchWrite(ctx, fp); err != nil || !ok {
					t.Errorf("MatchWrite(%s) = %v, %v; want true", fp, ok, err)
				}
			}
		})
	}
	workers.Wait()
	close(stop)
	committer.Wait()
}
