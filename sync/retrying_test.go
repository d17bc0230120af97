package sync_test

import (
	"context"
	"errors"
	stdsync "sync"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	sfsyncsync "github.com/sfsync/sfsync/sync"
	"github.com/sfsync/sfsync/sync/synctest"
)

// stubbornSink fails its first write retryably and holds its second until
// the test lets it through.
type stubbornSink struct {
	*synctest.System
	mu      stdsync.Mutex
	calls   int
	second  chan struct{}
	release chan struct{}
}

var errBusy = sfsync.Retryable(errors.New("erp busy"))

func (s *stubbornSink) Write(ctx context.Context, cs []sfsync.Change) error {
	s.mu.Lock()
	s.calls++
	n := s.calls
	s.mu.Unlock()
	switch n {
	case 1:
		return errBusy
	case 2:
		close(s.second)
		<-s.release
	}
	return s.System.Write(ctx, cs)
}

// While writes to a destination fail and are retried, Health says so, with
// the destination and the last failure; once they go through it no longer
// does.
func TestHealthShowsWritesBeingRetried(t *testing.T) {
	b := newBidi(t)
	b.sf.Edit("Contact", "003A", map[string]any{"Phone": "1"}, at(time.Second))
	sink := &stubbornSink{System: b.ext, second: make(chan struct{}), release: make(chan struct{})}
	src := b.sfLog.Source()
	e, err := sfsyncsync.New(src, nil, sfsyncsync.WithRoute(sfsyncsync.Route{To: erp, Sink: sink}),
		sfsyncsync.WithLogger(quiet()), sfsyncsync.WithTenant(org), sfsyncsync.WithStore(b.store), fastRetries(5))
	if err != nil {
		t.Fatal(err)
	}
	r := start(t, e)
	<-sink.second
	var re *sfsyncsync.RetryError
	if err := e.Health(); !errors.Is(err, sfsyncsync.ErrWritesRetrying) || !errors.As(err, &re) || re.To != erp || !errors.Is(re, errBusy) {
		t.Errorf("Health while retrying = %v, want a RetryError for %s carrying the last failure", err, erp)
	}
	close(sink.release)
	settle(t, b.sfLog, src)
	if err := e.Health(); err != nil {
		t.Errorf("Health after the retry went through = %v, want nil", err)
	}
	r.stop(t)
}

// rejectingSink rejects every write for good.
type rejectingSink struct{ *synctest.System }

func (rejectingSink) Write(context.Context, []sfsync.Change) error {
	return sfsync.Permanent(errors.New("validation rule: rejected"))
}

// One dead letter does not make the engine unready; dead letters piling up
// past the alarm do.
func TestHealthShowsDeadLettersGrowing(t *testing.T) {
	b := newBidi(t)
	e, err := sfsyncsync.New(b.sfLog.Source(), nil, sfsyncsync.WithRoute(sfsyncsync.Route{To: erp, Sink: rejectingSink{b.ext}}),
		sfsyncsync.WithLogger(quiet()), sfsyncsync.WithTenant(org), sfsyncsync.WithStore(b.store),
		sfsyncsync.WithDeadLetterAlarm(3, 10*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	r := start(t, e)
	// Outcomes are counted per minute right after their commit.
	counted := func(n int) {
		t.Helper()
		err := e.WaitUntil(context.Background(), func() bool {
			sum := 0
			for _, m := range e.OutcomesPerMinute(10) {
				sum += m.Counts[sfsync.StatusDeadLettered]
			}
			return sum >= n
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	b.sf.Edit("Contact", "003A", map[string]any{"Phone": "1"}, at(time.Second))
	counted(1)
	if err := e.Health(); err != nil {
		t.Errorf("Health after one dead letter = %v, want nil", err)
	}
	b.sf.Edit("Contact", "003B", map[string]any{"Phone": "2"}, at(2*time.Second))
	b.sf.Edit("Contact", "003C", map[string]any{"Phone": "3"}, at(3*time.Second))
	counted(3)
	if err := e.Health(); !errors.Is(err, sfsyncsync.ErrDeadLettersGrowing) {
		t.Errorf("Health after three dead letters = %v, want dead letters growing", err)
	}
	r.stop(t)
}
