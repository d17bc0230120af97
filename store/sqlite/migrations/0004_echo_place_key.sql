-- Remembered writes are found by a 64-bit key of their place (see
-- placeKey in echoes.go) instead of the place text: every write inserts
-- into this index at a random spot, and integer entries make it about half
-- the size, with cheaper comparisons. The place text stays and is checked
-- on every match, so two places sharing a key are never confused. This
-- migration's step in Go fills the key of the writes already stored.
ALTER TABLE echoes ADD COLUMN place_key INTEGER NOT NULL DEFAULT 0;
DROP INDEX echoes_place;
CREATE INDEX echoes_place_key ON echoes (place_key);
