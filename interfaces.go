package sfsync

import (
	"context"
	"strings"
	"time"
)

// EventSource delivers changes in source order.
//
// The changes returned by one Receive call form one delivery: they share
// the position of the last of them (a merged CDC event carries several
// records), and the engine commits that position only after every change
// of the delivery, and every earlier delivery, has a durable outcome.
// Receive blocks until a delivery is ready or ctx ends; the engine calls it
// only when it has room, which is how backpressure reaches the source.
//
// A source that cannot resume from its stored position (past retention)
// returns an error matching [ErrPositionUnavailable] from Receive once; the
// engine then backfills through its [Reconciler] and calls Receive again,
// and the source continues from its configured fallback.
type EventSource interface {
	Receive(ctx context.Context) ([]Change, error)
	// Commit tells the source that everything up to and including pos has a
	// durable outcome, so it may resume after pos and release what it holds.
	Commit(ctx context.Context, pos Position) error
}

// Resumer is implemented by event sources that resume from checkpoints the
// engine stored. The engine calls Resume once, before the first Receive.
type Resumer interface {
	Resume(ctx context.Context, checkpoints CheckpointStore) error
}

// DedupStore remembers idempotency keys of changes that have an outcome, for
// a TTL, so that a redelivered change is recognised as a duplicate.
type DedupStore interface {
	// Seen reports whether key was claimed and has not expired.
	Seen(ctx context.Context, key string) (bool, error)
	// Claim records key for ttl and reports whether the caller was first:
	// of concurrent claims of one key exactly one returns true. Claiming a
	// key whose earlier claim expired succeeds again.
	Claim(ctx context.Context, key string, ttl time.Duration) (bool, error)
}

// SeenBatcher is implemented by dedup stores that answer many lookups in
// one round trip. The engine then asks once per batch of changes instead of
// once per change. SeenMany returns the keys that are claimed and live;
// absent keys were not seen.
type SeenBatcher interface {
	SeenMany(ctx context.Context, keys []string) (map[string]bool, error)
}

// ConflictPolicy decides what of an incoming change to write to a target
// whose current state is current. Decide must be a pure, deterministic
// function of its arguments: no clock reads, no I/O, no randomness, so
// replays and reconciliation always decide the same way.
type ConflictPolicy interface {
	Decide(in Change, current Record) Decision
}

// ConflictPolicyFunc adapts a function to [ConflictPolicy].
type ConflictPolicyFunc func(in Change, current Record) Decision

// Decide calls f(in, current).
func (f ConflictPolicyFunc) Decide(in Change, current Record) Decision { return f(in, current) }

// Decision is a conflict policy's verdict on one change.
type Decision struct {
	// Apply says whether anything is written.
	Apply bool
	// Keep lists the fields to write when Apply is true. Fields of the change
	// not in Keep are not written and should be explained in Dropped. Keep is
	// ignored for operations that carry no fields (delete, undelete).
	Keep []string
	// Dropped explains, per field, why it is not written.
	Dropped map[string]string
	// Reason says why, for the outcome ledger and logs.
	Reason string
}

// ApplyAll is the decision to write every field c touches.
func ApplyAll(c Change, reason string) Decision {
	return Decision{Apply: true, Keep: c.Touched(), Reason: reason}
}

// Reject is the decision to write nothing.
func Reject(reason string) Decision { return Decision{Reason: reason} }

// Sink writes changes to a target system.
//
// Write applies changes in slice order (several may name the same record,
// oldest first) and carries each change's Key to the target so that a
// retried write applies at most once. It returns nil when all were applied,
// a [*BatchError] when only some failed, or another error that applies to
// all. Errors should be classified (see [Kind]) so the engine can tell a
// retry from a dead letter.
type Sink interface {
	Write(ctx context.Context, changes []Change) error
}

// StateReader is implemented by sinks that can read the target's current
// state for conflict decisions. Read returns the records it found, keyed by
// id; a missing id means the record does not exist.
type StateReader interface {
	Read(ctx context.Context, object string, ids []string) (map[string]Record, error)
}

// ConditionalSink is implemented by sinks that can apply a write only if
// the target record is still as the engine read it: a compare-and-swap, as
// HTTP's If-Match is.
//
// The engine decides a change against the record it read (see
// [StateReader]) and writes it a moment later. A target that its own users
// edit, such as a database, may take an edit of the record in between;
// a plain [Sink.Write] would then overwrite that edit with a change that
// was never decided against it, and when the edit's own event later
// reaches the other system, the two systems hold different values with
// nothing left to reconcile them. With a ConditionalSink the engine writes
// through WriteIf instead (on routes that read state), and a write that
// finds the record changed fails as a conflict: the engine reads the
// record again and decides again, against the edit. The records it passes
// are those its route's StateReader returned, which is the sink itself
// unless the route names another; a reader of another copy of the target
// would make every precondition fail.
type ConditionalSink interface {
	Sink
	// WriteIf is [Sink.Write] with a precondition per change: changes[i]
	// applies only if its record is still as read[i] describes it, the
	// record the engine decided changes[i] against, as the sink's Read
	// returned it (entity and field names as the sink uses them; Fields
	// may be absent, a precondition is on existence and versions). When
	// read[i].Exists is false the record must still not exist; otherwise
	// it must exist with the same Deleted, Version and field versions:
	// any write since the read, by whoever, fails the precondition.
	// Versions compare as [Version.Compare] does, not by representation.
	//
	// Several changes of one record in one call share its precondition:
	// it is checked before the first of them, which is what the engine
	// read, and the later ones apply on top of the earlier ones, as in
	// Write, or fail with the first.
	//
	// A change whose precondition fails fails alone with an [*Error] of
	// [KindConflict] in a [*BatchError] (or as the error, for a single
	// change): nothing of it is applied and its idempotency key is not
	// consumed, so the same change, decided again, can be written with the
	// same key. The other changes apply as in Write. A change that names
	// no record ([OpEvent]) has the zero Record and no precondition.
	WriteIf(ctx context.Context, changes []Change, read []Record) error
}

// Scope says what a reconciliation covers.
type Scope struct {
	Tenant string
	Object string
	// IDs restricts the scope to these records; empty means the whole object.
	IDs []string
	// Since restricts the scope to records modified at or after it; zero
	// means all time.
	Since time.Time
	// Reason is why the reconciliation runs (gap event, overflow, lost
	// position, drift check), for logs and the ledger.
	Reason string
}

// Reconciler reads authoritative state and emits it as changes, so that the
// engine can correct drift through the same pipeline as live events. emit
// blocks while the engine is busy (backpressure) and returns an error when
// the engine stops.
type Reconciler interface {
	Reconcile(ctx context.Context, scope Scope, emit func(context.Context, Change) error) error
}

// ReconcileProgress is how far a reconciliation of a whole object has
// come, as a [ResumableReconciler] reports it.
type ReconcileProgress struct {
	// Phase is "querying" while the authority prepares the records (a
	// Bulk API job runs) and "reading" while they are emitted.
	Phase string
	// Read is the number of records read so far, this run and the runs it
	// resumes.
	Read int64
	// Total is the number of records the scan covers, or -1 when unknown.
	Total int64
	// Resume is where a later run of the same scope continues: after
	// every record emitted before this report. Nil means from the start.
	Resume []byte
}

// ResumableReconciler is a [Reconciler] whose scans of a whole object
// report their progress and continue where an interrupted run stopped: a
// backfill of millions of records survives a restart without starting
// again.
//
// ReconcileFrom scans scope from resume (nil: from the start; a token the
// reconciler cannot use any more, such as one naming an expired job, also
// starts again), emits changes as Reconcile does, and calls progress now
// and then. The engine stores a report's Resume durably only once every
// change emitted before the report has a durable outcome, so a report
// must come between records, never before the records it covers are
// emitted. progress may block; an error from it ends the scan with that
// error.
type ResumableReconciler interface {
	Reconciler
	ReconcileFrom(ctx context.Context, scope Scope, resume []byte, emit func(context.Context, Change) error, progress func(context.Context, ReconcileProgress) error) error
}

// CheckpointStore stores the last committed position per stream.
type CheckpointStore interface {
	// LoadCheckpoint returns the committed position of stream, or an error
	// matching [ErrNotFound] when there is none.
	LoadCheckpoint(ctx context.Context, stream string) (Position, error)
	SaveCheckpoint(ctx context.Context, pos Position) error
}

// Ledger is the durable record of every change's outcome: the audit trail
// of what happened to a record and why.
type Ledger interface {
	RecordOutcomes(ctx context.Context, outcomes []Outcome) error
	// Outcomes returns outcomes matching q, oldest first.
	Outcomes(ctx context.Context, q OutcomeQuery) ([]Outcome, error)
}

// DeadLetterStore keeps changes that could not be applied, for inspection,
// requeue and purge.
type DeadLetterStore interface {
	// PutDeadLetter stores d. A dead letter with the same change key
	// replaces the earlier one (its attempts add up), so a change is
	// dead-lettered at most once.
	PutDeadLetter(ctx context.Context, d DeadLetter) error
	DeadLetters(ctx context.Context, q DeadLetterQuery) ([]DeadLetter, error)
	// DeadLetter returns the dead letter of change key, or an error
	// matching [ErrNotFound].
	DeadLetter(ctx context.Context, key string) (DeadLetter, error)
	DeleteDeadLetter(ctx context.Context, key string) error
}

// EchoStore remembers fingerprints of writes this engine made, so that the
// change events those writes cause are recognised as echoes and not written
// back again.
//
// A fingerprint is "<place>.<value>": place names the system, object,
// record and field written, value the value written (see
// [FingerprintPlace]). Each remembered fingerprint is one write, expected to
// come back as one change of that field: remembering the same fingerprint
// twice expects two echoes.
type EchoStore interface {
	RememberWrites(ctx context.Context, fingerprints []string, ttl time.Duration) error
	// MatchWrite consumes the oldest live write remembered at fingerprint's
	// place, whatever its value, and reports whether that write's value is
	// fingerprint's value. The first change of a field after our write is
	// its echo or proof that there will be none; either way the write is
	// used up, so a later edit back to the value we wrote is never taken
	// for an echo. A remembered write is visible to MatchWrite from the
	// moment RememberWrites returns until it is consumed or expires.
	MatchWrite(ctx context.Context, fingerprint string) (bool, error)
}

// FingerprintPlace returns the place part of a write fingerprint: what was
// written to, without the value.
func FingerprintPlace(fingerprint string) string {
	if i := strings.LastIndexByte(fingerprint, '.'); i >= 0 {
		return fingerprint[:i]
	}
	return fingerprint
}

// VersionStore keeps, durably, the newest version of the data the engine
// applied per record, source system and field. It is what keeps an older
// change from overwriting newer data across restarts, retries, requeues and
// reconciliation, and what tells a backfill's snapshot row from a newer
// event. The engine writes entries through [Commit].Versions, in the same
// transaction as the outcomes that caused them, and only ever writes a
// version newer than the one it read, so a store keeps the last entry
// written for each (Record, Source, Field).
type VersionStore interface {
	// AppliedVersions returns the entries stored for records (each a
	// [Change.RecordKey]), in no particular order; a record with none has
	// no entries.
	AppliedVersions(ctx context.Context, records []string) ([]AppliedVersion, error)
	// PutAppliedVersions stores vs outside a commit.
	PutAppliedVersions(ctx context.Context, vs []AppliedVersion) error
}

// AppliedVersion is one entry of the durable version map.
type AppliedVersion struct {
	// Record is the record's [Change.RecordKey].
	Record string
	// Source is the system whose data was applied.
	Source System
	// Field is the field, or a name the engine reserves for the record as a
	// whole (its newest change, its newest delete).
	Field   string
	Version Version
	// ValueHash identifies the field's value in the data applied (a hash of
	// its normal form), so that the engine can tell later whether a system
	// whose changes it could not see (their events expired) still holds
	// it. Zero when not known: entries of the record as a whole, and
	// entries written before the engine kept it. A store keeps it with the
	// entry and returns it as it was put.
	ValueHash uint64
}

// StateCommitter is implemented by stores that persist a batch of finished
// work in one transaction (group commit). The engine prefers it to calling
// the individual store methods.
type StateCommitter interface {
	CommitState(ctx context.Context, c Commit) error
}

// Commit is the state of a batch of finished changes, written atomically:
// outcomes, dead letters and dedup claims first, checkpoints last, and
// checkpoints only if Lease (when set) is still the newest lease.
type Commit struct {
	Outcomes    []Outcome
	DeadLetters []DeadLetter
	Claims      []string
	ClaimTTL    time.Duration
	Checkpoints []Position
	// Versions are durable version map entries (see [VersionStore]).
	Versions []AppliedVersion
	// Lease, when set, fences the checkpoint writes: a store returns an
	// error matching [ErrFenced] if a newer lease of the same name exists.
	Lease *Lease
}

// Leaser grants exclusive, expiring leases so that only one instance
// consumes a subscription at a time.
type Leaser interface {
	// AcquireLease takes the lease name for holder if it is free, expired or
	// already held by holder; otherwise it returns an error matching
	// [ErrLeaseHeld]. Every acquisition by a new holder increases Token.
	AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (Lease, error)
	// RenewLease extends l; it returns an error matching [ErrFenced] when l
	// was taken over.
	RenewLease(ctx context.Context, l Lease, ttl time.Duration) (Lease, error)
	ReleaseLease(ctx context.Context, l Lease) error
}

// Lease is a held lease. Token is the fencing token: strictly increasing
// across holders of one name.
type Lease struct {
	Name    string
	Holder  string
	Token   int64
	Expires time.Time
}
