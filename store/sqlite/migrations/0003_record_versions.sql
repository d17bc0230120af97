-- The version map becomes one row per record and source: fields holds the
-- version of every field (see versions.go for its encoding), so an applied
-- change writes one row where it wrote one per field. names, set only when
-- the record or source is too long for the key columns, keeps both
-- exactly; field names are whole inside fields. The rows of the old table
-- are moved, and the table dropped, by this migration's step in Go (the
-- encoding is not expressible in SQL), in the same transaction.
CREATE TABLE record_versions (
	record TEXT NOT NULL,
	source TEXT NOT NULL,
	fields BLOB NOT NULL,
	names  BLOB,
	PRIMARY KEY (record, source)
) WITHOUT ROWID;
