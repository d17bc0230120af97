// Package postgres keeps the engine's durable state (dedup keys,
// checkpoints, the outcome ledger, dead letters, echo fingerprints and
// leases) in PostgreSQL, through github.com/jackc/pgx/v5.
//
// Use it when several instances on several hosts share one subscription:
// leases live in the database, and every checkpoint write is fenced by the
// lease's token under a row lock, so an instance whose lease was taken over
// cannot move a checkpoint back. For instances on one host, store/sqlite
// needs no server.
//
// [Open] applies the embedded, versioned schema migrations under a
// PostgreSQL advisory lock, so instances starting together migrate once.
// [WithSchema] puts every table in a schema of its own (created if missing),
// so that several deployments or tests can share one database.
//
// [Store.CommitState] writes a whole batch of the engine's finished work in
// one transaction, sent as one pipelined batch of array-based multi-row
// statements (group commit): a batch costs three round trips however many
// changes it holds, once its statements are prepared on the connection.
// Calling the individual methods per event commits once per call and is
// many times slower. Expired keys, fingerprints and outcomes past the
// retention are deleted in the background in small transactions that skip
// rows other instances are busy with.
//
// Every text is stored in the encoding of store/internal/codec: NUL bytes,
// invalid UTF-8 and values too long for an index entry would otherwise fail
// a whole group commit with a data error (class 22 or 54) on every restart.
// Dead-lettered changes keep non-finite floats and such text exactly.
//
// Times are stored as Unix nanoseconds from the store's clock ([WithClock]);
// lease expiry therefore compares the clocks of the instances, which should
// be synchronised. Fencing does not depend on clocks: a token only grows.
package postgres
