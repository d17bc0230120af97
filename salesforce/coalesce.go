package salesforce

import (
	"context"
	"errors"
	stdsync "sync"
	"time"

	"github.com/sfsync/sfsync"
)

// WithCoalesceWindow makes concurrent Write calls share API calls: the
// changes of every Write that starts within window of the first one (or
// until 200 changes wait) go out together, and each call returns the
// outcome of its own changes. The engine writes each record from one
// worker, so calls never interleave changes of one record. The default, 0,
// sends each Write on its own.
func WithCoalesceWindow(window time.Duration) SinkOption {
	return func(s *Sink) { s.window = window }
}

// sharedBatch collects the changes of concurrent Write calls.
type sharedBatch struct {
	ctx     context.Context // the first writer's values, without its cancellation
	changes []sfsync.Change
	once    stdsync.Once
	done    chan struct{}
	errs    []error // per change, after done
}

func (s *Sink) writeShared(ctx context.Context, changes []sfsync.Change) error {
	s.mu.Lock()
	b := s.pending
	if b == nil {
		b = &sharedBatch{ctx: context.WithoutCancel(ctx), done: make(chan struct{})}
		s.pending = b
		time.AfterFunc(s.window, func() { s.flush(b) })
	}
	off := len(b.changes)
	b.changes = append(b.changes, changes...)
	full := len(b.changes) >= MaxCollectionSize
	s.mu.Unlock()
	if full {
		s.flush(b)
	}
	select {
	case <-b.done:
	case <-ctx.Done():
		// The batch may still write these changes; the engine retries them
		// with the same keys, which upserts make harmless.
		return sfsync.Retryable(ctx.Err())
	}
	errs := b.errs[off : off+len(changes)]
	for _, e := range errs {
		if e != nil {
			return &sfsync.BatchError{Errs: errs}
		}
	}
	return nil
}

// flush writes b once, when its window ends or it is full.
func (s *Sink) flush(b *sharedBatch) {
	b.once.Do(func() {
		s.mu.Lock()
		if s.pending == b {
			s.pending = nil
		}
		changes := b.changes
		s.mu.Unlock()
		err := s.write(b.ctx, changes)
		b.errs = make([]error, len(changes))
		var be *sfsync.BatchError
		switch {
		case errors.As(err, &be):
			copy(b.errs, be.Errs)
		case err != nil:
			for i := range b.errs {
				b.errs[i] = err
			}
		}
		close(b.done)
	})
}
