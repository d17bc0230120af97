package sync

import (
	"context"
	"time"

	"github.com/sfsync/sfsync"
)

// A GapFree source knows since when its stream is whole only in the run
// whose stream began from its fallback: one that resumes from a stored
// position cannot tell, though every commit since then is still either
// decided (before the position) or delivered again (after it). So the
// engine stores the time beside the checkpoint, before the first checkpoint
// of the stream that told it, and a later run that resumes from a stored
// position takes it as its source's, once the source has delivered from
// that position (one past retention begins again from its fallback, and
// the stored time is no longer its stream's). Without it a backfill's row
// resumed in a later run is bounded by the pin alone: a value the stream
// is about to deliver with its own, older version is taken as set at the
// row's version, and beats a newer edit of the other system's.
const gapFreeStreamPrefix = "sfsync/gapfree/"

// gapFreePosition returns the position that stores since when the source's
// stream is whole, when the source tells a time not stored yet. The
// committer puts it before the checkpoint it goes with: a crash between
// the two leaves the older checkpoint, which a run resumes from with the
// time of its own stream, or from its fallback. Committer only.
func (s *sourceState) gapFreePosition() (sfsync.Position, bool) {
	if !s.fromFallback.Load() {
		return sfsync.Position{}, false
	}
	g, isGapFree := s.src.(GapFree)
	st, isStreamer := s.src.(streamer)
	if !isGapFree || !isStreamer {
		return sfsync.Position{}, false
	}
	since, known := g.GapFreeSince()
	if !known || since.IsZero() || since.Equal(s.gapFreeSaved) {
		return sfsync.Position{}, false
	}
	s.gapFreeSaved = since
	return sfsync.Position{Stream: gapFreeStreamPrefix + st.Stream(), Token: []byte(since.UTC().Format(time.RFC3339Nano))}, true
}

// loadGapFree reads since when the stream the source resumes from its
// stored position is whole, as an earlier run stored it (zero when none
// did, or it cannot be read: the source then tells nothing, as before).
// Called before the source's intake starts.
func (e *Engine) loadGapFree(ctx context.Context, s *sourceState) {
	st, isStreamer := s.src.(streamer)
	if _, isGapFree := s.src.(GapFree); !isGapFree || !isStreamer {
		return
	}
	pos, err := e.st.checkpoints.LoadCheckpoint(ctx, gapFreeStreamPrefix+st.Stream())
	if err != nil {
		if !isNotFound(err) {
			e.log.Warn("sfsync: cannot read since when the stream is whole; a backfill bounds its rows by its pin alone", "stream", st.Stream(), "err", err)
		}
		return
	}
	at, err := time.Parse(time.RFC3339Nano, string(pos.Token))
	if err != nil {
		e.log.Warn("sfsync: unreadable time since which the stream is whole; a backfill bounds its rows by its pin alone", "stream", st.Stream(), "err", err)
		return
	}
	s.gapFreeStored = at
}

// gapFreeOf returns since when the source's stream delivers every commit:
// what the source tells, else, for a stream resumed from its stored
// position in this run, the time an earlier run stored for it. A stored
// position counts as resumed from once the source has delivered from it:
// until then it may turn out past retention (ErrPositionUnavailable), and
// the stream begin again from its fallback.
func (s *sourceState) gapFreeOf(g GapFree) (time.Time, bool) {
	if since, known := g.GapFreeSince(); known {
		return since, true
	}
	if !s.gapFreeStored.IsZero() && s.resumed.Load() && !s.fromFallback.Load() {
		return s.gapFreeStored, true
	}
	return time.Time{}, false
}

// gapFreePending reports whether the source has a stored time since when
// its stream is whole that it has not confirmed yet by delivering from its
// stored position (see gapFreeOf).
func (s *sourceState) gapFreePending() bool {
	return !s.gapFreeStored.IsZero() && !s.resumed.Load() && !s.fromFallback.Load()
}
