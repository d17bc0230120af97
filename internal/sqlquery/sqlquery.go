// Package sqlquery builds the SQL the SQLite and PostgreSQL stores share,
// which differ only in how they number parameters.
package sqlquery

import (
	"strings"

	"github.com/sfsync/sfsync"
)

// Placeholder names the nth parameter (from 1): "?" for SQLite, "$n" for
// PostgreSQL.
type Placeholder func(n int) string

// Outcomes returns the query of the outcomes matching q, oldest first and,
// among equal times, in the order recorded, selecting cols, with at most
// limit rows; and its arguments.
func Outcomes(cols string, q sfsync.OutcomeQuery, limit int, ph Placeholder) (string, []any) {
	where, args := OutcomeConditions(q, ph)
	query := `SELECT ` + cols + ` FROM outcomes`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, " AND ")
	}
	args = append(args, limit)
	return query + ` ORDER BY at, seq LIMIT ` + ph(len(args)), args
}

// OutcomeConditions returns the conditions on an outcome row that q sets
// (in stored form), to be joined with AND, and their arguments, numbered
// from 1.
func OutcomeConditions(q sfsync.OutcomeQuery, ph Placeholder) (where []string, args []any) {
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, cond+" "+ph(len(args)))
	}
	if q.Object != "" {
		add("object =", q.Object)
	}
	if q.RecordID != "" {
		add("record_id =", q.RecordID)
	}
	if q.Key != "" {
		add("key =", q.Key)
	}
	if q.Status != "" {
		add("status =", string(q.Status))
	}
	if !q.Since.IsZero() {
		add("at >=", q.Since.UnixNano())
	}
	return where, args
}
