-- Times are Unix nanoseconds (the zero time.Time is -9223372036854775808) so
-- that they compare as integers and round-trip exactly.

CREATE TABLE dedup (
	key     TEXT PRIMARY KEY,
	expires INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX dedup_expires ON dedup (expires);

CREATE TABLE echoes (
	fingerprint TEXT PRIMARY KEY,
	expires     INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX echoes_expires ON echoes (expires);

CREATE TABLE checkpoints (
	stream  TEXT PRIMARY KEY,
	token   BLOB NOT NULL,
	updated INTEGER NOT NULL
);

-- seq is the rowid: insertion order breaks ties between equal times.
CREATE TABLE outcomes (
	seq         INTEGER PRIMARY KEY,
	key         TEXT NOT NULL,
	tenant      TEXT NOT NULL,
	object      TEXT NOT NULL,
	record_id   TEXT NOT NULL,
	source      TEXT NOT NULL,
	destination TEXT NOT NULL,
	op          TEXT NOT NULL,
	status      TEXT NOT NULL,
	reason      TEXT NOT NULL,
	attempts    INTEGER NOT NULL,
	v_time      INTEGER NOT NULL,
	v_seq       INTEGER NOT NULL,
	v_counter   INTEGER NOT NULL,
	pos_stream  TEXT NOT NULL,
	pos_token   BLOB,
	at          INTEGER NOT NULL
);
CREATE INDEX outcomes_at ON outcomes (at);
CREATE INDEX outcomes_record ON outcomes (object, record_id);
CREATE INDEX outcomes_key ON outcomes (key);

CREATE TABLE dead_letters (
	key          TEXT PRIMARY KEY,
	object       TEXT NOT NULL,
	destination  TEXT NOT NULL,
	err          TEXT NOT NULL,
	kind         INTEGER NOT NULL,
	attempts     INTEGER NOT NULL,
	first_failed INTEGER NOT NULL,
	last_failed  INTEGER NOT NULL,
	change       BLOB NOT NULL
) WITHOUT ROWID;
CREATE INDEX dead_letters_last ON dead_letters (last_failed, key);

-- A released lease keeps its row (holder '') so that tokens keep increasing.
CREATE TABLE leases (
	name    TEXT PRIMARY KEY,
	holder  TEXT NOT NULL,
	token   INTEGER NOT NULL,
	expires INTEGER NOT NULL
) WITHOUT ROWID;
