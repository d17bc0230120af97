package sync

import (
	"context"
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

// A write is marked before its decision's read, and written after: an echo
// of an earlier write of ours arriving in between (one made before a
// restart, whose mark this engine never had) carries a field the new
// write changes, but the new write was not made yet, and cannot have
// echoed. Taking that echo for its own would count the write applied,
// after a failure, without it ever landing.
func TestEchoArrivingBeforeTheWriteIsMadeDoesNotAnswerIt(t *testing.T) {
	var x crossings
	const record = "Contact/P-2"
	cur := sfsync.Record{Exists: true, Fields: map[string]any{"LastName": "n5", "Phone": "p15"}}
	next := &sfsync.Change{Op: sfsync.OpUpdate, Fields: map[string]any{"LastName": "n18", "Phone": "p17"}}
	mark := x.start(record, sfsync.Salesforce, next)
	// The earlier write's echo, while the new write's decision reads.
	x.echoed(record, &sfsync.Change{Source: sfsync.Salesforce, Op: sfsync.OpUpdate, Fields: map[string]any{"Phone": "p15"}})
	x.readAs(mark, &cur)
	x.writing(mark, next, &cur)
	if x.tookEffect(mark) {
		t.Fatal("an echo that arrived before the write was made was taken for its own")
	}
	x.echoed(record, &sfsync.Change{Source: sfsync.Salesforce, Op: sfsync.OpUpdate, Fields: map[string]any{"LastName": "n18", "Phone": "p17"}})
	if !x.tookEffect(mark) {
		t.Fatal("the write's own echo did not answer it")
	}

	// The same holds for a delete: its mark is answered by a delete event
	// only once the delete was made.
	del := x.start(record, sfsync.Salesforce, &sfsync.Change{Op: sfsync.OpDelete})
	x.echoed(record, &sfsync.Change{Source: sfsync.Salesforce, Op: sfsync.OpDelete})
	x.readAs(del, &cur)
	x.writing(del, &sfsync.Change{Op: sfsync.OpDelete}, &cur)
	if x.tookEffect(del) {
		t.Fatal("a delete event from before the delete was made was taken for its echo")
	}
}

// A change of the target that crossed a write of ours still on its way
// (a slow request) is decided once that write's call returned: decided
// before, its resync reads the target holding the change and writes
// nothing, and the write then lands over it (a delete removes it with the
// record; the simulator's seed 90813). A write not made after all, or
// one that failed, releases the change as well.
func TestChangeCrossingAWriteOnItsWayWaitsForTheWriteToReturn(t *testing.T) {
	var x crossings
	const record = "Account/C-2"
	cur := sfsync.Record{Exists: true, Fields: map[string]any{"Phone": "p22"}}
	del := x.start(record, sfsync.Salesforce, &sfsync.Change{Op: sfsync.OpDelete})
	x.readAs(del, &cur)
	x.writing(del, &sfsync.Change{Op: sfsync.OpDelete}, &cur)
	edit := &sfsync.Change{Source: sfsync.Salesforce, Op: sfsync.OpUpdate, Fields: map[string]any{"Phone": "p26"}}
	crossing := x.open(record, edit)
	if len(crossing) != 1 {
		t.Fatalf("the edit crosses %d writes, want the delete", len(crossing))
	}
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	if x.landed(gone, crossing) {
		t.Fatal("the delete on its way counted as returned")
	}
	x.sent(del)
	if !x.landed(gone, crossing) {
		t.Fatal("the delete that returned did not count as returned")
	}

	unmade := x.start(record, sfsync.Salesforce, &sfsync.Change{Op: sfsync.OpUpdate, Fields: map[string]any{"Phone": "p40"}})
	crossing = x.open(record, edit)
	x.end(record, sfsync.Salesforce, unmade)
	if !x.landed(gone, crossing) {
		t.Fatal("a write not made held the crossing change back")
	}
}
