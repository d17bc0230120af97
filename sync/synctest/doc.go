// Package synctest provides in-memory stand-ins for the systems an engine
// connects, for tests and examples: a [Log] of changes read through a
// [Source] that resumes from checkpoints like a Pub/Sub subscription, and a
// [System] that is at once a sink, a state reader, a reconciliation
// authority and a change feed, with per-field versions, counts of how
// often each idempotency key took effect, and injectable faults.
//
// Everything is deterministic and safe for concurrent use.
package synctest
