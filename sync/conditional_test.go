package sync_test

import (
	"context"
	"slices"
	stdsync "sync"
	"testing"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/conflict"
	sfsyncsync "github.com/sfsync/sfsync/sync"
	"github.com/sfsync/sfsync/sync/synctest"
)

// editBetween is a conditional ERP that makes one local edit right after
// the engine's next read of a record, before the engine writes: a user's
// edit that lands between the read and the write. It keeps what WriteIf
// was given and how often it refused.
type editBetween struct {
	*synctest.ConditionalSystem
	mu        stdsync.Mutex
	id        string
	edit      func()
	reads     int
	conflicts int
	given     []sfsync.Record
}

func (e *editBetween) arm(id string, edit func()) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.id, e.edit = id, edit
}

func (e *editBetween) Read(ctx context.Context, object string, ids []string) (map[string]sfsync.Record, error) {
	recs, err := e.ConditionalSystem.Read(ctx, object, ids)
	e.mu.Lock()
	var edit func()
	if e.id != "" && slices.Contains(ids, e.id) {
		e.reads++
		edit, e.edit = e.edit, nil
	}
	e.mu.Unlock()
	if edit != nil {
		edit()
	}
	return recs, err
}

func (e *editBetween) WriteIf(ctx context.Context, changes []sfsync.Change, read []sfsync.Record) error {
	err := e.ConditionalSystem.WriteIf(ctx, changes, read)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.given = append(e.given, read...)
	for i := range changes {
		if sfsync.KindOf(sfsync.ErrorAt(err, i)) == sfsync.KindConflict {
			e.conflicts++
		}
	}
	return err
}

// TestConditionalWriteDecidesAgainOnAnEditBetweenReadAndWrite: the ERP
// takes a user's edit after the engine read the record for a Salesforce
// change and before it wrote it. The conditional write fails as a
// conflict, the engine reads again and decides again (last write wins:
// the user's edit is newer and keeps its field), and the user's edit
// reaches Salesforce. The preconditions carry the record as the ERP read
// it, in its own field names.
func TestConditionalWriteDecidesAgainOnAnEditBetweenReadAndWrite(t *testing.T) {
	b := newBidi(t)
	ext := &editBetween{ConditionalSystem: b.ext.Conditional()}
	person := &sfsyncsync.Mapping{Object: "Contact", External: "person", Fields: []sfsyncsync.Field{
		{Salesforce: "LastName", External: "name"}, {Salesforce: "Phone", External: "phone"},
	}}
	sfSrc, extSrc := b.sfLog.Source(), b.extLog.Source()
	e, err := sfsyncsync.New(sfSrc, nil,
		sfsyncsync.WithSource(extSrc), sfsyncsync.WithLogger(quiet()), sfsyncsync.WithTenant(org),
		sfsyncsync.WithClientID("sfsync"), sfsyncsync.WithStore(b.store), sfsyncsync.WithMapping(person),
		sfsyncsync.WithPolicy(conflict.LastWriteWins()),
		sfsyncsync.WithRoute(sfsyncsync.Route{From: sfsync.Salesforce, Sink: ext}),
		sfsyncsync.WithRoute(sfsyncsync.Route{From: erp, Sink: b.sf}),
		fastRetries(5))
	if err != nil {
		t.Fatal(err)
	}
	start(t, e)
	settled := func() { settle(t, b.sfLog, sfSrc, b.extLog, extSrc) }

	b.sf.Edit("Contact", "003A", map[string]any{"LastName": "Lovelace", "Phone": "1"}, at(0))
	settled()
	ext.arm("003A", func() { b.ext.Edit("person", "003A", map[string]any{"name": "Lovelace (ERP)"}, at(2)) })
	b.sf.Edit("Contact", "003A", map[string]any{"LastName": "Lovelace (Salesforce)"}, at(1))
	settled()

	if got := field(t, b.ext, "person", "003A", "name"); got != "Lovelace (ERP)" {
		t.Errorf("ERP name = %#v, want the user's edit, newer than the Salesforce change", got)
	}
	if got := field(t, b.sf, "Contact", "003A", "LastName"); got != "Lovelace (ERP)" {
		t.Errorf("Salesforce LastName = %#v, want the ERP user's edit", got)
	}
	ext.mu.Lock()
	defer ext.mu.Unlock()
	if ext.conflicts == 0 || ext.reads < 2 {
		t.Errorf("%d conflicts, %d reads of the record; want the write refused and the record read again", ext.conflicts, ext.reads)
	}
	for _, r := range ext.given {
		if !r.Exists {
			continue
		}
		if r.Object != "person" || r.ID != "003A" || r.Fields != nil {
			t.Errorf("precondition names %s/%s with fields %v; want the ERP's entity and id, no values", r.Object, r.ID, r.Fields)
		}
		if _, ok := r.FieldVersions["name"]; !ok || len(r.FieldVersions) != 2 {
			t.Errorf("precondition field versions %v; want the ERP's names (name, phone)", r.FieldVersions)
		}
	}
}
