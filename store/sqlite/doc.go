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
// Write fingerprints ([Store.RememberWrites]) are held in memory and written
// with the next CommitState, the commit of the outcomes of those writes, so
// they cost no transaction of their own.
//
// Leases in one file fence instances that share the file (several processes
// on one host); for instances on several hosts use store/postgres.
package sqlite
