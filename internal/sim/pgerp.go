package sim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/pgmirror"
)

// pgERP is the ERP as package pgmirror runs it: one table per object in a
// PostgreSQL schema of the run's own, the mirror as the engine's sink for
// Salesforce changes (and its state reader), its outbox Source as the
// engine's source of local edits, LearnIDs around the Salesforce
// subscriptions and Track around the Salesforce sink, as a deployment
// wires them. The workload's ERP edits are plain SQL on the mirrored
// tables, which the capture trigger records.
//
// The trigger stamps local edits with the database's clock_timestamp(),
// which the scenario does not move. So that versions stay virtual (and
// the ERP's clock skew applies), each edit's transaction, after its user
// statement, rewrites the stamps that statement made, and the outbox row's
// time, to the edit's virtual version, as the mirror's own writes do
// (sfsync.origin set, so the trigger records nothing more). Everything
// the engine can see commits at once.
type pgERP struct {
	m      *pgmirror.Mirror
	dsn    string
	schema string
	outbox string // the outbox table, quoted
	feed   string // the sources' checkpoint stream
}

func newPgERP(ctx context.Context, dsn, schema string, objects []objectSpec, log *slog.Logger) (*pgERP, error) {
	opts := []pgmirror.Option{
		pgmirror.WithSchema(schema), pgmirror.WithSystem("erp"), pgmirror.WithClientID("sfsync"), pgmirror.WithLogger(log),
		// Notifications wake the sources; the poll only covers a lost one.
		pgmirror.WithPollInterval(20 * time.Millisecond),
		// Pruning runs on the real clock, the outbox's times are virtual:
		// a run keeps its whole outbox, which the settles read.
		pgmirror.WithPruneInterval(0),
		// A local DELETE keeps a tombstone with its versions, as the
		// in-memory ERP does, so that a delete can win a later conflict.
		pgmirror.WithLocalSoftDeletes(true),
		pgmirror.WithMaxConns(6),
	}
	for i := range objects {
		opts = append(opts, pgmirror.WithTable(pgmirror.Table{Mapping: objects[i].mapping()}))
	}
	m, err := pgmirror.Open(ctx, dsn, opts...)
	if err != nil {
		return nil, fmt.Errorf("opening the pgmirror ERP in schema %s: %w", schema, err)
	}
	return &pgERP{m: m, dsn: dsn, schema: schema, outbox: pgx.Identifier{schema, "sfsync_outbox"}.Sanitize(), feed: m.Source().Stream()}, nil
}

func (p *pgERP) close() {
	p.m.Close()
	dropSchema(p.dsn, p.schema)
}

func (p *pgERP) sink() stateSink { return p.m }

func (p *pgERP) stream() string { return p.feed }

func (p *pgERP) subscription(src sfsync.EventSource) sfsync.EventSource { return p.m.LearnIDs(src) }

func (p *pgERP) tracked(s stateSink) stateSink {
	t, ok := p.m.Track(s).(stateSink)
	if !ok {
		panic("sim: pgmirror's Track of a state reader no longer reads state")
	}
	return t
}

func (p *pgERP) source(dup bool) (sfsync.EventSource, func()) {
	s := p.m.Source()
	closer := func() { s.Close() }
	if dup {
		return &twice{Source: s}, closer
	}
	return s, closer
}

// twice delivers every delivery of an outbox source twice in a row, as an
// at-least-once transport may.
type twice struct {
	*pgmirror.Source
	again []sfsync.Change
}

func (t *twice) Receive(ctx context.Context) ([]sfsync.Change, error) {
	if t.again != nil {
		cs := t.again
		t.again = nil
		return cs, nil
	}
	cs, err := t.Source.Receive(ctx)
	if err == nil && len(cs) > 0 {
		for _, c := range cs {
			t.again = append(t.again, c.Clone())
		}
	}
	return cs, err
}

func (p *pgERP) table(entity string) (string, error) {
	q, ok := p.m.Table(entity)
	if !ok {
		return "", fmt.Errorf("no mirrored table for %s", entity)
	}
	return q, nil
}

// linkColumn is the column pgmirror gives the mapping's LinkField.
var linkColumn = pgx.Identifier{strings.ToLower(linkField)}.Sanitize()

func (p *pgERP) edit(ctx context.Context, entity, id string, fields map[string]any, v sfsync.Version) ([]string, error) {
	q, err := p.table(entity)
	if err != nil {
		return nil, err
	}
	cols, vals, sets := []string{linkColumn}, []string{"$1"}, []string{}
	args := []any{id}
	for _, f := range sortedKeys(fields) {
		args = append(args, fields[f])
		c := pgx.Identifier{f}.Sanitize()
		cols, vals = append(cols, c), append(vals, "$"+strconv.Itoa(len(args))+"::text")
		sets = append(sets, c+" = EXCLUDED."+c)
	}
	stmt := `INSERT INTO ` + q + ` (` + strings.Join(cols, ", ") + `) VALUES (` + strings.Join(vals, ", ") + `)
		ON CONFLICT (` + linkColumn + `) DO UPDATE SET ` + strings.Join(sets, ", ")
	changed, _, err := p.user(ctx, q, id, v, stmt, args...)
	return slices.DeleteFunc(changed, func(f string) bool { _, ok := fields[f]; return !ok }), err
}

// remove deletes a live row as a user would, by a DELETE (which the
// mirror's soft-delete trigger turns into a tombstone) or, on odd
// versions, by setting is_deleted: both are deletes to pgmirror.
func (p *pgERP) remove(ctx context.Context, entity, id string, v sfsync.Version) (bool, error) {
	q, err := p.table(entity)
	if err != nil {
		return false, err
	}
	stmt := `DELETE FROM ` + q + ` WHERE ` + linkColumn + ` = $1 AND NOT is_deleted`
	if v.Counter%2 == 1 {
		stmt = `UPDATE ` + q + ` SET is_deleted = true WHERE ` + linkColumn + ` = $1 AND NOT is_deleted`
	}
	_, recorded, err := p.user(ctx, q, id, v, stmt, id)
	return recorded, err
}

// user runs a user's statement on row id of table q and rewrites the
// versions it stamped to v (see pgERP). It returns the columns whose
// stamps the statement set (the ones it changed), and whether the
// trigger recorded a change to send.
func (p *pgERP) user(ctx context.Context, q, id string, v sfsync.Version, stmt string, args ...any) ([]string, bool, error) {
	var changed []string
	recorded := false
	err := pgx.BeginFunc(ctx, p.m.Pool(), func(tx pgx.Tx) error {
		before, err := rowVersions(ctx, tx, q, id, true)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, stmt, args...); err != nil {
			return fmt.Errorf("user statement: %w", err)
		}
		after, err := rowVersions(ctx, tx, q, id, false)
		if err != nil {
			return err
		}
		patch := map[string]json.RawMessage{}
		for k, raw := range after {
			if bytes.Equal(before[k], raw) {
				continue
			}
			var st map[string]any
			if err := json.Unmarshal(raw, &st); err != nil {
				return fmt.Errorf("reading the stamp of %s: %w", k, err)
			}
			st["t"] = v.Time.UTC().Format(time.RFC3339Nano)
			if patch[k], err = json.Marshal(st); err != nil {
				return err
			}
			if k != "" {
				changed = append(changed, k)
			}
		}
		if _, err := tx.Exec(ctx, `SELECT set_config('sfsync.origin', 'sim-clock', true)`); err != nil {
			return err
		}
		if len(patch) > 0 {
			b, err := json.Marshal(patch)
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `UPDATE `+q+` SET sfsync_versions = sfsync_versions || $2::jsonb WHERE `+linkColumn+` = $1`, id, string(b)); err != nil {
				return fmt.Errorf("restamping versions: %w", err)
			}
		}
		rows, err := tx.Query(ctx, `UPDATE `+p.outbox+` SET at = $1 WHERE xid = pg_current_xact_id() RETURNING state`, v.Time)
		if err != nil {
			return err
		}
		states, err := pgx.CollectRows(rows, pgx.RowTo[string])
		recorded = slices.Contains(states, "new")
		return err
	})
	slices.Sort(changed)
	return changed, recorded, err
}

// rowVersions returns the row's sfsync_versions entries, raw (PostgreSQL
// renders jsonb canonically, so equal entries have equal bytes).
func rowVersions(ctx context.Context, tx pgx.Tx, q, id string, lock bool) (map[string]json.RawMessage, error) {
	sql := `SELECT sfsync_versions::text FROM ` + q + ` WHERE ` + linkColumn + ` = $1`
	if lock {
		sql += ` FOR UPDATE`
	}
	var text string
	err := tx.QueryRow(ctx, sql, id).Scan(&text)
	if errors.Is(err, pgx.ErrNoRows) {
		return map[string]json.RawMessage{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the row's versions: %w", err)
	}
	out := map[string]json.RawMessage{}
	return out, json.Unmarshal([]byte(text), &out)
}

func (p *pgERP) record(ctx context.Context, entity, id string) (sfsync.Record, bool) {
	got, err := p.m.Read(ctx, entity, []string{id})
	if err != nil {
		return sfsync.Record{}, false
	}
	rec, ok := got[id]
	return rec, ok
}

// applied counts at the engine's sink wrapper: pgmirror applies each key
// once (sfsync_keys), so a repeat it absorbed still counts as what the
// engine sent, as the in-memory ERP's count does with idempotency off.
func (p *pgERP) applied(r *run) map[string]int {
	m, _ := r.toExt.counts()
	return m
}

// backlog lists the outbox rows a source would deliver that no engine
// instance received.
func (p *pgERP) backlog(r *run) string {
	var ids []int64
	err := p.m.Pool().QueryRow(r.ctx, `SELECT coalesce(array_agg(id ORDER BY id), '{}') FROM `+p.outbox+`
		WHERE state NOT IN ('ignored', 'retried')`).Scan(&ids)
	if err != nil {
		return "reading the outbox: " + err.Error()
	}
	got := r.deliveredKeys()
	for _, id := range ids {
		if _, ok := got[p.key(id)]; !ok {
			return fmt.Sprintf("outbox row %d not delivered", id)
		}
	}
	return ""
}

// key is the idempotency key pgmirror's source gives an outbox row.
func (p *pgERP) key(id int64) string { return "pgmirror:" + p.schema + ":" + strconv.FormatInt(id, 10) }

func (p *pgERP) size(ctx context.Context) int {
	var n int
	if err := p.m.Pool().QueryRow(ctx, `SELECT count(*) FROM `+p.outbox).Scan(&n); err != nil {
		return -1
	}
	return n
}

// stuck lists the outbox rows still new or pending: once the engine has
// committed every delivery, each should be done (or failed, ignored,
// retried), which is what an operator reads the outbox for.
func (p *pgERP) stuck(ctx context.Context) string {
	var rows []string
	err := p.m.Pool().QueryRow(ctx, `SELECT coalesce(array_agg(id || ' ' || op || ' ' || coalesce(record_id, '') || ' ' || state ORDER BY id), '{}')
		FROM `+p.outbox+` WHERE state IN ('new', 'pending')`).Scan(&rows)
	if err != nil {
		return "reading the outbox: " + err.Error()
	}
	if len(rows) == 0 {
		return ""
	}
	return fmt.Sprintf("%d outbox rows still new or pending after quiescence: %s", len(rows), strings.Join(rows, "; "))
}

func (p *pgERP) unread(ctx context.Context) bool {
	var ok bool
	err := p.m.Pool().QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM `+p.outbox+` WHERE state = 'new')`).Scan(&ok)
	return err == nil && ok
}
