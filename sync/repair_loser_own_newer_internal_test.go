package sync

import (
	"slices"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/conflict"
)

// Last write wins (skew 1 s). Salesforce creates the contact (6 s, commit
// 304, last name n5), which reaches the ERP. While the engine is down past
// the stream's retention Salesforce changes the last name to n30; that
// event is lost. Back up, Salesforce deletes the contact (20 s, commit
// 325), and the delete loses to the ERP's newer record (its edits at
// 21.5 s to 25.5 s): the repair that brings the record back in Salesforce
// carries the ERP's values as they were then, among them Salesforce's own
// synced last name n5 (of 6 s), and waits. Meanwhile the ERP's update of
// 21.5 s, newer than the delete, brought the record back in Salesforce
// with n30 from its tombstone, and its repair took n30 to the ERP, dated
// at the tombstone's version (the delete's second, before the delete's
// commit in it). The delete's repair then came: n30, applied to both
// systems, was older than the delete that lost, so it did not count as a
// change of the loser's since, and the repair wrote n5 over n30 in
// Salesforce while the ERP kept n30 (seed 4925). The repair's n5 is
// Salesforce's own data of 6 s, which its newer n30, held by both
// systems, replaced: the repair leaves the last name alone.
func TestRecordRepairLeavesTheLoserNewerOwnDataThatReachedTheWinner(t *testing.T) {
	const record = "Contact/003A"
	erp := sfsync.External("erp")
	e := twoWayEngine(t, conflict.LastWriteWins(conflict.WithSkewTolerance(time.Second)))
	vc := e.versions
	at := func(ms int) time.Time { return versionBase.Add(time.Duration(ms) * time.Millisecond) }
	created := sfVersionAt(6, 304)
	// Salesforce's create reached the ERP.
	vc.note(&sfsync.Change{Source: sfsync.Salesforce, Object: "Contact", RecordID: "003A", Op: sfsync.OpCreate, Version: created,
		Fields: map[string]any{"Email": "e6", "LastName": "n5", "MailingCity": "c8", "Phone": "p7"}}, record, []string{"Email", "LastName", "MailingCity", "Phone"})
	// Salesforce's delete lost.
	del := sfsync.Change{Source: sfsync.Salesforce, Object: "Contact", RecordID: "003A", Op: sfsync.OpDelete, Version: sfVersionAt(20, 325)}
	vc.rememberLost(&del, record, nil)
	// The ERP's edits, applied to Salesforce (the first brought the record
	// back there).
	vc.note(&sfsync.Change{Source: erp, Object: "Contact", RecordID: "003A", Op: sfsync.OpUpdate, Version: sfsync.Version{Time: at(21500), Counter: 6},
		Fields: map[string]any{"Email": "e31"}}, record, []string{"Email"})
	vc.note(&sfsync.Change{Source: erp, Object: "Contact", RecordID: "003A", Op: sfsync.OpUpdate, Version: sfsync.Version{Time: at(22500), Counter: 8},
		Fields: map[string]any{"Phone": "p32"}}, record, []string{"Phone"})
	vc.note(&sfsync.Change{Source: erp, Object: "Contact", RecordID: "003A", Op: sfsync.OpUpdate, Version: sfsync.Version{Time: at(25500), Counter: 11},
		Fields: map[string]any{"MailingCity": "c33"}}, record, []string{"MailingCity"})
	// Salesforce's lost change of the last name, taken to the ERP by that
	// update's repair at the tombstone's version: the delete's second.
	tomb := sfsync.Version{Time: at(20000)}
	vc.note(&sfsync.Change{Source: sfsync.Salesforce, Object: "Contact", RecordID: "003A", Op: sfsync.OpUpdate, Version: tomb,
		Fields: map[string]any{"LastName": "n30"}}, record, []string{"LastName"})

	// The delete's repair, planned from the ERP's record when it lost.
	repair := sfsync.Change{Source: erp, Object: "Contact", RecordID: "003A", Op: sfsync.OpCreate, Version: sfsync.Version{Time: at(25500), Counter: 11},
		Key: "repair:003A:del", Origin: sfsync.Origin{Client: repairClient},
		Fields: map[string]any{"Email": "e31", "LastName": "n5", "MailingCity": "c33", "Phone": "p32"}}
	it := &item{c: repair, repair: true, lostAt: del.Version, fieldsAt: []fieldData{
		{field: "Email", sys: erp, version: sfsync.Version{Time: at(21500), Counter: 6}},
		{field: "LastName", sys: sfsync.Salesforce, version: created},
		{field: "MailingCity", sys: erp, version: sfsync.Version{Time: at(25500), Counter: 11}},
		{field: "Phone", sys: erp, version: sfsync.Version{Time: at(22500), Counter: 8}},
	}}
	w := &work{it: it, c: repair, route: e.route(&repair)}
	if w.route == nil || w.route.To != sfsync.Salesforce {
		t.Fatal("no route from the ERP to Salesforce")
	}
	// Salesforce's record, back with n30.
	cur := sfsync.Record{Object: "Contact", ID: "003A", Exists: true, Version: sfsync.Version{Time: at(25500), Counter: 11},
		Fields: map[string]any{"Email": "e31", "LastName": "n30", "MailingCity": "c33", "Phone": "p32"},
		FieldVersions: map[string]sfsync.Version{
			"Email": {Time: at(21500), Counter: 6}, "LastName": tomb, "MailingCity": {Time: at(25500), Counter: 11}, "Phone": {Time: at(22500), Counter: 8}},
		LastWriter: map[string]sfsync.System{"Email": erp, "LastName": sfsync.Salesforce, "MailingCity": erp, "Phone": erp}}
	c, res, wait := e.decide(vc, w, &cur, true)
	if wait {
		t.Fatal("the repair waits; want it decided")
	}
	switch {
	case res == nil:
		if v, set := c.Value("LastName"); set || slices.Contains(w.touched, "LastName") {
			t.Fatalf("the repair writes last name %v to Salesforce over its own newer n30, which the ERP holds too", v)
		}
	case res.outcome.Status != sfsync.StatusNoop:
		t.Fatalf("the repair is decided %s (%s); want a no-op: Salesforce holds the ERP's other values already", res.outcome.Status, res.outcome.Reason)
	}
}
