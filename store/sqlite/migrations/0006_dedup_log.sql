-- Claims leave the commit's random inserts. A claim went straight into
-- dedup, keyed by its text: once that table is many times the size of a
-- commit, each insert dirties a page of its own, written to the log and
-- copied back by the checkpoint, and the cost per claim grows with the
-- table (BENCHMARKS.md measures it). The commit now appends claims to
-- dedup_log, in the order it makes them, and the store moves them into
-- dedup in the background, in large sorted batches (see dedup.go);
-- dedup_index.upto is the newest log seq whose claim is in dedup, and the
-- log keeps only the claims after it. A lookup reads dedup and the log's
-- claims, which every store instance on the file keeps an in-memory index
-- of. AUTOINCREMENT: a seq is never taken twice, also once the log is
-- empty, so an instance that read the log up to a seq misses nothing after
-- it.
CREATE TABLE dedup_log (
	seq     INTEGER PRIMARY KEY AUTOINCREMENT,
	key     TEXT NOT NULL,
	expires INTEGER NOT NULL
);
CREATE TABLE dedup_index (upto INTEGER NOT NULL);
INSERT INTO dedup_index (upto) VALUES (0);
