// Package dedup recognises redelivered changes by their idempotency keys.
//
// [Memory] is the in-process [sfsync.DedupStore], and the one store/memory
// keeps its dedup keys in: keys expire after their TTL and the number kept
// is bounded, so a long-running process does not grow without limit. Keys live only as long as the process; a process
// that resumes from a durable checkpoint needs a durable store
// (store/sqlite, store/postgres), because the changes it re-reads after a
// restart are exactly the ones whose keys it would have forgotten.
package dedup
