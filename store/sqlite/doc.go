// Package sqlite keeps the engine's durable state (dedup keys, checkpoints,
// the outcome ledger, dead letters, echo fingerprints and leases) in one
// SQLite file, through the pure-Go driver modernc.org/sqlite.
//
// Open applies the embedded, versioned schema migrations and runs the
// database in WAL mode. [Store.CommitState] writes a whole batch of the
// engine's finished work in one transaction with multi-row inserts (group
// commit), which is what lets a single file keep up with a busy
// subscription; calling the individual methods per event commits once per
// call and is many times slower. Expired keys, fingerprints and outcomes
// past the retention are deleted in the background in small transactions.
//
// The ledger's lookups by key and by record are not indexes the commit
// keeps: a background loop puts the newest outcomes into lookup tables in
// large sorted batches (every 65,536 outcomes, and every 30 seconds), and
// a lookup reads them and scans the outcomes not yet indexed, so the
// commit only appends and its cost does not grow with the ledger. Claims
// (dedup keys) likewise: the commit appends them to a log, the same loop
// moves them into the table keyed by claim in sorted batches, and each
// store keeps an in-memory index of the log's claims (a few megabytes at
// most) so that a lookup finds them without scanning it. Each store also
// keeps a Bloom filter of every live claim (ten bits a claim: 2.5 MB at a
// million), built in the background at open and again when it fills, so
// that the lookup of a key never claimed, which is almost every lookup,
// does not search the table at all.
//
// The version map keeps one row per record and source system, holding
// every field's version, so an applied change writes one row however many
// fields it sets (migration 3 moves a database's per-field rows into it).
//
// Remembered writes ([Store.RememberWrites]) are held in memory and written
// with the next CommitState, the commit of the outcomes of those writes, so
// they cost no transaction of their own. They stay visible to
// [Store.MatchWrite] of this store throughout, also while the commit that
// writes them runs; other stores on the same file see them once written.
//
// Text and dead-lettered changes are stored in the encoding of
// store/internal/codec, which accepts every value (NaN, ±Inf, NUL bytes,
// invalid UTF-8) and bounds what is too long, so no value fails a commit.
//
// Memory: the store's page caches live in modernc.org/sqlite's C
// allocator, outside the Go heap and its GOGC or GOMEMLIMIT. The writer's
// takes [DefaultCacheSize] (8 MiB; [WithCacheSize] changes it), each
// reader's and the checkpointer's about 2 MiB and 128 KiB. Caches beyond
// the indexes' interior pages save reads, not the page writes a commit
// makes, so a larger one buys little once the state is large.
//
// Leases in one file fence instances that share the file (several processes
// on one host); for instances on several hosts use store/postgres.
package sqlite
