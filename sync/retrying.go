package sync

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	stdsync "sync"
	"time"

	"github.com/sfsync/sfsync"
)

// ErrWritesRetrying is the error of a destination whose writes fail and
// are being retried: the engine is degraded until one succeeds (see
// [Engine.Health]).
var ErrWritesRetrying = errors.New("writes failing and retried")

// RetryError is one destination whose writes are being retried.
type RetryError struct {
	// To is the destination system; Since when its writes began to fail;
	// Err the last failure.
	To    sfsync.System
	Since time.Time
	Err   error
}

func (r *RetryError) Error() string {
	return fmt.Sprintf("sync: writes to %s failing and retried since %s: %v", r.To, r.Since.UTC().Format(time.RFC3339), r.Err)
}

// Unwrap returns ErrWritesRetrying and the last failure.
func (r *RetryError) Unwrap() []error { return []error{ErrWritesRetrying, r.Err} }

// retryState tracks, per destination, the writes being retried.
type retryState struct {
	mu       stdsync.Mutex
	failing  map[sfsync.System]*RetryError
	inFlight map[sfsync.System]int // write loops of the destination now retrying
}

// retrying records that a write loop to to is retrying after err.
func (e *Engine) retrying(to sfsync.System, err error, first bool) {
	rs := &e.retries
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.failing == nil {
		rs.failing, rs.inFlight = map[sfsync.System]*RetryError{}, map[sfsync.System]int{}
	}
	if first {
		rs.inFlight[to]++
	}
	if r, ok := rs.failing[to]; ok {
		r.Err = err
		return
	}
	rs.failing[to] = &RetryError{To: to, Since: e.cfg.clock(), Err: err}
}

// retried records that a write loop to to that was retrying ended (its
// writes went through, or gave up into dead letters).
func (e *Engine) retried(to sfsync.System) {
	rs := &e.retries
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.inFlight[to]--; rs.inFlight[to] <= 0 {
		delete(rs.inFlight, to)
		delete(rs.failing, to)
	}
}

// retryErrors are the destinations being retried, for Health.
func (e *Engine) retryErrors() []error {
	rs := &e.retries
	rs.mu.Lock()
	defer rs.mu.Unlock()
	var errs []error
	for _, r := range rs.failing {
		copied := *r
		errs = append(errs, &copied)
	}
	slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
	return errs
}

// ErrDeadLettersGrowing is the error of an engine that dead-lettered more
// changes in the last minutes than its alarm allows (see
// [WithDeadLetterAlarm]): something systematic (a mapping, a validation
// rule, a credential) is failing, not one bad record.
var ErrDeadLettersGrowing = errors.New("dead letters growing")

// DefaultDeadLetterAlarm is how many dead letters within
// DefaultDeadLetterWindow make the engine degraded.
const (
	DefaultDeadLetterAlarm  = 10
	DefaultDeadLetterWindow = 10 * time.Minute
)

// WithDeadLetterAlarm makes Health report the engine degraded
// ([ErrDeadLettersGrowing]) while at least n changes were dead-lettered
// within the last window (1 to 60 minutes; default
// [DefaultDeadLetterAlarm] within [DefaultDeadLetterWindow]). One bad
// record does not make the engine unready; a stream of them does. n of 0
// turns the alarm off.
func WithDeadLetterAlarm(n int, window time.Duration) Option {
	return func(c *config) { c.deadAlarm, c.deadWindow = max(n, 0), window }
}

// deadLetterErrors reports growing dead letters, for Health.
func (e *Engine) deadLetterErrors() []error {
	if e.cfg.deadAlarm <= 0 {
		return nil
	}
	minutes := int(max(e.cfg.deadWindow, time.Minute) / time.Minute)
	n := 0
	for _, m := range e.OutcomesPerMinute(minutes) {
		n += m.Counts[sfsync.StatusDeadLettered]
	}
	if n < e.cfg.deadAlarm {
		return nil
	}
	return []error{fmt.Errorf("sync: %d changes dead-lettered in the last %d minutes (alarm at %d): %w; see the dead-letter store",
		n, minutes, e.cfg.deadAlarm, ErrDeadLettersGrowing)}
}
