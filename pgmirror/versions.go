package pgmirror

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sfsync/sfsync"
)

// versionsPage is how many rows Versions reads a query.
const versionsPage = 5000

// Versions lists the versions of entity's rows whose record version is at
// or after since (all when since is zero), soft deleted ones included:
// each as the engine knows it (its link, else its Salesforce id), with
// Deleted, the record's version and every mirrored column's version and
// last writer from sfsync_versions, without values. It is the lister
// sync.CompareTarget takes for a drift check of the mirror: the mirror's
// writes stamp the version of the change written, and local edits the
// trigger's clock. Rows with neither a link nor a Salesforce id cannot be
// synced and are left out.
//
// Rows are read in pages of their row id, a connection held only while a
// page is read, so the caller may write to the mirror between records.
func (m *Mirror) Versions(ctx context.Context, entity string, since time.Time) iter.Seq2[sfsync.Record, error] {
	return func(yield func(sfsync.Record, error) bool) {
		t, ok := m.byEnt[entity]
		if !ok {
			yield(sfsync.Record{}, sfsync.Permanent(fmt.Errorf("pgmirror: no table mirrors %q; add it with WithTable: %w", entity, sfsync.ErrInvalid)))
			return
		}
		if err := m.check(ctx); err != nil {
			yield(sfsync.Record{}, m.fail("list versions", err))
			return
		}
		link := `NULL::text`
		if t.link != "" {
			link = `r.` + ident(t.link)
		}
		var from *time.Time
		if !since.IsZero() {
			s := since.UTC()
			from = &s
		}
		q := `SELECT r.id, coalesce(nullif(` + link + `, ''), r.sfid), jsonb_build_object('is_deleted', r.is_deleted, 'sfsync_versions', r.sfsync_versions)
			FROM ` + ident(m.cfg.schema, t.name) + ` r
			WHERE r.id > $1 AND coalesce(nullif(` + link + `, ''), r.sfid) IS NOT NULL
				AND ($2::timestamptz IS NULL OR (r.sfsync_versions->''->>'t')::timestamptz >= $2)
			ORDER BY r.id LIMIT ` + fmt.Sprint(versionsPage)
		var after int64
		for {
			var page []sfsync.Record
			err := m.db.Conn(ctx, "list versions of "+t.name, func(c *pgx.Conn) error {
				rows, err := c.Query(ctx, q, after, from)
				if err != nil {
					return err
				}
				defer rows.Close()
				for rows.Next() {
					var id string
					var raw []byte
					if err := rows.Scan(&after, &id, &raw); err != nil {
						return err
					}
					var row map[string]json.RawMessage
					if err := json.Unmarshal(raw, &row); err != nil {
						return err
					}
					rec, err := t.record(id, row)
					if err != nil {
						return err
					}
					rec.Fields = nil
					page = append(page, rec)
				}
				return rows.Err()
			})
			if err != nil {
				yield(sfsync.Record{}, fmt.Errorf("pgmirror: listing versions of %s: %w", t.name, err))
				return
			}
			for _, rec := range page {
				if !yield(rec, nil) {
					return
				}
			}
			if len(page) < versionsPage {
				return
			}
		}
	}
}
