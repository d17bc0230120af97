// Package sfsync is the shared vocabulary of a bidirectional sync between
// Salesforce and other systems, and the small interfaces a sync engine is
// assembled from.
//
// A [Change] is one event from one system: a record was created, updated,
// deleted or undeleted, a gap or overflow asks for a re-read, or a platform
// event arrived. An [EventSource] delivers changes; the engine in package
// sfsync/sync validates them, drops duplicates with a [DedupStore], maps them
// to the destination's field names, decides with a [ConflictPolicy] whether
// and what to write back, writes through a [Sink], and records every outcome.
// A [Reconciler] re-reads authoritative state when events alone cannot be
// trusted (gap and overflow events, a replay position past retention, drift).
//
// The root package imports nothing else of this module, so every package
// (dedup, conflict, pubsub, salesforce, the stores) shares these types
// without import cycles. Errors are classified with [Retryable],
// [Permanent] and friends, and checked with [IsRetryable] or errors.As on
// [*Error], so that a sink written by a user and one shipped here speak the
// same language to the engine's retry logic.
package sfsync
