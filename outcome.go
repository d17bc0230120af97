package sfsync

import (
	"errors"
	"time"
)

// Status is what finally happened to a change.
type Status string

// The outcomes of a change. Every change the engine receives ends with
// exactly one of them.
const (
	StatusApplied Status = "applied"
	// StatusDuplicate: the idempotency key already had an outcome.
	StatusDuplicate Status = "duplicate"
	// StatusEcho: the change was caused by the engine's own write.
	StatusEcho Status = "echo"
	// StatusNoop: the target already held the values.
	StatusNoop Status = "noop"
	// StatusConflictLost: the conflict policy kept the target's state.
	StatusConflictLost Status = "conflict_lost"
	// StatusStale: an older change than one already applied to the record.
	StatusStale Status = "stale"
	// StatusReconciled: a gap or overflow handed to the reconciler.
	StatusReconciled Status = "reconciled"
	// StatusSkipped: not routed anywhere, or of a kind the engine ignores.
	StatusSkipped Status = "skipped"
	// StatusDeadLettered: the change could not be applied.
	StatusDeadLettered Status = "dead_lettered"
	// StatusRetrying is not the outcome of a change but of an attempt at a
	// background job, a backfill, that failed and will run again; the
	// ledger shows it so that the failure is never only a log line.
	StatusRetrying Status = "retrying"
)

// Outcome is the ledger entry of one change.
type Outcome struct {
	Key         string
	Tenant      string
	Object      string
	RecordID    string
	Source      System
	Destination System
	Op          Op
	Status      Status
	// Reason says why, in words.
	Reason   string
	Attempts int
	Version  Version
	Position Position
	At       time.Time
}

// OutcomeQuery selects ledger entries. Zero fields match everything.
type OutcomeQuery struct {
	Object   string
	RecordID string
	Key      string
	Status   Status
	Since    time.Time
	// Limit caps the number of results; 0 means the store's default.
	Limit int
}

// Matches reports whether o is selected by q (Limit aside).
func (q OutcomeQuery) Matches(o Outcome) bool {
	return (q.Object == "" || q.Object == o.Object) &&
		(q.RecordID == "" || q.RecordID == o.RecordID) &&
		(q.Key == "" || q.Key == o.Key) &&
		(q.Status == "" || q.Status == o.Status) &&
		(q.Since.IsZero() || !o.At.Before(q.Since))
}

// DeadLetter is a change that could not be applied, with why.
type DeadLetter struct {
	Change Change
	// Destination is the system the write was for.
	Destination System
	Err         string
	Kind        Kind
	Attempts    int
	FirstFailed time.Time
	LastFailed  time.Time
}

// Key is the dead letter's identity: its change's idempotency key.
func (d *DeadLetter) Key() string { return d.Change.Key }

// DeadLetterQuery selects dead letters. Zero fields match everything.
type DeadLetterQuery struct {
	Object string
	Since  time.Time
	Limit  int
}

// Matches reports whether d is selected by q (Limit aside).
func (q DeadLetterQuery) Matches(d DeadLetter) bool {
	return (q.Object == "" || q.Object == d.Change.Object) &&
		(q.Since.IsZero() || !d.LastFailed.Before(q.Since))
}

// More sentinel errors.
var (
	// ErrPositionUnavailable: a source cannot resume from its stored
	// position (for Pub/Sub, a replay id past the 72-hour retention or
	// otherwise rejected). Backfill from authoritative state.
	ErrPositionUnavailable = errors.New("sfsync: stored source position is unavailable")
	// ErrLeaseHeld: another holder has the lease; try again after it expires.
	ErrLeaseHeld = errors.New("sfsync: lease is held by another instance")
)
