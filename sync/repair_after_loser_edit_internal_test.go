package sync

import (
	"io"
	"log/slog"
	"slices"
	"testing"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/conflict"
	"github.com/sfsync/sfsync/store/memory"
	"github.com/sfsync/sfsync/sync/synctest"
)

// Field ownership, last write wins for the phone. The ERP creates the
// contact (1 s, counter 1, phone p3); Salesforce deletes it (5 s, commit
// 307), and the delete loses to the ERP's newer record (9 s, counter 6): its
// repair, which brings the record back in Salesforce with the ERP's
// values as they were then, waits in a lane behind the ERP's rate-limited
// writes to Salesforce. Meanwhile Salesforce undeletes the contact (15 s)
// and changes its phone to p28 (16 s, commit 309), and that change wins
// and reaches the ERP. The repair then came, with the ERP's phone from
// before that change (p3): the change, decided already, was no longer one
// of Salesforce's own to leave alone, and the repair wrote p3 over p28 in
// Salesforce while the ERP kept p28 (seed 89260). The ERP holds the
// repair's phone no more: Salesforce's later change, applied there, stands.
func TestRecordRepairLeavesTheLoserLaterChangeThatReachedTheWinner(t *testing.T) {
	const record = "Contact/003A"
	erp := sfsync.External("erp")
	e := twoWayEngine(t, conflict.FieldOwnership(conflict.Owners{"Email": sfsync.Salesforce}, conflict.LastWriteWins()))
	vc := e.versions
	// The ERP's create reached Salesforce; Salesforce's delete lost.
	vc.note(&sfsync.Change{Source: erp, Object: "Contact", RecordID: "003A", Op: sfsync.OpCreate, Version: extVersionAt(1, 1),
		Fields: map[string]any{"LastName": "n1", "MailingCity": "c4", "Phone": "p3"}}, record, []string{"LastName", "MailingCity", "Phone"})
	del := sfsync.Change{Source: sfsync.Salesforce, Object: "Contact", RecordID: "003A", Op: sfsync.OpDelete, Version: sfVersionAt(5, 307)}
	vc.rememberLost(&del, record, nil)
	// Salesforce's phone, changed after its undelete, reached the ERP.
	vc.note(&sfsync.Change{Source: sfsync.Salesforce, Object: "Contact", RecordID: "003A", Op: sfsync.OpUpdate, Version: sfVersionAt(16, 309),
		Fields: map[string]any{"Phone": "p28"}}, record, []string{"Phone"})

	repair := sfsync.Change{Source: erp, Object: "Contact", RecordID: "003A", Op: sfsync.OpCreate, Version: extVersionAt(9, 6),
		Key: "repair:003A:del", Origin: sfsync.Origin{Client: repairClient},
		Fields: map[string]any{"LastName": "n24", "MailingCity": "c19", "Phone": "p3"}}
	it := &item{c: repair, repair: true, lostAt: del.Version, fieldsAt: []fieldData{
		{field: "LastName", sys: erp, version: extVersionAt(9, 6)},
		{field: "MailingCity", sys: erp, version: extVersionAt(6, 3)},
		{field: "Phone", sys: erp, version: extVersionAt(1, 1)},
	}}
	w := &work{it: it, c: repair, route: e.route(&repair)}
	if w.route == nil || w.route.To != sfsync.Salesforce {
		t.Fatal("no route from the ERP to Salesforce")
	}
	// Salesforce's record, back and changed since.
	cur := sfsync.Record{Object: "Contact", ID: "003A", Exists: true, Version: sfVersionAt(16, 309),
		Fields: map[string]any{"LastName": "n15", "MailingCity": "c4", "Phone": "p28"},
		FieldVersions: map[string]sfsync.Version{
			"LastName": sfVersionAt(4, 305), "MailingCity": extVersionAt(1, 1), "Phone": sfVersionAt(16, 309)},
		LastWriter: map[string]sfsync.System{"LastName": sfsync.Salesforce, "MailingCity": erp, "Phone": sfsync.Salesforce}}
	c, res, wait := e.decide(vc, w, &cur, true)
	if wait {
		t.Fatal("the repair waits; want it decided")
	}
	if res != nil {
		t.Fatalf("the repair is decided %s (%s); want it written", res.outcome.Status, res.outcome.Reason)
	}
	if v, set := c.Value("Phone"); set || slices.Contains(w.touched, "Phone") {
		t.Errorf("the repair writes phone %v to Salesforce over its own later p28, which the ERP holds too", v)
	}
	if !slices.Contains(w.touched, "MailingCity") {
		t.Errorf("the repair leaves out the city: the ERP's own edit, newer than Salesforce's data of it, is what the record brought back takes (touched %v)", w.touched)
	}
}

// twoWayEngine returns an engine, not started, syncing Salesforce and the
// ERP both ways under policy on memory state, for tests that set its
// version map and call its decisions directly.
func twoWayEngine(t *testing.T, policy sfsync.ConflictPolicy) *Engine {
	t.Helper()
	sfLog, extLog := synctest.NewLog("/data/ContactChangeEvent"), synctest.NewLog("erp/contacts")
	sf := synctest.NewSystem(sfsync.Salesforce, synctest.WithFeed(sfLog))
	ext := synctest.NewSystem(sfsync.External("erp"), synctest.WithFeed(extLog))
	e, err := New(sfLog.Source(), nil,
		WithSource(extLog.Source()), WithStore(memory.New()), WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
		WithPolicy(policy), WithClientID("sfsync"),
		WithRoute(Route{From: sfsync.Salesforce, Sink: ext}), WithRoute(Route{From: sfsync.External("erp"), Sink: sf}))
	if err != nil {
		t.Fatal(err)
	}
	return e
}
