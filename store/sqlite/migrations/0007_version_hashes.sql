-- Each entry of the version map keeps a hash of the field's value with its
-- version (see versions.go), so that the engine can tell whether a system
-- whose changes it could not see still holds the value it synced. The
-- packed rows are rewritten in the new form, each entry's hash unknown
-- (zero), by this migration's step in Go (see versions_v1.go).
SELECT 1;
