package pgmirror

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/sync"
)

// Type is the PostgreSQL type of a mirrored column.
type Type string

// The column types a [Table] can give its fields. Values that have no
// better type (compound values, lists) go in JSON.
const (
	Text      Type = "text"
	Numeric   Type = "numeric"
	Boolean   Type = "boolean"
	Date      Type = "date"
	Timestamp Type = "timestamptz"
	JSON      Type = "jsonb"
)

func (t Type) valid() bool {
	switch t {
	case Text, Numeric, Boolean, Date, Timestamp, JSON:
		return true
	}
	return false
}

// Table mirrors one mapped Salesforce object into one PostgreSQL table.
type Table struct {
	// Mapping is the engine's mapping of the object; its External field
	// names are the table's column names, and its LinkField, when set, gets
	// a column of its own that links rows created on either side.
	Mapping *sync.Mapping
	// Name is the table's name; empty means the mapping's external entity
	// name (Mapping.External, else the object name, lower-cased).
	Name string
	// Types gives the column type of external field names; a field not
	// named here is text. [TypesFrom] fills it from the object's describe.
	Types map[string]Type
}

// Option configures a [Mirror].
type Option func(*config)

type config struct {
	schema    string
	tables    []Table
	system    string
	clientID  string
	logger    *slog.Logger
	retention time.Duration
	poll      time.Duration
	maxBatch  int
	conns     int
	prune     time.Duration
	soft      bool
	localSoft bool
}

func defaultConfig() config {
	return config{
		schema:    "salesforce",
		system:    "postgres",
		clientID:  "sfsync",
		logger:    slog.Default(),
		retention: 24 * time.Hour,
		poll:      time.Second,
		maxBatch:  500,
		conns:     10,
		prune:     time.Minute,
		soft:      true,
	}
}

// WithSchema puts the mirrored tables and the mirror's own tables (outbox,
// applied keys, consumer positions) in the PostgreSQL schema name, created
// if missing; the default is "salesforce".
func WithSchema(name string) Option { return func(c *config) { c.schema = name } }

// WithTable mirrors one more object.
func WithTable(t Table) Option { return func(c *config) { c.tables = append(c.tables, t) } }

// WithSystem names the database as the engine's external system
// (sfsync.External(name)); the default is "postgres". Mappings restricted
// to a system (Mapping.System) must name the same one.
func WithSystem(name string) Option { return func(c *config) { c.system = name } }

// WithClientID sets the origin the sink's writes carry
// (SET LOCAL sfsync.origin), by which the capture trigger tells them from
// local edits; the default is "sfsync", as the engine's WithClientID.
func WithClientID(id string) Option { return func(c *config) { c.clientID = id } }

// WithLogger sets the logger; the default is slog.Default().
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// WithRetention sets how long finished outbox rows (done, ignored,
// retried) and the idempotency keys of applied writes are kept; the
// default is 24 hours. Failed rows stay until an operator retries or
// deletes them.
func WithRetention(d time.Duration) Option { return func(c *config) { c.retention = d } }

// WithPollInterval sets how often a source looks for local changes when no
// notification arrives (a lost LISTEN connection, or changes held back by
// a long transaction); the default is one second.
func WithPollInterval(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.poll = d
		}
	}
}

// WithMaxBatch bounds the local changes one Receive returns (default 500).
func WithMaxBatch(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.maxBatch = n
		}
	}
}

// WithMaxConns caps the connections the mirror opens (default 10); every
// source holds one more for LISTEN.
func WithMaxConns(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.conns = n
		}
	}
}

// WithSoftDeletes says what a Salesforce delete does to its row: on (the
// default), it sets is_deleted and keeps the row as a tombstone, with its
// values and per-field versions, which conflict policies weigh against
// later changes of the record, and which an undelete revives; off, it
// deletes the row, and a later change of the record starts it afresh.
//
// Local deletes reach Salesforce as deletes either way: a DELETE of the
// row (see [WithLocalSoftDeletes] to keep it), or an UPDATE that sets
// is_deleted to true, which keeps the row (setting it back to false is an
// undelete).
func WithSoftDeletes(on bool) Option { return func(c *config) { c.soft = on } }

// WithLocalSoftDeletes says what a local DELETE of a live row does: on, a
// trigger turns it into an UPDATE setting is_deleted (the statement
// reports the row as not deleted) and the row stays as a tombstone; off
// (the default), the row goes. Either way the delete reaches Salesforce.
// A DELETE of a row already soft deleted removes it for good, and is not
// sent again: that is how tombstones are purged. The setting is the
// schema's, applied by [Open]: every mirror sharing the schema must agree.
func WithLocalSoftDeletes(on bool) Option { return func(c *config) { c.localSoft = on } }

// WithPruneInterval sets how often rows past the retention are deleted in
// the background (default one minute); zero or less turns it off
// ([Mirror.Prune] still works).
func WithPruneInterval(d time.Duration) Option { return func(c *config) { c.prune = d } }

// column is one mirrored column.
type column struct {
	name string // external field name, the column's name
	typ  Type
}

// table is a configured Table, resolved.
type table struct {
	name    string // table name
	entity  string // external entity name, the changes' Object
	object  string // Salesforce object
	link    string // link column, "" without a LinkField
	linkSF  string // the Salesforce link field (Mapping.LinkField)
	columns []column
	byName  map[string]*column
}

// systemColumns are the columns every mirrored table has, which no mapped
// field may take.
var systemColumns = []string{"id", "sfid", "is_deleted", "sfsync_versions", "sfsync_last_op", "sfsync_last_op_at", "sfsync_last_error"}

func resolve(cfg *config) ([]*table, error) {
	if len(cfg.tables) == 0 {
		return nil, fmt.Errorf("pgmirror: no tables; add one with WithTable: %w", sfsync.ErrInvalid)
	}
	if err := checkIdent("schema", cfg.schema); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []*table
	for _, t := range cfg.tables {
		m := t.Mapping
		if m == nil || m.Object == "" {
			return nil, fmt.Errorf("pgmirror: a table has no mapping or its mapping no Object: %w", sfsync.ErrInvalid)
		}
		tb := &table{object: m.Object, entity: m.External, byName: map[string]*column{}}
		if tb.entity == "" {
			tb.entity = m.Object
		}
		tb.name = t.Name
		if tb.name == "" {
			tb.name = strings.ToLower(tb.entity)
		}
		if err := checkIdent("table", tb.name); err != nil {
			return nil, err
		}
		if seen[tb.entity] || seen["\x00"+tb.name] {
			return nil, fmt.Errorf("pgmirror: entity %q or table %q is mirrored twice; merge the tables: %w", tb.entity, tb.name, sfsync.ErrInvalid)
		}
		seen[tb.entity], seen["\x00"+tb.name] = true, true
		if m.LinkField != "" {
			tb.link, tb.linkSF = strings.ToLower(m.LinkField), m.LinkField
		}
		for _, f := range m.Fields {
			if f.Salesforce == m.LinkField {
				// The link is a key, not data: its column holds the
				// record's id in the changes, under the mapped name.
				tb.link = f.External
				continue
			}
			typ := Text
			if ty, ok := t.Types[f.External]; ok {
				typ = ty
			}
			if !typ.valid() {
				return nil, fmt.Errorf("pgmirror: column %s.%s has type %q; use one of the pgmirror Type constants: %w", tb.name, f.External, typ, sfsync.ErrInvalid)
			}
			if err := checkIdent("column", f.External); err != nil {
				return nil, err
			}
			tb.columns = append(tb.columns, column{name: f.External, typ: typ})
		}
		for i := range tb.columns {
			tb.byName[tb.columns[i].name] = &tb.columns[i]
		}
		for _, sc := range append(systemColumns, tb.link) {
			if _, clash := tb.byName[sc]; clash && sc != "" {
				return nil, fmt.Errorf("pgmirror: field %q of %s clashes with a system column; rename it in the mapping: %w", sc, tb.name, sfsync.ErrInvalid)
			}
		}
		if tb.link != "" {
			if err := checkIdent("link column", tb.link); err != nil {
				return nil, err
			}
		}
		out = append(out, tb)
	}
	return out, nil
}

func checkIdent(what, name string) error {
	if name == "" || len(name) > 63 || strings.ContainsRune(name, 0) {
		return fmt.Errorf("pgmirror: %s name %q is empty, longer than PostgreSQL's 63 bytes or holds a NUL: %w", what, name, sfsync.ErrInvalid)
	}
	return nil
}
