// Package memory keeps every part of an engine's state in process memory:
// dedup keys, checkpoints, the outcome ledger, dead letters, echo
// fingerprints and leases, behind one [Store].
//
// It is the engine's default and the store of tests and quick starts. A
// restart forgets everything, so a process that resumes from a checkpoint
// needs a durable store (store/sqlite, store/postgres); [Store.Durable]
// reports false so that the engine can warn.
//
// The ledger and the key sets are bounded (see [WithMaxOutcomes] and
// [WithMaxKeys]): a long-running process forgets its oldest entries rather
// than growing without bound.
package memory
