package pubsub

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/sfsync/sfsync"
)

// pinPoll is how often Pin looks for the subscription's first position.
const pinPoll = 20 * time.Millisecond

// Pin implements the engine's stream pinning for a backfill (sync.Pinner):
// it returns the subscription's position once every later event is sure
// to be delivered. With a stored replay id that is at once: the stream
// resumes after it. Without one (a first start, or after the stored id
// was past retention) the subscription starts from its fallback. With
// [ReplayEarliest] that is at once too: every retained event, and so
// every later one, is delivered. With [ReplayLatest] the position is that
// of the first event or keepalive the server sends on the new stream:
// every event committed after it is delivered, and every one before it is
// visible to a query made after Pin returns; on a quiet topic that is the
// first keepalive, which the server sends within 270 s. Pin starts the
// subscription when Receive has not yet.
func (s *Subscription) Pin(ctx context.Context) (sfsync.Position, error) {
	s.startOnce.Do(func() { go s.run() })
	if s.fallback == ReplayEarliest {
		// Every retained event is delivered, and so every later one:
		// nothing to wait for.
		return sfsync.Position{Stream: s.topic}, nil
	}
	t := time.NewTicker(pinPoll)
	defer t.Stop()
	for {
		s.mu.Lock()
		pos := slices.Clone(s.position)
		s.mu.Unlock()
		if pos != nil {
			return sfsync.Position{Stream: s.topic, Token: pos}, nil
		}
		select {
		case <-ctx.Done():
			return sfsync.Position{}, fmt.Errorf("pubsub: pinning %s: waiting for the first event or keepalive: %w", s.topic, ctx.Err())
		case <-s.done:
			return sfsync.Position{}, fmt.Errorf("pubsub: pinning %s: %w", s.topic, sfsync.ErrClosed)
		case <-t.C:
		}
	}
}

// System says whose changes the subscription delivers: Salesforce's (the
// engine's sync.SystemSource).
func (s *Subscription) System() sfsync.System { return sfsync.Salesforce }

// System says whose changes the subscription delivers: Salesforce's (the
// engine's sync.SystemSource).
func (s *ManagedSubscription) System() sfsync.System { return sfsync.Salesforce }

// GapFreeSince implements the engine's sync.GapFree: the commit time of
// the first event delivered since the subscription last started from its
// fallback (its stored replay id missing or past retention). Every later
// commit is delivered: from the oldest retained event on, or from the tip
// on. It reports false before that event, and for a subscription that
// resumed from a stored replay id, whose stream began in an earlier
// process.
func (s *Subscription) GapFreeSince() (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gapFreeSince, !s.gapFreeSince.IsZero()
}

// noteFirst records the commit time of changes, the first event of the
// fallback'th stream started from the fallback (see GapFreeSince); a
// stream started from it since makes it stale.
func (s *Subscription) noteFirst(fallback int, changes []sfsync.Change) {
	for _, c := range changes {
		if c.Version.IsZero() {
			continue
		}
		s.mu.Lock()
		if s.gapFreeSince.IsZero() && s.fallbacks == fallback {
			s.gapFreeSince = c.Version.Time
		}
		s.mu.Unlock()
		return
	}
}
