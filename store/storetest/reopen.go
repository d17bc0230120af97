package storetest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
)

// Durable is a [Store] that can be closed and opened again on the same data.
type Durable interface {
	Store
	Close() error
}

// RunReopen tests that committed state survives closing the store and
// opening it again: open returns a fresh store and a function that opens
// the same data anew.
func RunReopen(t *testing.T, open func(t *testing.T) (Durable, func(t *testing.T) Durable)) {
	ctx := context.Background()
	s, reopen := open(t)
	l := must(s.AcquireLease(ctx, "sub", "a", time.Hour))(t)
	noErr(t, s.CommitState(ctx, sfsync.Commit{
		Outcomes: []sfsync.Outcome{{Key: "k1", Object: "Contact", RecordID: "003A", Status: sfsync.StatusApplied, At: time.Unix(100, 5)}},
		// A key claimed twice and a stream checkpointed twice in one commit:
		// the last checkpoint counts.
		Claims:   []string{"k1", "k1"},
		ClaimTTL: time.Hour,
		Checkpoints: []sfsync.Position{
			{Stream: "/data/ContactChangeEvent", Token: []byte{1}},
			{Stream: "/data/ContactChangeEvent", Token: []byte{0, 0, 0, 0, 0, 0, 0, 42}},
		},
		Versions: versionSamples("Contact/003A"),
		Lease:    &l,
	}))
	noErr(t, s.PutAppliedVersions(ctx, versionSamples("Contact/003B")))
	// Remembered last, with no commit after it: Close must keep it.
	noErr(t, s.RememberWrites(ctx, []string{"fp1"}, time.Hour))
	noErr(t, s.Close())
	if _, err := s.Seen(ctx, "k1"); !errors.Is(err, sfsync.ErrClosed) {
		t.Errorf("Seen after Close: %v, want ErrClosed", err)
	}

	s = reopen(t)
	defer s.Close()
	if !must(s.Seen(ctx, "k1"))(t) {
		t.Error("claim lost across reopen")
	}
	p := must(s.LoadCheckpoint(ctx, "/data/ContactChangeEvent"))(t)
	if !slices.Equal(p.Token, []byte{0, 0, 0, 0, 0, 0, 0, 42}) {
		t.Errorf("checkpoint after reopen = %v, want the commit's", p.Token)
	}
	os := must(s.Outcomes(ctx, sfsync.OutcomeQuery{Key: "k1"}))(t)
	if len(os) != 1 || !os[0].At.Equal(time.Unix(100, 5)) {
		t.Errorf("outcomes after reopen = %+v", os)
	}
	if _, err := s.AcquireLease(ctx, "sub", "b", time.Hour); !errors.Is(err, sfsync.ErrLeaseHeld) {
		t.Errorf("lease forgotten across reopen: %v", err)
	}
	checkVersions(t, "versions after reopen", must(s.AppliedVersions(ctx, []string{"Contact/003A", "Contact/003B"}))(t),
		append(versionSamples("Contact/003A"), versionSamples("Contact/003B")...))
	if !must(s.MatchWrite(ctx, "fp1"))(t) {
		t.Error("write fingerprint lost across reopen")
	}
}
