package sync_test

import (
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/conflict"
	sfsyncsync "github.com/sfsync/sfsync/sync"
)

// Salesforce creates a record; the ERP's user creates the same record
// between the engine's read of the ERP, which found nothing, and its write
// of Salesforce's create there. The ERP wins: its value stands in both
// systems, though our write overwrote it in the ERP for a moment.
func TestCreateCrossingATargetCreate(t *testing.T) {
	b := newBidi(t)
	var user sfsync.Change
	ext := &editAfterRead{target: b.ext}
	ext.edit = func() { user = b.ext.Edit("Contact", "003A", map[string]any{"Phone": "erp"}, at(10*time.Second)) }
	sfSrc, extSrc := b.sfLog.Source(), b.extLog.Source()
	e, err := sfsyncsync.New(sfSrc, nil,
		sfsyncsync.WithLogger(quiet()), sfsyncsync.WithTenant(org), sfsyncsync.WithClientID("sfsync"),
		sfsyncsync.WithStore(b.store), sfsyncsync.WithPolicy(conflict.ExternalWins()),
		sfsyncsync.WithRoute(sfsyncsync.Route{From: sfsync.Salesforce, Sink: ext}),
		sfsyncsync.WithRoute(sfsyncsync.Route{From: erp, Sink: b.sf}),
		sfsyncsync.WithSource(extSrc), fastRetries(5))
	if err != nil {
		t.Fatal(err)
	}
	start(t, e)
	b.sf.Edit("Contact", "003A", map[string]any{"LastName": "n", "Phone": "0"}, at(time.Second))
	settle(t, b.sfLog, sfSrc, b.extLog, extSrc)
	if user.Key == "" {
		t.Fatal("the ERP user never edited: the engine did not read the ERP")
	}
	logOutcomes(t, b)
	b.bothHold(t, "Contact", "003A", "Phone", "erp", "the ERP's, which wins")
}
