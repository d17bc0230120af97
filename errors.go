package sfsync

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Kind classifies a failure by what the caller should do about it.
type Kind int

// The kinds of failure. The zero Kind is KindUnknown, which the engine
// treats as retryable: an error it cannot classify is more likely transient
// than a verdict on the data, and retries are bounded.
const (
	KindUnknown Kind = iota
	// KindRetryable: timeouts, transient network errors, lock contention,
	// 5xx responses. Retry with backoff.
	KindRetryable
	// KindRateLimited: an API or concurrency limit. Retry after backing off,
	// and slow down.
	KindRateLimited
	// KindAuth: credentials expired or were rejected. Re-authenticate once,
	// then retry.
	KindAuth
	// KindConflict: the target changed underneath the write (precondition
	// failed, record deleted, several records matched). Re-read and decide
	// again rather than retrying blindly.
	KindConflict
	// KindPermanent: validation, permissions, schema, malformed input. The
	// same request will fail again: dead-letter it.
	KindPermanent
)

var kindNames = [...]string{"unknown", "retryable", "rate limited", "auth", "conflict", "permanent"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Retryable reports whether a failure of kind k may succeed when retried.
func (k Kind) Retryable() bool { return k != KindPermanent }

// Error is a classified failure. Packages wrap their own errors in it (or
// implement [Classifier]) so that the engine can decide between retry and
// dead letter without knowing the package.
type Error struct {
	Kind Kind
	// Code is a short machine-readable code from the failing system, such as
	// "UNABLE_TO_LOCK_ROW"; it may be empty.
	Code string
	// RetryAfter, when set, is the least time to wait before a retry.
	RetryAfter time.Duration
	Err        error
}

func (e *Error) Error() string {
	msg := "<nil>"
	if e.Err != nil {
		msg = e.Err.Error()
	}
	if e.Code != "" {
		return fmt.Sprintf("%s (%s, %s)", msg, e.Code, e.Kind)
	}
	return fmt.Sprintf("%s (%s)", msg, e.Kind)
}

func (e *Error) Unwrap() error { return e.Err }

// Classifier is implemented by errors that know their own Kind, such as a
// typed API error.
type Classifier interface {
	Kind() Kind
}

// Classify wraps err with kind. It returns nil for a nil err.
func Classify(kind Kind, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Kind: kind, Err: err}
}

// Retryable marks err as transient: retry with backoff.
func Retryable(err error) error { return Classify(KindRetryable, err) }

// Permanent marks err as a verdict on the input: do not retry.
func Permanent(err error) error { return Classify(KindPermanent, err) }

// RateLimited marks err as a limit response; after, if positive, is the
// least wait before retrying.
func RateLimited(err error, after time.Duration) error {
	if err == nil {
		return nil
	}
	return &Error{Kind: KindRateLimited, RetryAfter: after, Err: err}
}

// KindOf returns the Kind of the outermost classified error in err's chain.
// Context cancellation is KindRetryable: the work was interrupted, not
// judged. An unclassified error is KindUnknown.
func KindOf(err error) Kind {
	if err == nil {
		return KindUnknown
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	var c Classifier
	if errors.As(err, &c) {
		return c.Kind()
	}
	if errors.Is(err, ErrInvalid) {
		return KindPermanent
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return KindRetryable
	}
	return KindUnknown
}

// IsRetryable reports whether err may succeed when retried.
func IsRetryable(err error) bool { return err != nil && KindOf(err).Retryable() }

// IsPermanent reports whether err is classified as permanent.
func IsPermanent(err error) bool { return err != nil && KindOf(err) == KindPermanent }

// RetryAfter returns the least wait before a retry that err asks for, or 0.
func RetryAfter(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}

// Sentinel errors shared by every package.
var (
	// ErrInvalid: a change failed validation (malformed, foreign tenant,
	// unknown object, unmapped field). It is permanent.
	ErrInvalid = errors.New("sfsync: invalid change")
	// ErrNotFound: a stored item (dead letter, checkpoint, record) does not exist.
	ErrNotFound = errors.New("sfsync: not found")
	// ErrClosed: the component was closed; create a new one.
	ErrClosed = errors.New("sfsync: closed")
	// ErrFenced: a lease holder's fencing token is older than the store's:
	// another instance took over and this one must stop writing.
	ErrFenced = errors.New("sfsync: fenced by a newer lease holder")
)

// BatchError reports per-change failures of a batch write. Errs is aligned
// with the written changes: Errs[i] is nil when change i was applied.
type BatchError struct {
	Errs []error
}

func (e *BatchError) Error() string {
	n, first := 0, error(nil)
	for _, err := range e.Errs {
		if err != nil {
			if first == nil {
				first = err
			}
			n++
		}
	}
	if n == 0 {
		return "sfsync: batch write: no failures"
	}
	return fmt.Sprintf("sfsync: batch write: %d of %d changes failed; first: %v", n, len(e.Errs), first)
}

// Unwrap returns the individual failures, so errors.Is and errors.As look
// into them.
func (e *BatchError) Unwrap() []error {
	out := make([]error, 0, len(e.Errs))
	for _, err := range e.Errs {
		if err != nil {
			out = append(out, err)
		}
	}
	return out
}

// ErrorAt returns the error for change i of a batch write that returned
// err: nil for a nil err, Errs[i] for a *BatchError, and err itself for any
// other error, which applies to every change.
func ErrorAt(err error, i int) error {
	if err == nil {
		return nil
	}
	var be *BatchError
	if errors.As(err, &be) {
		if i < len(be.Errs) {
			return be.Errs[i]
		}
		return fmt.Errorf("sfsync: batch write returned %d results for change %d", len(be.Errs), i)
	}
	return err
}
