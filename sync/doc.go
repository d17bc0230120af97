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
// of workers. Data that arrives late never overwrites newer data from the
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
// an older snapshot row from overwriting a newer event. With a
// [sfsync.ResumableReconciler] (reconcile.Reconciler over a paged
// authority such as salesforce.Authority) its progress is stored after
// each page whose records all have outcomes, and a restart continues from
// there. [Engine.Backfills] and [WithBackfillProgress] report it;
// [Engine.CheckDrift] finds drift by comparing versions instead of
// re-reading every record.
//
// # Records on both sides
//
// A [Mapping] translates an object's fields both ways. With
// [Mapping.LinkField] (an external id field) a record created on either
// side stays one record on both: Salesforce changes reach the external
// system under the linked id, read through [WithLinkReader] when a change
// does not carry it.
package sync
