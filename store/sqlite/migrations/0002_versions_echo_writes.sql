-- The durable version map: the newest version applied per record, source
-- and field. Times are Unix seconds and nanoseconds (the zero time.Time has
-- v_sec -9223372036854775808), which hold every time.Time exactly. names,
-- set only when a name is too long for the key columns (which then hold it
-- cut, see store/internal/codec), keeps the three names exactly.
CREATE TABLE versions (
	record    TEXT NOT NULL,
	source    TEXT NOT NULL,
	field     TEXT NOT NULL,
	v_sec     INTEGER NOT NULL,
	v_nsec    INTEGER NOT NULL,
	v_commit  INTEGER NOT NULL,
	v_seq     INTEGER NOT NULL,
	v_counter INTEGER NOT NULL,
	names     BLOB,
	PRIMARY KEY (record, source, field)
) WITHOUT ROWID;

ALTER TABLE outcomes ADD COLUMN v_commit INTEGER NOT NULL DEFAULT 0;

-- Echo fingerprints become remembered writes: one row per write, consumed
-- oldest first (by id) per place. A fingerprint "<place>.<value>" splits at
-- its last dot; value keeps the dot ("" when there is none).
CREATE TABLE echo_writes (
	id      INTEGER PRIMARY KEY,
	place   TEXT NOT NULL,
	value   TEXT NOT NULL,
	expires INTEGER NOT NULL
);
INSERT INTO echo_writes (place, value, expires)
	SELECT
		CASE WHEN instr(fingerprint, '.') = 0 THEN fingerprint ELSE substr(head, 1, length(head) - 1) END,
		CASE WHEN instr(fingerprint, '.') = 0 THEN '' ELSE substr(fingerprint, length(head)) END,
		expires
	FROM (SELECT fingerprint, expires, rtrim(fingerprint, replace(fingerprint, '.', '')) AS head FROM echoes)
	ORDER BY expires;
DROP TABLE echoes;
ALTER TABLE echo_writes RENAME TO echoes;
CREATE INDEX echoes_place ON echoes (place);
CREATE INDEX echoes_expires ON echoes (expires);
