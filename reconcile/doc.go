// Package reconcile re-reads authoritative state and feeds it through the
// sync engine as changes, so that drift is corrected by the same pipeline,
// conflict rules and ledger as live events.
//
// A [Reconciler] implements sfsync.Reconciler over an [Authority] (for
// Salesforce: a SOQL scan by SystemModstamp, see package salesforce). The
// engine calls it for gap events (one record), overflow events (a whole
// object) and a replay position past retention (a backfill). [Loop] runs it
// periodically to detect drift nobody announced, with a throttled scan rate
// so a large object does not starve the org's API budget.
//
// Reconciliation is idempotent: every emitted change carries the key
// "reconcile:<object>:<id>:<version>", so scanning the same unchanged record
// twice is a duplicate, and the engine's no-op check skips records whose
// target already holds the authoritative values. Only real drift is written.
package reconcile
