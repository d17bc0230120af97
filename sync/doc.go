// Package sync is the sync engine: it takes changes from event sources and
// carries each one through validation, deduplication, transformation to the
// canonical shape, routing, the write-back decision (loop prevention,
// ordering and the conflict policy), the write, and a durable outcome.
//
// Assemble an engine in a few lines:
//
//	engine, err := sync.New(source, sink,
//		sync.WithStore(store),                // durable state: store/sqlite, store/postgres
//		sync.WithPolicy(conflict.LastWriteWins()),
//	)
//	...
//	err = engine.Run(ctx)
//
// # Guarantees
//
// Changes to one record are decided and written one after another, in
// arrival order; different records proceed in parallel on a bounded number
// of workers. A record linked by Mapping.LinkField arrives under two ids
// (its Salesforce id and the external one); its changes from the two
// systems are still decided and written one at a time, each with its
// repair. Data that arrives late never overwrites newer data from the
// same system. Every change ends with exactly one outcome in the ledger
// (applied, duplicate, echo, no-op, conflict lost, stale, reconciled,
// skipped or dead-lettered, with the reason), and a source position is
// committed only when every earlier change has one: after a crash the
// source redelivers what was unfinished, and idempotency keys, re-reads of
// the target and no-op detection make the redelivery harmless.
//
// The engine pulls from its sources only while fewer than the in-flight
// bound of changes await an outcome, so a slow or throttled sink slows the
// intake instead of filling memory.
//
// Failures classified retryable (see the sfsync error taxonomy) are retried
// with backoff; permanent ones and exhausted retries go to the dead-letter
// store, from which [Engine.Requeue] sends them through again with the same
// idempotency key.
//
// A target that versions its fields shows which changes it holds: a
// change redelivered after a crash is not written again where the target
// shows its version. A target that does not (Salesforce) cannot tell once
// it changed since; there the target's own change stream helps: the echo
// of a write whose acknowledgement was lost confirms it on the retry, and
// a change of the target that committed between the engine's read and its
// write (it arrives before the write's echo) is written back to the target
// once it wins in the other system. A sink that takes writes on a
// condition ([sfsync.ConditionalSink]: pgmirror) closes that window
// instead: the engine writes only while the record is as it read it.
//
// Gap events re-read the record, overflow events resync the window of
// their transaction, and a first start or a source whose stored position
// is past retention triggers a backfill of the objects named with
// [WithBackfill], all through the [sfsync.Reconciler] given with
// [WithReconciler]. A source keeps a quiet stream's checkpoint fresh with
// [sfsync.OpAdvance] deliveries.
//
// # Backfills
//
// A backfill is a durable job. It is recorded as owed before any later
// checkpoint is committed; it pins the stream ([Pinner]) before it queries,
// so that every commit is either delivered by the stream or visible to the
// query; it streams at once beside the backfill, and the version map keeps
// an older snapshot row from overwriting a newer event.
//
// How a snapshot row and the stream are ordered: a row (a backfill's, a
// reconciliation's or a drift check's) carries SystemModstamp, which has
// whole seconds; an event carries its commit timestamp and commit number.
// A row applies only if its second is later than the version applied for
// its record; an event older than the applied version is stale; and a row
// of the applied version's second, or an event of an applied row's second,
// cannot be ordered: the record is re-read by id through the reconciler,
// in its lane, and what it holds now is decided, under the row's or the
// event's key, as newer than everything applied before (the re-read
// includes it). A record deleted stays deleted against a row of its
// delete's second the same way. The re-read is made only when the row or
// event would change the target: one whose values the target holds already
// is no news whatever the order, which is the common case of a backfill
// beside the stream (a record's row is its last event's change); a target
// the engine cannot read (a route without a state reader) cannot tell, and
// there every such row or event is re-read (one re-read per write group,
// of up to [WithMaxBatch] records). Gap events' re-reads are made in the
// lane too, and are decided the same way. An event re-read so keeps the
// fields it set, where the record still holds its values, at its own
// version against an older pending edit of the other system. A row
// requeued from the dead letters ([sfsync.Change.Snapshot] says what it
// is) is always re-read first: it holds the record as it was read, before
// whatever was written to it since.
//
// A backfill's row is decided, written and remembered at its
// SystemModstamp, the time of the record's last change, or at the time its
// stream was whole from when that is earlier: the earliest of when the
// backfill asked to pin, when the sources last began to stream every
// commit (Run, or a lost position), and the sources' own [GapFree] times.
// A source's GapFree time is stored beside its checkpoint, so a later run
// whose stream resumes from that position (and has delivered from it)
// keeps it. Every field no commit since then changed was set before it;
// one that a later commit changed gets that commit's version from its
// event. So a row
// does not claim old values at its record's newest time, where they would
// beat the other system's later edit under last write wins.
//
// The version map keeps a hash of each field's value
// ([sfsync.AppliedVersion].ValueHash), which tells what Salesforce changed
// while its events were lost (past retention): a row's value the map has
// versioned is no news, one it never versioned was set by a lost change
// and is decided by the row, and a change of the other system decided
// against a Salesforce record whose changes are lost does not wait for
// their events, and dates such a value at the record's version. The same
// dating applies to any target after a change has waited in vain (2 s)
// for the target's change its record shows: a value the map never
// versioned was set by that change, at the record's version at the latest.
// A record brought back in a target that deleted it keeps, from its
// tombstone, the target's values the source does not hold as synced data:
// of a field the policy gives the target, and over the source's own change
// that lost to it; a tombstone value never synced, over the source's
// synced one, is the target's newer edit, and the repair takes it across.
// Without a reconciler, such a tie is decided as [sfsync.Version.Compare]
// orders it: the event, with its commit number, counts as the newer.
//
// With a
// [sfsync.ResumableReconciler] (reconcile.Reconciler over a paged
// authority such as salesforce.Authority) its progress is stored after
// each page whose records all have outcomes, and a restart continues from
// there. [Engine.Backfills] and [WithBackfillProgress] report it;
// [Engine.CheckDrift] finds drift by comparing versions instead of
// re-reading every record.
//
// # Drift
//
// [Engine.CheckDrift] lists Salesforce's versions (Id, SystemModstamp,
// IsDeleted: one Bulk job for a large object) and re-reads only the
// records whose version is newer than the version map's. With
// [CompareTarget] it lists the target's versions too (no Salesforce
// call) and finds what changed there where no event told: a field or
// record version newer than every version the map holds, a deleted state
// other than the one the engine left, and, on a full pass, a record
// missing on either side. Who wins: in a one-way route Salesforce is the
// authority, and such a record is re-read from Salesforce and written to
// the target as it is there (a record deleted or missing there comes back
// whole; one Salesforce purged is deleted there), decided by the route's
// policy like any Salesforce change. In a two-way route the target's
// change is a user's edit whose event was lost: it is sent to Salesforce
// as the target's change, at its version, and the conflict policy decides
// it as it would have decided the event. A repair carries a key of its
// own ("drift:" and the reconciler's key and what the target showed), so
// neither an earlier emission of the same Salesforce version nor the
// snapshot rules, which leave a field the target changed to that change's
// event, swallow it: it is read by id and decided as holding every
// Salesforce change applied before it, unless one was applied after the
// comparison, when the usual hand-off rules order it. For a mapping with a
// [Mapping.LinkField] both sides are compared under the id the map knows
// a record by (its link, else its Salesforce id), and a linked record
// Salesforce no longer lists is deleted in the target without a re-read
// (see [CompareTarget]).
//
// # Records on both sides
//
// A [Mapping] translates an object's fields both ways. With
// [Mapping.LinkField] (an external id field) a record created on either
// side stays one record on both: Salesforce changes reach the external
// system under the linked id, read through [WithLinkReader] when a change
// does not carry it.
package sync
