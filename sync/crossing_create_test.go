package sync_test

import (
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/conflict"
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
	_, settled := b.startSinks(t, conflict.ExternalWins(), ext, b.sf)
	b.sf.Edit("Contact", "003A", map[string]any{"LastName": "n", "Phone": "0"}, at(time.Second))
	settled()
	if user.Key == "" {
		t.Fatal("the ERP user never edited: the engine did not read the ERP")
	}
	logOutcomes(t, b)
	b.bothHold(t, "Contact", "003A", "Phone", "erp", "the ERP's, which wins")
}
