package sync

import (
	"context"
	"time"

	"github.com/sfsync/sfsync"
)

// A source stream's "seen" time is the commit time of an event at or
// before its committed checkpoint. It is stored beside the checkpoint, at
// most once a minute, so that after an outage past retention only the
// window since then is backfilled: everything after the checkpoint was
// committed at or after it (less clock skew, which the window margin
// covers). Stored less often than the checkpoint, it is older than the
// checkpoint's own event, which only widens the window.
const (
	seenStreamPrefix = "sfsync/seen/"
	seenEvery        = time.Minute
)

// seenPosition returns the position to store for the commit time at of
// the source's newest committed event, when it is due. Committer only.
func (s *sourceState) seenPosition(at time.Time) (sfsync.Position, bool) {
	st, ok := s.src.(streamer)
	if !ok || at.IsZero() || at.Sub(s.seen) < seenEvery {
		return sfsync.Position{}, false
	}
	s.seen = at
	return sfsync.Position{Stream: seenStreamPrefix + st.Stream(), Token: []byte(at.UTC().Format(time.RFC3339Nano))}, true
}

// lostWindow is where a backfill of the changes a source lost (its
// position is past retention) starts: its stored seen time less the
// window margin; zero, the whole object, when nothing was stored.
func (e *Engine) lostWindow(ctx context.Context, s *sourceState) time.Time {
	st, ok := s.src.(streamer)
	if !ok {
		return time.Time{}
	}
	pos, err := e.st.checkpoints.LoadCheckpoint(ctx, seenStreamPrefix+st.Stream())
	if err != nil {
		if !isNotFound(err) {
			e.log.Warn("sfsync: cannot read when the stream was last seen; backfilling every record", "stream", st.Stream(), "err", err)
		}
		return time.Time{}
	}
	at, err := time.Parse(time.RFC3339Nano, string(pos.Token))
	if err != nil {
		e.log.Warn("sfsync: unreadable time the stream was last seen; backfilling every record", "stream", st.Stream(), "err", err)
		return time.Time{}
	}
	return at.Add(-e.cfg.windowMargin)
}
