-- Times are Unix nanoseconds (the zero time.Time is -9223372036854775808) so
-- that they compare as integers and round-trip exactly; timestamptz keeps
-- only microseconds.
--
-- Tables are created unqualified: they land in the schema named by
-- WithSchema (through search_path), or else in the connection's current
-- schema.

CREATE TABLE dedup (
	key     text PRIMARY KEY,
	expires bigint NOT NULL
);
CREATE INDEX dedup_expires ON dedup (expires);

CREATE TABLE echoes (
	fingerprint text PRIMARY KEY,
	expires     bigint NOT NULL
);
CREATE INDEX echoes_expires ON echoes (expires);

CREATE TABLE checkpoints (
	stream  text PRIMARY KEY,
	token   bytea NOT NULL,
	updated bigint NOT NULL
);

-- seq breaks ties between equal times: outcomes of one instant come back in
-- the order they were recorded.
CREATE TABLE outcomes (
	seq         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	key         text NOT NULL,
	tenant      text NOT NULL,
	object      text NOT NULL,
	record_id   text NOT NULL,
	source      text NOT NULL,
	destination text NOT NULL,
	op          text NOT NULL,
	status      text NOT NULL,
	reason      text NOT NULL,
	attempts    integer NOT NULL,
	v_time      bigint NOT NULL,
	v_seq       bigint NOT NULL,
	v_counter   bigint NOT NULL,
	pos_stream  text NOT NULL,
	pos_token   bytea NOT NULL,
	at          bigint NOT NULL
);
CREATE INDEX outcomes_at ON outcomes (at, seq);
CREATE INDEX outcomes_record ON outcomes (object, record_id);
CREATE INDEX outcomes_key ON outcomes (key);

-- change is the JSON encoding of the sfsync.Change, kept as bytes so that it
-- round-trips exactly; read it with convert_from(change, 'UTF8')::jsonb.
CREATE TABLE dead_letters (
	key          text PRIMARY KEY,
	object       text NOT NULL,
	destination  text NOT NULL,
	err          text NOT NULL,
	kind         integer NOT NULL,
	attempts     integer NOT NULL,
	first_failed bigint NOT NULL,
	last_failed  bigint NOT NULL,
	change       bytea NOT NULL
);
CREATE INDEX dead_letters_last ON dead_letters (last_failed, key);

-- A released lease keeps its row (holder '') so that tokens keep increasing.
CREATE TABLE leases (
	name    text PRIMARY KEY,
	holder  text NOT NULL,
	token   bigint NOT NULL,
	expires bigint NOT NULL
);
