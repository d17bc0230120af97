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
// A whole-object scan is resumable: over a [PagedAuthority] (such as
// salesforce.Authority: one Bulk API job read page by page) or any
// Authority whose records come ordered by modification,
// [Reconciler.ReconcileFrom] reports its progress between pages, and the
// engine stores it once the records before it have outcomes, so a backfill
// interrupted by a restart continues where it stopped. For drift, the
// engine's CheckDrift compares versions and re-reads only what differs,
// on Salesforce's side and, with sync.CompareTarget, on the target's;
// [Loop] can run it instead of a full reconciliation. A full
// reconciliation re-emits each record under its version's key, so a
// record changed only in the target is a duplicate there and stays as
// it is: only a drift check that compares the target corrects it.
//
// Reconciliation is idempotent: every emitted change carries the key
// "reconcile:<object>:<id>:<version>:<digest of its data>", so scanning
// the same unchanged record twice is a duplicate, and the engine's no-op
// check skips records whose target already holds the authoritative
// values. Only real drift is written.
package reconcile
