package sfsync_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
)

type codedErr struct{ kind sfsync.Kind }

func (e codedErr) Error() string     { return "coded" }
func (e codedErr) Kind() sfsync.Kind { return e.kind }

func TestKindOf(t *testing.T) {
	base := errors.New("boom")
	tests := []struct {
		name string
		err  error
		want sfsync.Kind
	}{
		{"nil", nil, sfsync.KindUnknown},
		{"plain", base, sfsync.KindUnknown},
		{"retryable", sfsync.Retryable(base), sfsync.KindRetryable},
		{"wrapped permanent", fmt.Errorf("write contact: %w", sfsync.Permanent(base)), sfsync.KindPermanent},
		{"outermost wins", sfsync.Permanent(sfsync.Retryable(base)), sfsync.KindPermanent},
		{"classifier", fmt.Errorf("x: %w", codedErr{sfsync.KindConflict}), sfsync.KindConflict},
		{"invalid sentinel", fmt.Errorf("validate: %w", sfsync.ErrInvalid), sfsync.KindPermanent},
		{"deadline", fmt.Errorf("call: %w", context.DeadlineExceeded), sfsync.KindRetryable},
		{"rate limited", sfsync.RateLimited(base, time.Second), sfsync.KindRateLimited},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := sfsync.KindOf(tt.err); got != tt.want {
				t.Fatalf("KindOf = %v, want %v", got, tt.want)
			}
		})
	}
	if !sfsync.IsRetryable(base) {
		t.Error("an unclassified error should be retried (bounded)")
	}
	if sfsync.IsRetryable(nil) || sfsync.IsPermanent(nil) {
		t.Error("nil is neither retryable nor permanent")
	}
	if !errors.Is(sfsync.Permanent(base), base) {
		t.Error("classification must keep the chain for errors.Is")
	}
	if got := sfsync.RetryAfter(fmt.Errorf("w: %w", sfsync.RateLimited(base, 3*time.Second))); got != 3*time.Second {
		t.Errorf("RetryAfter = %v", got)
	}
}

func TestBatchError(t *testing.T) {
	perm := sfsync.Permanent(errors.New("REQUIRED_FIELD_MISSING"))
	be := &sfsync.BatchError{Errs: []error{nil, perm, nil}}
	if sfsync.ErrorAt(be, 0) != nil || sfsync.ErrorAt(be, 1) != perm {
		t.Fatal("ErrorAt does not index the batch")
	}
	if sfsync.ErrorAt(be, 5) == nil {
		t.Fatal("ErrorAt out of range must report a mismatch, not success")
	}
	whole := errors.New("connection reset")
	if sfsync.ErrorAt(whole, 2) != whole {
		t.Fatal("a non-batch error applies to every change")
	}
	if !errors.Is(be, perm) {
		t.Fatal("errors.Is must see into a BatchError")
	}
	if sfsync.ErrorAt(nil, 0) != nil {
		t.Fatal("nil error means applied")
	}
}
