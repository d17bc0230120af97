-- Each entry of the version map keeps a hash of the field's value with its
-- version (the bits of an unsigned 64-bit hash, zero when unknown), so
-- that the engine can tell whether a system whose changes it could not see
-- still holds the value it synced.
ALTER TABLE versions ADD COLUMN v_hash bigint NOT NULL DEFAULT 0;
