-- The ledger's lookups by key and by record leave the commit. Both indexes
-- took an insert at a random spot per outcome: once an index is many times
-- the size of a commit, each insert dirties a page of its own, written to
-- the log and copied back by the checkpoint, and that cost grows with the
-- ledger. Their entries now go into two tables that the store fills in the
-- background, in large sorted batches (see ledger.go); ledger_index.upto
-- is the newest outcome (by seq) whose entries are in them, and a lookup
-- reads the tables for outcomes up to it and scans the outcomes after it.
-- Entries hold 64-bit hashes of the stored text (see ledgerHash): a lookup
-- checks every condition on the outcome itself, so a shared hash costs a
-- row read, never a wrong answer, and the tables are a fraction of the
-- indexes' size. This migration's step in Go fills them.
DROP INDEX outcomes_key;
DROP INDEX outcomes_record;
CREATE TABLE outcome_keys (
	key_hash INTEGER NOT NULL,
	seq      INTEGER NOT NULL,
	PRIMARY KEY (key_hash, seq)
) WITHOUT ROWID;
CREATE TABLE outcome_records (
	object_hash INTEGER NOT NULL,
	record_hash INTEGER NOT NULL,
	seq         INTEGER NOT NULL,
	PRIMARY KEY (object_hash, record_hash, seq)
) WITHOUT ROWID;
CREATE TABLE ledger_index (upto INTEGER NOT NULL);
INSERT INTO ledger_index (upto) VALUES (0);
