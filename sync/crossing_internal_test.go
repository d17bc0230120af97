package sync

import (
	"testing"

	"github.com/sfsync/sfsync"
)

// An echo answers the write whose changes it carries, not any write of
// ours that touched one of its fields: a later write of one field of the
// record (a repair, say) echoes first, while the earlier write, whose
// response was lost, never took effect. Taking that echo for the earlier
// write's would count it applied, and the record would keep the values it
// was to change.
func TestEchoAnswersOnlyTheWriteWhoseChangesItCarries(t *testing.T) {
	var x crossings
	const record = "Account/001A"
	cur := sfsync.Record{Exists: true, Fields: map[string]any{"Name": "n23", "Industry": "i24", "Phone": "p25"}}
	failed := x.start(record, sfsync.Salesforce, &sfsync.Change{Op: sfsync.OpUpdate, Fields: map[string]any{"Industry": "i28", "Name": "n27", "Phone": "p25"}})
	x.readAs(failed, &cur)
	x.writing(failed, &sfsync.Change{Op: sfsync.OpUpdate, Fields: map[string]any{"Name": "n27", "Industry": "i28", "Phone": "p25"}}, &cur)

	repair := x.start(record, sfsync.Salesforce, &sfsync.Change{Op: sfsync.OpUpdate, Fields: map[string]any{"Industry": "i28"}})
	x.readAs(repair, &cur)
	x.writing(repair, &sfsync.Change{Op: sfsync.OpUpdate, Fields: map[string]any{"Industry": "i28"}}, &cur)
	x.echoed(record, &sfsync.Change{Source: sfsync.Salesforce, Op: sfsync.OpUpdate, Fields: map[string]any{"Industry": "i28"}})
	if x.tookEffect(failed) {
		t.Fatal("the repair's echo was taken for the failed write's")
	}
	if !x.tookEffect(repair) {
		t.Fatal("the repair's echo did not answer the repair")
	}
	// A later write of ours of both fields, with other values, echoes
	// first: it does not answer the failed write either.
	other := x.start(record, sfsync.Salesforce, &sfsync.Change{Op: sfsync.OpUpdate, Fields: map[string]any{"Industry": "i31", "Name": "n30"}})
	x.readAs(other, &cur)
	x.writing(other, &sfsync.Change{Op: sfsync.OpUpdate, Fields: map[string]any{"Name": "n30", "Industry": "i31"}}, &cur)
	x.echoed(record, &sfsync.Change{Source: sfsync.Salesforce, Op: sfsync.OpUpdate, Fields: map[string]any{"Name": "n30", "Industry": "i31"}})
	if x.tookEffect(failed) || !x.tookEffect(other) {
		t.Fatal("an echo of other values was taken for the failed write's")
	}
	// Phone was written with the value it had: no change, no echo of it.
	x.echoed(record, &sfsync.Change{Source: sfsync.Salesforce, Op: sfsync.OpUpdate, Fields: map[string]any{"Name": "n27", "Industry": "i28"}})
	if !x.tookEffect(failed) {
		t.Fatal("the failed write's own echo did not answer it")
	}
}
