package pgmirror

import (
	"context"
	"encoding/json"

	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/salesforce"
)

// statement is one change as SQL.
type statement struct {
	sql  string
	args []any
	// guarded: the statement returns whether it claimed the change's key
	// and whether it wrote (see build's fresh).
	guarded bool
}

// keyColumn returns the column that identifies record id: sfid for a
// Salesforce id, the link column for anything else.
func (t *table) keyColumn(id string) (string, error) {
	if salesforce.IsID(id) {
		return "sfid", nil
	}
	if t.link == "" {
		return "", sfsync.Permanent(fmt.Errorf("pgmirror: %s id %q is no Salesforce id and the mapping of %s has no LinkField to hold it; set Mapping.LinkField", t.entity, id, t.object))
	}
	return t.link, nil
}

// target returns the table of a change and the column its record id is
// in.
func (m *Mirror) target(c *sfsync.Change) (*table, string, error) {
	t, ok := m.byEnt[c.Object]
	if !ok {
		return nil, "", sfsync.Permanent(fmt.Errorf("pgmirror: no table mirrors %q; add it with WithTable: %w", c.Object, sfsync.ErrInvalid))
	}
	if c.RecordID == "" {
		return nil, "", sfsync.Permanent(fmt.Errorf("pgmirror: %s change of %s has no record id: %w", c.Op, c.Object, sfsync.ErrInvalid))
	}
	key, err := t.keyColumn(c.RecordID)
	if err != nil {
		return nil, "", err
	}
	return t, key, nil
}

// build turns one change into its statement. Every statement first claims
// the change's idempotency key in sfsync_keys and does nothing when the
// key was claimed before, so a retried write is applied once.
//
// fresh builds the statement of a change whose record must not exist
// (see [Mirror.WriteIf]): a create, update or undelete inserts the row
// or does nothing when a row with its id is there, and the statement
// returns whether it claimed the key and whether it inserted, so that a
// row that appeared after the check fails the change instead of being
// overwritten; a delete of a record that does not exist only claims the
// key.
func (m *Mirror) build(c *sfsync.Change, fresh bool) (*statement, error) {
	t, key, err := m.target(c)
	if err != nil {
		return nil, err
	}
	s := ident(m.cfg.schema)
	q := s + "." + ident(t.name)
	st := &statement{}
	arg := func(v any) string {
		st.args = append(st.args, v)
		return "$" + strconv.Itoa(len(st.args))
	}
	claim, from := "", ""
	if c.Key != "" {
		claim = `WITH k AS (INSERT INTO ` + s + `.sfsync_keys (key) VALUES (` + arg(c.Key) + `) ON CONFLICT DO NOTHING RETURNING 1) `
		from = " FROM k"
	}
	id := arg(c.RecordID)
	switch c.Op {
	case sfsync.OpDelete:
		if fresh {
			// Nothing to delete, and a row that appears meanwhile is
			// someone else's record, never this delete's.
			if c.Key != "" {
				st.sql = `INSERT INTO ` + s + `.sfsync_keys (key) VALUES (` + arg(c.Key) + `) ON CONFLICT DO NOTHING`
			}
			return st, nil
		}
		if !m.cfg.soft {
			using := ""
			if claim != "" {
				using = " USING k"
			}
			st.sql = claim + `DELETE FROM ` + q + ` AS r` + using + ` WHERE r.` + ident(key) + ` = ` + id
			return st, nil
		}
		vs, err := stamps(c, nil)
		if err != nil {
			return nil, sfsync.Permanent(err)
		}
		st.sql = claim + `UPDATE ` + q + ` AS r SET is_deleted = true, sfsync_versions = r.sfsync_versions || ` + arg(string(vs)) + `::jsonb,
			sfsync_last_op = 'delete', sfsync_last_op_at = now(), sfsync_last_error = NULL` + from + ` WHERE r.` + ident(key) + ` = ` + id
		return st, nil
	case sfsync.OpCreate, sfsync.OpUpdate, sfsync.OpUndelete:
	default:
		return nil, sfsync.Permanent(fmt.Errorf("pgmirror: a %s change is no record change a table can hold: %w", c.Op, sfsync.ErrInvalid))
	}
	touched := c.Touched()
	cols := []string{ident(key)}
	vals := []string{id}
	var sets []string
	for _, f := range touched {
		if f == key {
			continue
		}
		typ := Text
		if f != t.link && f != "sfid" {
			col, ok := t.byName[f]
			if !ok {
				return nil, sfsync.Permanent(fmt.Errorf("pgmirror: %s has no column %q; add the field to the mapping: %w", t.name, f, sfsync.ErrInvalid))
			}
			typ = col.typ
		}
		v, _ := c.Value(f)
		p := "NULL::" + string(typ)
		if v != nil {
			text, err := toText(v, typ)
			if err != nil {
				return nil, err
			}
			p = "CAST(" + arg(text) + "::text AS " + string(typ) + ")"
		}
		cols = append(cols, ident(f))
		vals = append(vals, p)
		sets = append(sets, ident(f)+" = EXCLUDED."+ident(f))
	}
	vs, err := stamps(c, touched)
	if err != nil {
		return nil, sfsync.Permanent(err)
	}
	deleted := "r.is_deleted"
	if c.Op != sfsync.OpUpdate {
		deleted = "false"
	}
	cols = append(cols, "is_deleted", "sfsync_versions", "sfsync_last_op", "sfsync_last_op_at", "sfsync_last_error")
	vals = append(vals, "false", arg(string(vs))+"::jsonb", arg(string(c.Op)), "now()", "NULL")
	sets = append(sets, "is_deleted = "+deleted, "sfsync_versions = r.sfsync_versions || EXCLUDED.sfsync_versions",
		"sfsync_last_op = EXCLUDED.sfsync_last_op", "sfsync_last_op_at = EXCLUDED.sfsync_last_op_at", "sfsync_last_error = NULL")
	if key != "sfid" && !slices.Contains(touched, "sfid") {
		// A row keyed by its link takes the Salesforce id learned for the
		// link (see [Mirror.LearnIDs]), if one was.
		cols = append(cols, "sfid")
		vals = append(vals, `(SELECT sfid FROM `+s+`.sfsync_links WHERE tbl = `+arg(t.name)+` AND link = `+id+`)`)
		sets = append(sets, "sfid = COALESCE(r.sfid, EXCLUDED.sfid)")
	}
	insert := `INSERT INTO ` + q + ` AS r (` + strings.Join(cols, ", ") + `) SELECT ` + strings.Join(vals, ", ") + from
	if !fresh {
		st.sql = claim + insert + ` ON CONFLICT (` + ident(key) + `) DO UPDATE SET ` + strings.Join(sets, ", ")
		return st, nil
	}
	st.guarded = true
	claimed := "true"
	with := "WITH "
	if claim != "" {
		claimed = "EXISTS (SELECT 1 FROM k)"
		with = claim[:len(claim)-1] + ", "
	}
	st.sql = with + `w AS (` + insert + ` ON CONFLICT (` + ident(key) + `) DO NOTHING RETURNING 1) SELECT ` + claimed + `, EXISTS (SELECT 1 FROM w)`
	return st, nil
}

// Write applies Salesforce changes to the mirrored tables in slice order,
// in one transaction whose writes the capture trigger does not record.
// Each change is applied at most once per idempotency key. A change the
// database refuses (a value that does not fit its column, a constraint)
// fails alone, as a permanent entry of a [*sfsync.BatchError]; a failure
// of the connection fails every change, retryably.
func (m *Mirror) Write(ctx context.Context, changes []sfsync.Change) error {
	if len(changes) == 0 {
		return nil
	}
	if err := m.check(ctx); err != nil {
		return m.fail("write", err)
	}
	errs := make([]error, len(changes))
	stmts := make([]*statement, len(changes))
	failed := false
	for i := range changes {
		st, err := m.build(&changes[i], false)
		if err != nil {
			errs[i], failed = err, true
			continue
		}
		stmts[i] = st
	}
	bad := -1
	err := m.db.Tx(ctx, "write changes", func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		b.Queue(`SELECT set_config('sfsync.origin', $1, true)`, m.cfg.clientID)
		var idx []int
		for i, st := range stmts {
			if st != nil {
				b.Queue(st.sql, st.args...)
				idx = append(idx, i)
			}
		}
		br := tx.SendBatch(ctx, b)
		if _, err := br.Exec(); err != nil {
			br.Close()
			return err
		}
		for _, i := range idx {
			if _, err := br.Exec(); err != nil {
				bad = i
				br.Close()
				return err
			}
		}
		return br.Close()
	})
	if err != nil {
		if bad >= 0 && sfsync.IsPermanent(err) && len(stmts) > 1 {
			// One change is refused: apply the others without it.
			return m.writeEach(ctx, stmts, errs)
		}
		for i := range errs {
			if errs[i] == nil {
				errs[i] = err
			}
		}
		if len(errs) == 1 {
			return errs[0]
		}
		return &sfsync.BatchError{Errs: errs}
	}
	if failed {
		return &sfsync.BatchError{Errs: errs}
	}
	return nil
}

// writeEach applies statements one by one, each behind a savepoint, so
// that a refused change fails alone.
func (m *Mirror) writeEach(ctx context.Context, stmts []*statement, errs []error) error {
	err := m.db.Tx(ctx, "write changes one by one", func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT set_config('sfsync.origin', $1, true)`, m.cfg.clientID); err != nil {
			return err
		}
		for i, st := range stmts {
			if st == nil {
				continue
			}
			sp, err := tx.Begin(ctx)
			if err != nil {
				return err
			}
			if _, err := sp.Exec(ctx, st.sql, st.args...); err != nil {
				errs[i] = m.fail("write change", err)
				if rerr := sp.Rollback(ctx); rerr != nil {
					return rerr
				}
				if !sfsync.IsPermanent(errs[i]) {
					return err
				}
				continue
			}
			if err := sp.Commit(ctx); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		for i := range errs {
			if errs[i] == nil || !sfsync.IsPermanent(errs[i]) {
				errs[i] = err
			}
		}
	}
	for _, e := range errs {
		if e != nil {
			return &sfsync.BatchError{Errs: errs}
		}
	}
	return nil
}

// Read returns the rows of entity (an external entity name) by the ids the
// engine knows them by (links, or Salesforce ids for rows without one),
// with their per-field versions and last writers. Soft deleted rows are
// returned marked Deleted; missing ids (and rows deleted without
// [WithSoftDeletes]) are omitted.
func (m *Mirror) Read(ctx context.Context, entity string, ids []string) (map[string]sfsync.Record, error) {
	out := make(map[string]sfsync.Record, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	if err := m.check(ctx); err != nil {
		return nil, m.fail("read", err)
	}
	t, ok := m.byEnt[entity]
	if !ok {
		return nil, sfsync.Permanent(fmt.Errorf("pgmirror: no table mirrors %q; add it with WithTable: %w", entity, sfsync.ErrInvalid))
	}
	var links, sfids []string
	for _, id := range ids {
		if key, err := t.keyColumn(id); err == nil && key != "sfid" {
			links = append(links, id)
		} else {
			sfids = append(sfids, id)
		}
	}
	where := `r.sfid = ANY($2)`
	if t.link != "" {
		where = `r.` + ident(t.link) + ` = ANY($1) OR ` + where
	} else {
		where = `cardinality($1::text[]) < 0 OR ` + where
	}
	q := `SELECT to_jsonb(r) FROM ` + ident(m.cfg.schema, t.name) + ` r WHERE ` + where
	err := m.db.Conn(ctx, "read rows of "+t.name, func(c *pgx.Conn) error {
		rows, err := c.Query(ctx, q, links, sfids)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var raw []byte
			if err := rows.Scan(&raw); err != nil {
				return err
			}
			var row map[string]json.RawMessage
			if err := json.Unmarshal(raw, &row); err != nil {
				return err
			}
			var link, sfid string
			if t.link != "" {
				_ = json.Unmarshal(row[t.link], &link)
			}
			_ = json.Unmarshal(row["sfid"], &sfid)
			for _, id := range []string{link, sfid} {
				if id == "" || !slices.Contains(ids, id) {
					continue
				}
				rec, err := t.record(id, row)
				if err != nil {
					return err
				}
				out[id] = rec
			}
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
