package pgmirror

import (
	"context"
	"fmt"
	"hash/fnv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// The capture trigger. BEFORE INSERT/UPDATE it gives a locally inserted
// row a link (a UUID) when it has neither a link nor a Salesforce id, so
// that its create is an upsert by external id that a retry cannot
// duplicate, and stamps the per-field versions of the mirrored columns the
// statement changed. AFTER INSERT/UPDATE/DELETE it records the change in
// the outbox and notifies listening sources. Writes of the mirror itself
// carry sfsync.origin (SET LOCAL) and are neither stamped nor recorded:
// their data came from Salesforce and must not go back.
//
// Arguments: the link column (” for none), the writer's system name, then
// the mirrored columns.
const captureFunc = `
CREATE OR REPLACE FUNCTION %[1]s.sfsync_capture() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
	origin text := current_setting('sfsync.origin', true);
	linkcol text := TG_ARGV[0];
	writer text := TG_ARGV[1];
	newj jsonb := '{}';
	oldj jsonb := '{}';
	stamps jsonb := '{}';
	ts timestamptz := clock_timestamp();
	col text;
	op text;
	rowj jsonb;
	rid text;
	st text := 'new';
	why text;
BEGIN
	IF coalesce(origin, '') <> '' THEN
		IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
		RETURN NEW;
	END IF;
	IF TG_OP <> 'DELETE' THEN newj := to_jsonb(NEW); END IF;
	IF TG_OP <> 'INSERT' THEN oldj := to_jsonb(OLD); END IF;
	IF TG_WHEN = 'BEFORE' THEN
		IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
		IF TG_OP = 'INSERT' AND linkcol <> '' AND newj->>linkcol IS NULL AND newj->>'sfid' IS NULL THEN
			NEW := jsonb_populate_record(NEW, jsonb_build_object(linkcol, gen_random_uuid()::text));
		END IF;
		FOR i IN 2 .. TG_NARGS - 1 LOOP
			col := TG_ARGV[i];
			IF (newj->col) IS DISTINCT FROM (oldj->col) THEN
				stamps := stamps || jsonb_build_object(col, jsonb_build_object('t', ts, 'w', writer));
			END IF;
		END LOOP;
		IF TG_OP = 'INSERT' OR stamps <> '{}' OR (newj->'is_deleted') IS DISTINCT FROM (oldj->'is_deleted') THEN
			NEW.sfsync_versions := coalesce(NEW.sfsync_versions, '{}') || stamps ||
				jsonb_build_object('', jsonb_build_object('t', ts, 'w', writer));
		END IF;
		RETURN NEW;
	END IF;

	IF TG_OP = 'INSERT' THEN op := 'create';
	ELSIF TG_OP = 'DELETE' THEN op := 'delete';
	ELSIF coalesce((newj->>'is_deleted')::boolean, false) AND NOT coalesce((oldj->>'is_deleted')::boolean, false) THEN op := 'delete';
	ELSIF coalesce((oldj->>'is_deleted')::boolean, false) AND NOT coalesce((newj->>'is_deleted')::boolean, false) THEN op := 'undelete';
	ELSE op := 'update';
	END IF;
	IF TG_OP = 'DELETE' THEN rowj := oldj; ELSE rowj := newj; END IF;
	rid := coalesce(nullif(rowj->>linkcol, ''), nullif(rowj->>'sfid', ''));
	IF op = 'update' THEN
		st := 'ignored';
		why := 'no mirrored column changed';
		FOR i IN 2 .. TG_NARGS - 1 LOOP
			col := TG_ARGV[i];
			IF (newj->col) IS DISTINCT FROM (oldj->col) THEN
				st := 'new';
				why := NULL;
				EXIT;
			END IF;
		END LOOP;
	ELSIF TG_OP = 'DELETE' AND coalesce((oldj->>'is_deleted')::boolean, false) THEN
		st := 'ignored';
		why := 'the row was already deleted';
	END IF;
	IF rid IS NULL THEN
		st := 'ignored';
		why := 'the row has neither a Salesforce id nor a link: map a LinkField to sync rows created here';
	END IF;
	INSERT INTO %[1]s.sfsync_outbox (tbl, row_id, record_id, op, new, old, state, error_message)
	VALUES (TG_TABLE_NAME, (rowj->>'id')::bigint, rid, op,
		CASE WHEN TG_OP = 'DELETE' THEN NULL ELSE newj - 'sfsync_versions' END,
		CASE WHEN TG_OP = 'INSERT' THEN NULL ELSE oldj - 'sfsync_versions' END, st, why);
	IF st = 'new' THEN
		PERFORM pg_notify(%[2]s, '');
	END IF;
	RETURN NULL;
END
$fn$`

// retryFunc turns an operator's "UPDATE sfsync_outbox SET state = 'new'"
// of a failed row into a new outbox row carrying the same change: the
// sources read forward only, so the old row cannot be read again. The old
// row says 'retried'.
const retryFunc = `
CREATE OR REPLACE FUNCTION %[1]s.sfsync_retry() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
	IF OLD.state = 'failed' AND NEW.state = 'new' THEN
		INSERT INTO %[1]s.sfsync_outbox (tbl, row_id, record_id, op, new, old, at, retry_of)
		VALUES (OLD.tbl, OLD.row_id, OLD.record_id, OLD.op, OLD.new, OLD.old, OLD.at, coalesce(OLD.retry_of, OLD.id));
		NEW.state := 'retried';
		PERFORM pg_notify(%[2]s, '');
	END IF;
	RETURN NEW;
END
$fn$`

// softDeleteFunc turns a local DELETE of a live row into an UPDATE that
// sets is_deleted, which the capture trigger records as a delete, and
// skips the DELETE ([WithLocalSoftDeletes]). The mirror's own deletes
// (sfsync.origin set) and deletes of rows already soft deleted (purges of
// tombstones) go through.
const softDeleteFunc = `
CREATE OR REPLACE FUNCTION %[1]s.sfsync_soft_delete() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
	IF coalesce(current_setting('sfsync.origin', true), '') <> '' OR OLD.is_deleted THEN
		RETURN OLD;
	END IF;
	EXECUTE format('UPDATE %%I.%%I SET is_deleted = true WHERE id = $1', TG_TABLE_SCHEMA, TG_TABLE_NAME) USING OLD.id;
	RETURN NULL;
END
$fn$`

const ownTables = `
CREATE TABLE IF NOT EXISTS %[1]s.sfsync_outbox (
	id bigserial PRIMARY KEY,
	xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
	tbl text NOT NULL,
	row_id bigint,
	record_id text,
	op text NOT NULL,
	new jsonb,
	old jsonb,
	at timestamptz NOT NULL DEFAULT clock_timestamp(),
	by_user text NOT NULL DEFAULT current_user,
	state text NOT NULL DEFAULT 'new',
	error_code text,
	error_message text,
	retry_of bigint,
	done_at timestamptz
);
CREATE INDEX IF NOT EXISTS sfsync_outbox_xid ON %[1]s.sfsync_outbox (xid, id);
CREATE INDEX IF NOT EXISTS sfsync_outbox_row ON %[1]s.sfsync_outbox (tbl, row_id, id);
CREATE INDEX IF NOT EXISTS sfsync_outbox_open ON %[1]s.sfsync_outbox (xid, id) WHERE state IN ('new', 'pending');
CREATE TABLE IF NOT EXISTS %[1]s.sfsync_keys (key text PRIMARY KEY, at timestamptz NOT NULL DEFAULT now());
CREATE INDEX IF NOT EXISTS sfsync_keys_at ON %[1]s.sfsync_keys (at);
CREATE TABLE IF NOT EXISTS %[1]s.sfsync_links (tbl text NOT NULL, link text NOT NULL, sfid text NOT NULL, PRIMARY KEY (tbl, link));
CREATE TABLE IF NOT EXISTS %[1]s.sfsync_consumers (
	name text PRIMARY KEY, lo xid8 NOT NULL, hi xid8 NOT NULL, last_id bigint NOT NULL, at timestamptz NOT NULL DEFAULT now()
);
CREATE OR REPLACE TRIGGER sfsync_retry BEFORE UPDATE OF state ON %[1]s.sfsync_outbox
	FOR EACH ROW EXECUTE FUNCTION %[1]s.sfsync_retry();
`

func ident(names ...string) string { return pgx.Identifier(names).Sanitize() }

func literal(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// channel is the LISTEN/NOTIFY channel of a schema's outbox.
func channel(schema string) string {
	c := "sfsync_" + schema
	if len(c) > 63 {
		h := fnv.New64a()
		h.Write([]byte(schema))
		c = fmt.Sprintf("sfsync_%x", h.Sum64())
	}
	return c
}

// migrateLock is the advisory lock key that serialises migrations of one
// schema across every process sharing the database.
func migrateLock(schema string) int64 {
	h := fnv.New64a()
	h.Write([]byte("sfsync/pgmirror migrate\x00" + schema))
	return int64(h.Sum64())
}

// migrate creates what is missing: the schema, the mirror's own tables,
// the mirrored tables and their columns, and the triggers. Everything is
// IF NOT EXISTS or OR REPLACE, in one transaction under an advisory lock,
// so it runs on every start and from several instances at once; it never
// drops or alters a column, and a column a user created with another type
// than the mapping's is kept as it is.
func (m *Mirror) migrate(ctx context.Context) error {
	s := ident(m.cfg.schema)
	ch := literal(channel(m.cfg.schema))
	return m.db.Tx(ctx, "create the mirror's tables", func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrateLock(m.cfg.schema)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+s); err != nil {
			return fmt.Errorf("create schema %q (the role needs CREATE on the database, or create the schema beforehand): %w", m.cfg.schema, err)
		}
		stmts := []string{
			fmt.Sprintf(captureFunc, s, ch),
			fmt.Sprintf(retryFunc, s, ch),
			fmt.Sprintf(softDeleteFunc, s),
			fmt.Sprintf(ownTables, s),
		}
		for _, t := range m.tables {
			stmts = append(stmts, tableDDL(s, t, sfsyncSystem(m.cfg.system), m.cfg.localSoft)...)
		}
		for _, q := range stmts {
			if _, err := tx.Exec(ctx, q); err != nil {
				return fmt.Errorf("%w\n%s", err, q)
			}
		}
		return nil
	})
}

func tableDDL(s string, t *table, writer string, localSoft bool) []string {
	q := s + "." + ident(t.name)
	out := []string{
		`CREATE TABLE IF NOT EXISTS ` + q + ` (id bigserial PRIMARY KEY)`,
		`ALTER TABLE ` + q + ` ADD COLUMN IF NOT EXISTS id bigserial`,
		`ALTER TABLE ` + q + ` ADD COLUMN IF NOT EXISTS sfid text`,
		`ALTER TABLE ` + q + ` ADD COLUMN IF NOT EXISTS is_deleted boolean NOT NULL DEFAULT false`,
		`ALTER TABLE ` + q + ` ADD COLUMN IF NOT EXISTS sfsync_versions jsonb NOT NULL DEFAULT '{}'`,
		`ALTER TABLE ` + q + ` ADD COLUMN IF NOT EXISTS sfsync_last_op text`,
		`ALTER TABLE ` + q + ` ADD COLUMN IF NOT EXISTS sfsync_last_op_at timestamptz`,
		`ALTER TABLE ` + q + ` ADD COLUMN IF NOT EXISTS sfsync_last_error text`,
		`CREATE UNIQUE INDEX IF NOT EXISTS ` + ident(t.name+"_sfid_key") + ` ON ` + q + ` (sfid)`,
		`CREATE UNIQUE INDEX IF NOT EXISTS ` + ident(t.name+"_id_key") + ` ON ` + q + ` (id)`,
	}
	if t.link != "" {
		out = append(out,
			`ALTER TABLE `+q+` ADD COLUMN IF NOT EXISTS `+ident(t.link)+` text`,
			`CREATE UNIQUE INDEX IF NOT EXISTS `+ident(t.name+"_"+t.link+"_key")+` ON `+q+` (`+ident(t.link)+`)`)
	}
	args := []string{literal(t.link), literal(writer)}
	for _, c := range t.columns {
		out = append(out, `ALTER TABLE `+q+` ADD COLUMN IF NOT EXISTS `+ident(c.name)+` `+string(c.typ))
		args = append(args, literal(c.name))
	}
	fn := s + `.sfsync_capture(` + strings.Join(args, ", ") + `)`
	out = append(out,
		`CREATE OR REPLACE TRIGGER sfsync_capture_before BEFORE INSERT OR UPDATE ON `+q+` FOR EACH ROW EXECUTE FUNCTION `+fn,
		`CREATE OR REPLACE TRIGGER sfsync_capture_after AFTER INSERT OR UPDATE OR DELETE ON `+q+` FOR EACH ROW EXECUTE FUNCTION `+fn)
	if localSoft {
		out = append(out, `CREATE OR REPLACE TRIGGER sfsync_soft_delete BEFORE DELETE ON `+q+` FOR EACH ROW EXECUTE FUNCTION `+s+`.sfsync_soft_delete()`)
	} else {
		out = append(out, `DROP TRIGGER IF EXISTS sfsync_soft_delete ON `+q)
	}
	return out
}
