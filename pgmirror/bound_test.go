package pgmirror

import (
	"strings"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/internal/bounded/boundedtest"
)

// boundSource is a Source over one mirrored table, enough to describe
// outbox rows without a database.
func boundSource() *Source {
	t := &table{name: "contact", entity: "contact", columns: []column{
		{name: "first_name", typ: Text}, {name: "amount", typ: Numeric}, {name: "active", typ: Boolean},
		{name: "born", typ: Date}, {name: "seen", typ: Timestamp}, {name: "extra", typ: JSON},
	}}
	m := &Mirror{cfg: config{schema: "sfsync", system: "erp"}, byName: map[string]*table{"contact": t}}
	return &Source{m: m}
}

// A row nested deeper than the bound is handed over as an undecodable
// change carrying the row, not decoded and not an error that would stall
// the outbox behind it.
func TestOutboxRowNestedTooDeeplyIsUndecodable(t *testing.T) {
	deep := `{"extra":` + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + `}`
	c, ok, err := boundSource().change(outboxRow{id: 7, tbl: "contact", record: "c1", op: string(sfsync.OpUpdate), newv: []byte(deep)})
	if err != nil || !ok || c.Op != sfsync.OpUndecodable || c.Raw == nil || string(c.Raw.Payload) != deep || c.Key == "" {
		t.Fatalf("%+v, %v, %v", c, ok, err)
	}
}

// Outbox rows of any shape are described within a multiple of their size,
// without a panic, and never dropped.
func FuzzOutboxRow(f *testing.F) {
	f.Add([]byte(`{"first_name":"Ada","amount":12.5,"active":true,"born":"1815-12-10","seen":"2026-01-02T03:04:05.123456+00:00","extra":{"a":[1,2]}}`),
		[]byte(`{"first_name":"Ada","amount":12,"active":false,"born":null,"seen":null,"extra":null}`))
	f.Add([]byte(`{"extra":`+strings.Repeat("[", 200)+strings.Repeat("]", 200)+`}`), []byte(`{}`))
	f.Add([]byte(`{"amount":"1e400","born":"not a date"}`), []byte(nil))
	s := boundSource()
	f.Fuzz(func(t *testing.T, newv, oldv []byte) {
		r := outboxRow{id: 1, tbl: "contact", record: "c1", op: string(sfsync.OpUpdate), newv: newv, oldv: oldv, at: time.Unix(0, 0)}
		boundedtest.Check(t, boundedtest.Bound{PerByte: 64, Fixed: 64 << 10, FixedObjects: 200}, len(newv)+len(oldv), func() {
			c, ok, err := s.change(r)
			if err == nil && (!ok || c.Key == "") {
				t.Fatalf("row lost: %+v", c)
			}
		})
	})
}
