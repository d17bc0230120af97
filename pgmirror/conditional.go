package pgmirror

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/sfsync/sfsync"
)

// WriteIf implements [sfsync.ConditionalSink]: it is [Mirror.Write], with
// each change applied only if its row is still as read[i], the record the
// engine decided it against, describes it. Local users edit the mirrored
// tables at any time; without the condition a local edit committed between
// the engine's Read and its write would be overwritten by a Salesforce
// change never decided against it, while the edit itself still went to
// Salesforce, leaving the two systems apart.
//
// In the write's transaction the row of each record read as existing is
// locked (SELECT ... FOR UPDATE, which waits for a local transaction
// holding it) and compared with read[i] as [Mirror.Read] reports rows: whether it exists, whether
// it is soft deleted, the record's version and the version of every
// mirrored column in sfsync_versions, compared as versions. Every local
// edit of a mirrored column or of is_deleted stamps the row (the capture
// trigger) and every write of the mirror stamps it too, so any write since
// the read shows. The lock keeps the row as compared until the change is
// applied. A record that did not exist must still not exist: its row is
// inserted with ON CONFLICT DO NOTHING, so that one a local user inserts
// meanwhile fails the change instead of being overwritten.
//
// A change whose row changed fails alone with a [sfsync.KindConflict]
// error, and the transaction that would have applied it is rolled back and
// run again without it, so that neither its data nor its idempotency key
// is left behind; the engine reads the row again and decides again.
func (m *Mirror) WriteIf(ctx context.Context, changes []sfsync.Change, read []sfsync.Record) error {
	if len(read) != len(changes) {
		return sfsync.Permanent(fmt.Errorf("pgmirror: WriteIf of %d changes with %d records read; pass one record per change: %w", len(changes), len(read), sfsync.ErrInvalid))
	}
	if len(changes) == 0 {
		return nil
	}
	if err := m.check(ctx); err != nil {
		return m.fail("write", err)
	}
	w := &condWrite{m: m, changes: changes, read: read, errs: make([]error, len(changes)),
		plain: make([]*statement, len(changes)), fresh: make([]*statement, len(changes)),
		tables: make([]*table, len(changes)), rec: make([]string, len(changes)), first: map[string]int{}}
	for i := range changes {
		c := &changes[i]
		t, key, err := m.target(c)
		if err != nil {
			w.errs[i] = err
			continue
		}
		if w.plain[i], err = m.build(c, false); err != nil {
			w.errs[i] = err
			continue
		}
		w.tables[i], w.rec[i] = t, t.name+"\x00"+key+"\x00"+c.RecordID
		if _, ok := w.first[w.rec[i]]; !ok {
			w.first[w.rec[i]] = i
			if !read[i].Exists {
				if w.fresh[i], err = m.build(c, true); err != nil {
					w.errs[i], w.plain[i] = err, nil
				}
			}
		}
	}
	// Each run that stops at a refused or conflicting change settles that
	// change, so at most one run per change is repeated.
	for range len(changes) + 1 {
		again, err := w.run(ctx)
		if err != nil {
			for i := range w.errs {
				if w.errs[i] == nil {
					w.errs[i] = err
				}
			}
			break
		}
		if !again {
			break
		}
	}
	for _, err := range w.errs {
		if err != nil {
			return &sfsync.BatchError{Errs: w.errs}
		}
	}
	return nil
}

// condWrite is one WriteIf call: its changes, what each failed with, and
// the statements that apply them.
type condWrite struct {
	m       *Mirror
	changes []sfsync.Change
	read    []sfsync.Record
	errs    []error
	plain   []*statement // the change as Write applies it
	fresh   []*statement // the first change of a record that must not exist
	tables  []*table
	rec     []string       // the record a change names: table, key column, id
	first   map[string]int // the change that was decided first of each record
}

// run applies the changes that have not failed in one transaction. It
// returns again when a change failed and the transaction was rolled back
// for it: the caller runs the others again.
func (w *condWrite) run(ctx context.Context) (again bool, err error) {
	m := w.m
	bad := -1
	err = m.db.Tx(ctx, "write changes if unchanged", func(tx pgx.Tx) error {
		bad = -1
		// Lock and compare the row of every record, before any change
		// of it applies: one query per table and key column, locking in
		// row order, so that two writes lock rows in the same order.
		type group struct {
			q   string
			ids []string
			idx map[string]int // the change carrying each id's precondition
		}
		var groups []*group
		byQuery := map[string]*group{}
		for i := range w.changes {
			rec := w.rec[i]
			if rec == "" || w.first[rec] != i {
				continue
			}
			if j := w.live(rec); j < 0 || !w.read[i].Exists && w.changes[j].Op != sfsync.OpDelete {
				// None left, or the guarded insert checks that the row
				// still does not exist (see build's fresh).
				continue
			}
			t, key, _ := m.target(&w.changes[i])
			q := `SELECT r.` + ident(key) + `, to_jsonb(r) FROM ` + ident(m.cfg.schema, t.name) + ` r WHERE r.` + ident(key) + ` = ANY($1) ORDER BY r.id FOR UPDATE`
			g := byQuery[q]
			if g == nil {
				g = &group{q: q, idx: map[string]int{}}
				byQuery[q] = g
				groups = append(groups, g)
			}
			g.ids = append(g.ids, w.changes[i].RecordID)
			g.idx[w.changes[i].RecordID] = i
		}
		for _, g := range groups {
			found := make(map[string][]byte, len(g.ids))
			rows, err := tx.Query(ctx, g.q, g.ids)
			if err != nil {
				return err
			}
			for rows.Next() {
				var id string
				var raw []byte
				if err := rows.Scan(&id, &raw); err != nil {
					rows.Close()
					return err
				}
				found[id] = raw
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			for _, id := range g.ids {
				if why := w.changed(g.idx[id], found[id]); why != "" {
					w.conflict(g.idx[id], why)
				}
			}
		}

		b := &pgx.Batch{}
		b.Queue(`SELECT set_config('sfsync.origin', $1, true)`, m.cfg.clientID)
		var idx []int
		for i := range w.changes {
			if st := w.statement(i); st != nil && st.sql != "" {
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
			if st := w.statement(i); st.guarded {
				var claimed, wrote bool
				if err := br.QueryRow().Scan(&claimed, &wrote); err != nil {
					bad = i
					br.Close()
					return err
				}
				if claimed && !wrote {
					// A row with its id appeared after the check. The
					// claim is undone with the rest of the run.
					w.conflict(i, "a row with its id was inserted since it was read")
					again = true
				}
				continue
			}
			if _, err := br.Exec(); err != nil {
				bad = i
				br.Close()
				return err
			}
		}
		if err := br.Close(); err != nil {
			return err
		}
		if again {
			return errRunAgain
		}
		return nil
	})
	switch {
	case again:
		return true, nil
	case err != nil && bad >= 0 && sfsync.IsPermanent(err):
		// One change is refused: it fails alone, the others run again.
		w.errs[bad] = err
		return true, nil
	}
	return false, err
}

var errRunAgain = errors.New("pgmirror: a change failed its precondition; the others are written again without it")

// live returns the change that carries the precondition of record rec
// in this run (the first one that has not failed), or -1 when none is left.
func (w *condWrite) live(rec string) int {
	for i := w.first[rec]; i < len(w.changes); i++ {
		if w.rec[i] == rec && w.errs[i] == nil {
			return i
		}
	}
	return -1
}

// statement returns what applies change i in this run: nil when it failed;
// the fresh statement when it is the first change of a record that must
// not exist.
func (w *condWrite) statement(i int) *statement {
	if w.errs[i] != nil {
		return nil
	}
	if f := w.first[w.rec[i]]; w.fresh[f] != nil && w.live(w.rec[i]) == i {
		if f == i {
			return w.fresh[i]
		}
		// The first change failed alone: the next one inserts the row.
		st, err := w.m.build(&w.changes[i], true)
		if err != nil {
			w.errs[i] = err
			return nil
		}
		return st
	}
	return w.plain[i]
}

// conflict fails change i and every later change of its record: they were
// all decided against the row as it was read.
func (w *condWrite) conflict(i int, why string) {
	c := &w.changes[i]
	err := &sfsync.Error{Kind: sfsync.KindConflict, Err: fmt.Errorf(
		"pgmirror: %s %s changed since it was read (%s); read it again and decide again", w.tables[i].name, c.RecordID, why)}
	for j := i; j < len(w.changes); j++ {
		if w.rec[j] == w.rec[i] && w.errs[j] == nil {
			w.errs[j] = err
		}
	}
}

// changed compares the row of change i's record, as locked (raw is its
// to_jsonb form, nil when there is none), with the record the change was
// decided against. It says how the row differs, or "" when it does not.
func (w *condWrite) changed(i int, raw []byte) string {
	want := w.read[w.first[w.rec[i]]]
	switch {
	case raw == nil && want.Exists:
		return "the row was deleted"
	case raw == nil:
		return ""
	case !want.Exists:
		return "a row with its id was inserted"
	}
	var row map[string]json.RawMessage
	if err := json.Unmarshal(raw, &row); err != nil {
		return "its row cannot be read: " + err.Error()
	}
	t := w.tables[i]
	now, err := t.record(w.changes[i].RecordID, row)
	if err != nil {
		return err.Error()
	}
	return differs(t, want, now)
}

// differs says how record now differs from want in what every write
// changes: existence as a live or soft deleted row, the record's version
// and the versions of the mirrored columns. Columns want has no versions
// for are compared only when it has some: a reader that reports none
// leaves them to the record's version.
func differs(t *table, want, now sfsync.Record) string {
	if want.Deleted != now.Deleted {
		if now.Deleted {
			return "the row was deleted"
		}
		return "the row was restored"
	}
	if want.Version.Compare(now.Version) != 0 {
		return fmt.Sprintf("its version is %s, it was read at %s", now.Version, want.Version)
	}
	if want.FieldVersions == nil {
		return ""
	}
	for _, c := range t.columns {
		wv, had := want.FieldVersions[c.name]
		nv, has := now.FieldVersions[c.name]
		switch {
		case had != has:
			return fmt.Sprintf("%s was written", c.name)
		case has && wv.Compare(nv) != 0:
			return fmt.Sprintf("%s was written at %s, it was read at %s", c.name, nv, wv)
		}
	}
	return ""
}
