// Package sim is the project's main correctness test: a deterministic,
// randomized fault simulator of the whole stack.
//
// One seed (an int64) fixes one scenario: the objects and records, the
// conflict policy, the state store, the workload of edits on both sides
// and the schedule of faults (see [Generate]). [Run] then drives the real
// packages end to end: the fake org (salesforce/salesforcetest) with its
// Pub/Sub server on loopback, a pubsub subscription and decoder per object,
// the sync engine, the Salesforce sink (salesforce.NewSink), the reconcile
// authority, the ERP (sync/synctest.System whose synctest.Log feed is the
// engine's second source), and SQLite, memory or (with
// SFSYNC_TEST_POSTGRES) PostgreSQL state. Time is virtual: the org, the
// Pub/Sub retention, the engine and the store all read one clock that only
// the scenario moves, so a 73-hour outage is instant and every timestamp
// depends on the seed alone. The Go scheduler still interleaves the engine
// with the workload differently from run to run: the seed fixes what
// happens, not exactly when, so a failure reproduces on most reruns of its
// seed, not necessarily all.
//
// With Options.ExternalPostgres (go run ./internal/cmd/simulate
// -pg-external, and TestSeedsPostgresERP when SFSYNC_TEST_POSTGRES is set)
// the ERP is package pgmirror instead, in a schema of the run's own: see
// "The pgmirror ERP" below.
//
// # Workload and faults
//
// Contacts (always) and Accounts (on half the seeds), two to three records
// each (twelve, created in one API transaction, on some seeds), linked by
// External_Id__c, with four mapped fields each, one of them a component of
// a compound address. Records are created on either side or on both at
// once; edits come one at a time, as concurrent edits of one field on both
// sides, as rapid flip-flops (A->B->A), as reverts to an earlier value
// (often one the engine wrote), as Salesforce transactions over every
// record of an object (merged change events), with tied commit timestamps,
// as deletes racing updates, and as restores from the recycle bin. Every
// policy of package conflict is drawn across seeds.
//
// Faults, each counted by kind: Pub/Sub redelivery and disconnects,
// keepalive-only stretches (interposed at the engine's source, as the fake
// server's keepalive interval is real time), schema fetch failures,
// retryable, permanent, lost-acknowledgement and stalled (slow) write
// failures on both sides, REQUEST_LIMIT_EXCEEDED and UNABLE_TO_LOCK_ROW from the org, an
// ERP feed delivered twice over, an engine crash at any step (the
// instance is cut off from its state, sinks and sources, abandoned and
// replaced), a lease takeover (the instance is frozen, its lease expires,
// a second one takes over; thawed, the first must be fenced), requeues of
// dead letters, an outage longer than the 72 h retention (the engine must
// backfill), a skewed ERP clock, and a slow state store: on a quarter of
// the seeds each of the engine's lookups (dedup, write fingerprints, the
// version map) waits a random while of up to 1 or 4 ms, as a database's
// round trips do, so that a lane's preparation of a change overlaps the
// park's and the committer's work in orders a fast store seldom shows (a
// redelivery prepared while the park decided its first delivery was
// decided twice, on PostgreSQL state only). The latency is drawn from its
// own stream of the seed, so a seed's workload does not depend on it.
//
// # Invariants
//
// After the workload the run settles (see quiescence below), clears the
// faults, requeues every dead letter, settles again and checks:
//
//   - exactly-one-outcome: every change an engine received (by key) has
//     exactly one deciding outcome in the ledger; a redelivery's
//     "duplicate" does not count, and a requeued dead letter may be
//     followed by the outcome of its requeue.
//   - no-double-effect: no write took effect twice. The ERP runs with key
//     idempotency off (synctest.WithoutKeyIdempotency), so that its
//     per-key application count measures what the engine sends rather
//     than what the stand-in forgives; Salesforce writes are counted per
//     key at the sink. A repeat that the target's edits since the write
//     before it made owed counts once (owed.go): a crash lost the first
//     write's outcome, the target took edits of the written fields that
//     each lose to the written change under the policy (or tie with it,
//     a tie the model leaves open), and the repeat, decided against
//     them, writes what their own changes would have had written back
//     under a repair's key. So does a repeat over a delete of the
//     target's that the written change wins over (a create the policy
//     keeps against it): it brings the record back, as the delete's own
//     repair would have. A repeat with no such edit between, or over an
//     edit that wins, counts twice.
//   - no-loop: the writes are bounded by the edits, and the systems go
//     quiet.
//   - model-agreement: both systems hold what an independent model of the
//     policy (model.go) computes from the history of edits that took
//     effect, and agree with each other; a record linked to two live
//     Salesforce records is a violation too.
//   - checkpoint-monotone: a stored checkpoint never moves backwards, is
//     never stored before every change delivered at or before it has an
//     outcome, and an instance whose lease was taken over commits nothing.
//   - nothing-stuck: nothing is in flight and no background work is left
//     once quiet; every engine stops when told to.
//   - quiescent: every settle reaches quiescence within its bound.
//
// Quiescence is observed, not waited for: each object's change stream is
// marked by writing a sentinel record as the engine (its events are
// echoes); once every mark is delivered, the ERP feed is read to its end,
// the engine has taken every delivery its sources handed over
// (Engine.Streams), every delivered change has an outcome, nothing is in
// flight and the engine has no work of its own left (Stats.Background: a
// backfill, a resync, a change waiting for its target's event), another
// round must find nothing new.
//
// # The model
//
// The model replays the history (each edit with its side, values, version
// time and order within its side) per record and field:
//
//   - LastWriteWins: the newest edit wins. One side's edits are ordered by
//     that side; edits of different sides by version time, and two whose
//     times differ by at most the skew tolerance (without one: are equal)
//     tie. A tie is the one undetermined case: the policy breaks it by
//     rules that depend on what each target reports of its last writer,
//     so either tied value is accepted, but both systems must hold the
//     same. Existence follows the newest record-level edit (deletes
//     included), with the same ties. A Salesforce update whose event no
//     engine received (lost past retention) is known to the engine only
//     from a backfill's row of its record, which tells neither when it
//     was made nor which of its fields it set: it spans the time from
//     when it was made to the latest version such a row was decided at,
//     and ties with an edit of the other side inside that span.
//   - SalesforceWins / ExternalWins: the winner's newest value; if the
//     winner never set the field, the first value the other side gave it
//     that reached the winner (it filled the winner; later ones lose).
//     That is the first edit's, or, when its change did not reach the
//     winner in its turn (the ledger shows it dead-lettered, then
//     requeued, or stale because a snapshot of the record carried newer
//     data there first), any later one's up to the first that did. When
//     that edit is the record's create (delayed so, or overtaken by a
//     snapshot of its side that created the record in the winner), the
//     record reaches the winner with whatever values the other side holds
//     when a later change of it is taken across: any of its values up to
//     the winner's first edit of the record. The winner's creates,
//     deletes and restores decide existence; the loser's delete never
//     removes a record the winner holds. A record only the loser ever
//     edited, whose creation did not reach the winner in its turn, may
//     not have been held there when the loser deleted it: either outcome
//     is accepted, both systems agreeing.
//   - FieldOwnership: an owned field takes its owner's newest value (null
//     if the owner never set it); everything else follows the fallback.
//   - PerObject: the object's policy, else the fallback.
//
// The model deliberately states what the policy promises for the final
// state of both systems, not what one decision against one target state
// does: a losing edit that the engine leaves in place on its own side is
// a disagreement, and is reported.
//
// TestSeeds runs 200 fixed seeds, each cut to its first dozen steps, in
// about a minute under the race detector on two cores; the command runs
// campaigns of whole scenarios.
//
// # The pgmirror ERP
//
// With Options.ExternalPostgres the ERP is what a deployment of package
// pgmirror runs: a table per object (person, company) in a fresh schema
// per seed, the Mirror as the engine's sink and state reader, its outbox
// Source as the engine's second source (a new one per engine instance,
// closed when the instance dies), LearnIDs around the Pub/Sub
// subscriptions and Track around the Salesforce sink. One Mirror (one
// connection pool) serves every engine instance of a run; a crash cuts an
// instance off at its gate, as with the in-memory ERP. The ERP's users
// edit the tables with plain SQL, which the capture trigger records:
// creates and updates as INSERT ... ON CONFLICT DO UPDATE, deletes as a
// DELETE (local soft deletes keep a tombstone) or, on odd version
// counters, as UPDATE ... SET is_deleted = true. The scenarios, the
// faults aimed at the ERP's writes and every invariant are the same,
// with these differences:
//
//   - Versions stay virtual. The trigger stamps local edits with the
//     database's clock_timestamp(), which the scenario does not move, so
//     each edit's transaction rewrites the stamps its statement made, and
//     its outbox row's time, to the edit's virtual version (the ERP's
//     skew included), as the mirror's own writes do (sfsync.origin set).
//     The version counter is the outbox row id, not the run's counter.
//   - Only what changed is an edit. An edit that sets a field to the
//     value it holds is neither versioned nor recorded by the trigger, so
//     the model's history takes only the fields the statement changed (the
//     in-memory ERP versions every field an edit names).
//   - No echoes. The mirror's own writes are not recorded, so the engine
//     never sees the ERP's echoes of its writes (the in-memory ERP
//     publishes them and the engine must recognise them).
//   - Effects are counted at the engine's sink wrapper (what the engine
//     sent and the sink acknowledged), as on the Salesforce side: pgmirror
//     applies each idempotency key once, so a repeat is a no-op in the
//     database but still a double effect of the engine.
//   - Faults: ERP write faults are injected around the Mirror as around
//     the in-memory system; duplicate delivery replays each outbox
//     delivery once; a crash step without a target of its own, when local
//     edits wait unread in the outbox, waits up to 2 s for the engine's
//     next outbox read and kills the engine right after it, before
//     anything it read takes effect or is committed (counted as
//     outbox-read-crash). A crash can also fall between a stored
//     checkpoint and the source's commit (sources' Commit is behind the
//     instance's gate with either ERP).
//   - Quiescence reads the outbox: every row a source would deliver must
//     have reached an instance. nothing-stuck also fails on outbox rows
//     still new or pending once all is quiet.
//   - Background pruning is off (it runs on the real clock).
//
// A user's SQL edit takes milliseconds rather than microseconds, so the
// engine often reads a row, a local edit of it commits, and the engine
// writes a change decided on the older read. The engine writes through
// pgmirror's WriteIf (the sink wrapper forwards it, with the read records
// of the changes that pass its faults): such a write fails as a conflict
// and is decided again, against the edit. Before it did, the write
// replaced the edit while the edit went on to Salesforce, and model
// agreement failed on 11 to 13 of seeds 1-60 (12 to 15 of 61-120) in
// whole-scenario campaigns; with it, 8 to 9 (3 to 7), as in memory. The
// in-memory ERP writes conditionally too (synctest's conditional system).
// TestSeedsPostgresERP runs the first 60 CI seeds with the pgmirror ERP,
// with ceilings of its own for the open classes.
//
// # What it does not cover
//
// Salesforce records created without a link (the ERP then knows them by
// their Salesforce id; for pgmirror, rows inserted without a link, which
// get a UUID), pgmirror's retries of failed outbox rows, pruning and
// typed (non-text) columns, gap and overflow events, schema changes mid-stream,
// platform events, managed subscriptions, OAuth token expiry, the
// throttle, a real SIGKILL (internal/crashtest has that), zombie writes to
// targets by a fenced instance (the sinks have no fencing, so a thawed
// instance is cut off from them), undecodable events, and any object or
// field kind beyond strings. Keepalives come from a wrapper, not from the
// fake server. The model does not reproduce LastWriteWins's tie-breaking
// rules.
package sim
