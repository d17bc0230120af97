package synctest

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	stdsync "sync"

	"github.com/sfsync/sfsync"
)

// Log is an ordered, append-only stream of deliveries, like a Pub/Sub
// topic: each Append is one delivery with the next position.
type Log struct {
	stream string

	mu      stdsync.Mutex
	entries [][]sfsync.Change
	grown   chan struct{} // closed and replaced on every Append
}

// NewLog returns an empty log whose positions name stream.
func NewLog(stream string) *Log { return &Log{stream: stream, grown: make(chan struct{})} }

// Stream returns the stream name positions carry.
func (l *Log) Stream() string { return l.stream }

// Append adds one delivery of changes (several for a merged event) and
// stamps them with its position.
func (l *Log) Append(changes ...sfsync.Change) sfsync.Position {
	l.mu.Lock()
	defer l.mu.Unlock()
	pos := sfsync.Position{Stream: l.stream, Token: token(len(l.entries))}
	d := make([]sfsync.Change, len(changes))
	for i, c := range changes {
		c = c.Clone()
		c.Position = pos
		d[i] = c
	}
	l.entries = append(l.entries, d)
	close(l.grown)
	l.grown = make(chan struct{})
	return pos
}

// Len returns the number of deliveries.
func (l *Log) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.entries)
}

// Changes returns every change in the log, in order.
func (l *Log) Changes() []sfsync.Change {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []sfsync.Change
	for _, d := range l.entries {
		for _, c := range d {
			out = append(out, c.Clone())
		}
	}
	return out
}

// wait returns delivery i, blocking until it exists or ctx ends.
func (l *Log) wait(ctx context.Context, i int) ([]sfsync.Change, error) {
	for {
		l.mu.Lock()
		if i < len(l.entries) {
			d := l.entries[i]
			l.mu.Unlock()
			out := make([]sfsync.Change, len(d))
			for j, c := range d {
				out[j] = c.Clone()
			}
			return out, nil
		}
		grown := l.grown
		l.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-grown:
		}
	}
}

func token(i int) []byte { return binary.BigEndian.AppendUint64(nil, uint64(i)) }

// Index returns the delivery index a position of this package names.
func Index(pos sfsync.Position) (int, error) {
	if len(pos.Token) != 8 {
		return 0, fmt.Errorf("synctest: position token of %d bytes is not one of ours: %w", len(pos.Token), sfsync.ErrInvalid)
	}
	return int(binary.BigEndian.Uint64(pos.Token)), nil
}

// Source reads a Log as an [sfsync.EventSource]. It resumes after the
// engine's stored checkpoint (like a Pub/Sub CUSTOM replay) or, without
// one, from the start of the log.
type Source struct {
	log *Log

	mu          stdsync.Mutex
	next        int
	twice       bool
	replayed    bool // the current delivery was already sent once
	unavailable bool
	committed   int // deliveries committed
	backwards   []string
	changed     chan struct{}
}

// SourceOption configures a [Source].
type SourceOption func(*Source)

// DeliverTwice makes the source deliver every delivery twice in a row, as
// an at-least-once transport may.
func DeliverTwice() SourceOption { return func(s *Source) { s.twice = true } }

// PositionUnavailable makes the source fail its first Receive with
// [sfsync.ErrPositionUnavailable], as a subscription whose stored replay id
// is past retention does, and then continue from the end of the log.
func PositionUnavailable() SourceOption { return func(s *Source) { s.unavailable = true } }

// Source returns a new reader of l.
func (l *Log) Source(opts ...SourceOption) *Source {
	s := &Source{log: l, changed: make(chan struct{})}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Stream returns the log's stream name; the engine uses it to tell a first
// start (no checkpoint) from a resume.
func (s *Source) Stream() string { return s.log.stream }

// Resume continues after the stored checkpoint of the log's stream.
func (s *Source) Resume(ctx context.Context, cps sfsync.CheckpointStore) error {
	pos, err := cps.LoadCheckpoint(ctx, s.log.stream)
	if errors.Is(err, sfsync.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("synctest: loading checkpoint: %w", err)
	}
	i, err := Index(pos)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.next, s.committed = i+1, i+1
	// Waiters on the committed count see the resumed position.
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
	return nil
}

// Receive returns the next delivery, blocking until there is one.
func (s *Source) Receive(ctx context.Context) ([]sfsync.Change, error) {
	s.mu.Lock()
	if s.unavailable {
		s.unavailable = false
		s.next = s.log.Len()
		s.mu.Unlock()
		return nil, fmt.Errorf("synctest: stored position of %s is past retention: %w", s.log.stream, sfsync.ErrPositionUnavailable)
	}
	i := s.next
	s.mu.Unlock()
	d, err := s.log.wait(ctx, i)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	if s.twice && !s.replayed {
		s.replayed = true
	} else {
		s.replayed = false
		s.next++
	}
	s.mu.Unlock()
	return d, nil
}

// Commit records that everything up to pos has an outcome. A commit that
// moves backwards is recorded as a violation (see [Source.Violations]).
func (s *Source) Commit(_ context.Context, pos sfsync.Position) error {
	i, err := Index(pos)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if i+1 < s.committed {
		s.backwards = append(s.backwards, fmt.Sprintf("commit of delivery %d after %d", i, s.committed-1))
		return nil
	}
	s.committed = i + 1
	close(s.changed)
	s.changed = make(chan struct{})
	return nil
}

// Committed returns how many deliveries from the start of the log are
// committed.
func (s *Source) Committed() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.committed
}

// Violations lists commits that moved backwards; it should be empty.
func (s *Source) Violations() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.backwards...)
}

// WaitCommitted blocks until at least n deliveries are committed or ctx ends.
func (s *Source) WaitCommitted(ctx context.Context, n int) error {
	for {
		s.mu.Lock()
		done, changed := s.committed >= n, s.changed
		s.mu.Unlock()
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("synctest: %d of %d deliveries committed: %w", s.Committed(), n, ctx.Err())
		case <-changed:
		}
	}
}
