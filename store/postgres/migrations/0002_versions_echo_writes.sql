-- The durable version map: the newest version applied per record, source
-- and field. Times are Unix seconds and nanoseconds (the zero time.Time has
-- v_sec -9223372036854775808), which hold every time.Time exactly. names,
-- set only when a name is too long for the key columns (which then hold it
-- cut, see store/internal/codec), keeps the three names exactly.
CREATE TABLE versions (
	record    text NOT NULL,
	source    text NOT NULL,
	field     text NOT NULL,
	v_sec     bigint NOT NULL,
	v_nsec    bigint NOT NULL,
	v_commit  bigint NOT NULL,
	v_seq     bigint NOT NULL,
	v_counter bigint NOT NULL,
	names     bytea,
	PRIMARY KEY (record, source, field)
);

ALTER TABLE outcomes ADD COLUMN v_commit bigint NOT NULL DEFAULT 0;

-- Echo fingerprints become remembered writes: one row per write, consumed
-- oldest first (by id) per place. A fingerprint "<place>.<value>" splits at
-- its last dot; value keeps the dot ('' when there is none).
CREATE TABLE echo_writes (
	id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	place   text NOT NULL,
	value   text NOT NULL,
	expires bigint NOT NULL
);
INSERT INTO echo_writes (place, value, expires)
	SELECT regexp_replace(fingerprint, '\.[^.]*$', ''), COALESCE(substring(fingerprint from '\.[^.]*$'), ''), expires
	FROM echoes ORDER BY expires;
DROP TABLE echoes;
ALTER TABLE echo_writes RENAME TO echoes;
CREATE INDEX echoes_place ON echoes (place, id);
CREATE INDEX echoes_expires ON echoes (expires);
