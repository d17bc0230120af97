package sync

import (
	"context"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/conflict"
)

// Salesforce's changes of a record wait in the park, while the echo of a
// later write of ours to the same record, decided as it arrives, explains
// Salesforce's record version. An ERP change decided then must still meet
// the parked changes' data: seen in the simulator (last write wins, no
// skew), the ERP's edit of MailingCity at 12 s met Salesforce's synced
// value from 5 s instead of its parked edit at 12 s (a later commit), won,
// and overwrote it, while that edit won in the other direction.
func TestParkedChangesOfTheTargetCountWhereAnEchoExplainsItsRecord(t *testing.T) {
	sf := sfVersionAt
	const record, erp = "Contact/P-2", sfsync.System("external:erp")
	vc := newVersionCache(16, nil, func(string) bool { return false })
	vc.note(&sfsync.Change{Source: sfsync.Salesforce, RecordID: "003B", Op: sfsync.OpCreate, Version: sf(5, 304), Fields: map[string]any{"MailingCity": "c12"}}, record, []string{"MailingCity"})
	// The echo of our write of another field, committed after
	// Salesforce's edit.
	vc.rememberEcho(&sfsync.Change{Source: sfsync.Salesforce, RecordID: "003B", Op: sfsync.OpUpdate, Version: sf(13, 312), Fields: map[string]any{"Phone": "p20"}}, record)

	var e Engine
	edit := &work{parkedAs: &parkedChange{version: sf(12, 310), fields: []string{"MailingCity"}, hashes: []uint64{valueHash(nil)}}}
	e.parked = map[parkID][]*work{{sfsync.Salesforce, record}: {edit}}
	e.parkedN.Store(1)

	cur := sfsync.Record{Exists: true, Version: sf(12, 0), Fields: map[string]any{"MailingCity": nil, "Phone": "p20"}}
	c := sfsync.Change{Source: erp, RecordID: "P-2", Op: sfsync.OpUpdate, Version: extVersionAt(12, 6), Fields: map[string]any{"MailingCity": "c26"}}
	parked := e.targetParkedFor(true, sfsync.Salesforce, record, cur)
	vc.describe(&c, record, []string{"MailingCity"}, &cur, sfsync.Salesforce, true, false, true, false, sfsync.Version{}, sfsync.Version{}, parked)
	if v, w := cur.FieldVersions["MailingCity"], cur.LastWriter["MailingCity"]; w != sfsync.Salesforce || v.Compare(sf(12, 310)) != 0 {
		t.Fatalf("MailingCity is described at %s by %q; want the parked edit's %s by salesforce", v, w, sf(12, 310))
	}
	if d := conflict.LastWriteWins().Decide(c, cur); d.Apply {
		t.Errorf("the ERP's edit wins over Salesforce's later-committed edit: %s", d.Reason)
	}
}

// After a crash lost the outcome of Salesforce's create, the create waits
// in the park (for the ERP's change, which waits for Salesforce's), and
// Salesforce's record shows a later change of another field, not seen yet.
// The ERP's edit of LastName, waiting in vain, takes Salesforce's unseen
// changes as possibly setting any field, and dates a value the map never
// versioned at the record's version; but LastName holds the parked
// create's value, which is that create's data, at its version. Seen in the
// simulator: the ERP's newer LastName lost to Salesforce's older one.
func TestParkedChangeDatesTheValueItSet(t *testing.T) {
	sf := sfVersionAt
	const record, erp = "Contact/P-3", sfsync.System("external:erp")
	vc := newVersionCache(16, nil, func(string) bool { return false })
	// An older value of LastName the map knows (so it can tell a value
	// it never versioned).
	vc.note(&sfsync.Change{Source: erp, RecordID: "P-3", Op: sfsync.OpUpdate, Version: extVersionAt(0, 1), Fields: map[string]any{"LastName": "n0"}}, record, []string{"LastName"})

	var e Engine
	create := &work{c: sfsync.Change{Source: sfsync.Salesforce, RecordID: "003C", Op: sfsync.OpCreate, Version: sf(7, 307), Fields: map[string]any{"LastName": "n13", "Phone": "p15"}}}
	create.it = &item{}
	create.noteParked()
	e.parked = map[parkID][]*work{{sfsync.Salesforce, record}: {create}}
	e.parkedN.Store(1)

	cur := sfsync.Record{Exists: true, Version: sf(25, 0), Fields: map[string]any{"LastName": "n13", "Phone": "p34"}}
	c := sfsync.Change{Source: erp, RecordID: "P-3", Op: sfsync.OpUpdate, Version: sfsync.Version{Time: versionBase.Add(9500 * time.Millisecond), Counter: 3}, Fields: map[string]any{"LastName": "n18"}}
	parked := e.targetParkedFor(true, sfsync.Salesforce, record, cur)
	vc.describe(&c, record, []string{"LastName"}, &cur, sfsync.Salesforce, true, false, true, true, sfsync.Version{}, sfsync.Version{}, parked)
	if v := cur.FieldVersions["LastName"]; v.Compare(sf(7, 307)) != 0 {
		t.Fatalf("LastName is described at %s; want the parked create's %s, whose value it holds", v, sf(7, 307))
	}
	if d := conflict.LastWriteWins().Decide(c, cur); !d.Apply {
		t.Errorf("the ERP's newer LastName loses: %s", d.Reason)
	}
}

// Salesforce's undelete waits in the park (its write to the ERP failed and
// is retried), and an ERP delete, a second later on the ERP's clock, is
// decided against Salesforce's record, live again at the undelete's
// second. The record's last change there is the parked undelete, so its
// writer, Salesforce, decides the tie inside the skew tolerance, as it does
// for the undelete against the ERP's tombstone in the other direction.
// Seen in the simulator (seed 23009): taken as written by nobody known, the
// record won the tie for the delete in Salesforce while the undelete won it
// in the ERP, and the record ended deleted in one system and live in the
// other.
func TestParkedUndeleteIsTheRecordsLastChange(t *testing.T) {
	sf := sfVersionAt
	const record, erp = "Contact/P-2", sfsync.System("external:erp")
	vc := newVersionCache(16, nil, func(string) bool { return false })
	vc.note(&sfsync.Change{Source: sfsync.Salesforce, RecordID: "003B", Op: sfsync.OpCreate, Version: sf(9, 304), Fields: map[string]any{"LastName": "n7"}}, record, []string{"LastName"})
	vc.note(&sfsync.Change{Source: sfsync.Salesforce, RecordID: "003B", Op: sfsync.OpDelete, Version: sf(12, 307)}, record, nil)

	var e Engine
	undelete := &work{c: sfsync.Change{Source: sfsync.Salesforce, RecordID: "003B", Op: sfsync.OpUndelete, Version: sf(15, 308)}}
	undelete.it = &item{}
	undelete.noteParked()
	e.parked = map[parkID][]*work{{sfsync.Salesforce, record}: {undelete}}
	e.parkedN.Store(1)

	cur := sfsync.Record{Exists: true, Version: sf(15, 0), Fields: map[string]any{"LastName": "n7"}}
	c := sfsync.Change{Source: erp, RecordID: "P-2", Op: sfsync.OpDelete, Version: extVersionAt(16, 4)}
	parked := e.targetParkedFor(true, sfsync.Salesforce, record, cur)
	if ahead := vc.describe(&c, record, nil, &cur, sfsync.Salesforce, true, false, true, false, sfsync.Version{}, sfsync.Version{}, parked); ahead {
		t.Fatal("the delete waits for a change the engine holds already")
	}
	if w := cur.LastWriter[fieldAny]; w != sfsync.Salesforce {
		t.Fatalf("the record's last change is described as written by %q; want salesforce (its undelete, parked)", w)
	}
	if d := conflict.LastWriteWins(conflict.WithSkewTolerance(3*time.Second)).Decide(c, cur); d.Apply {
		t.Errorf("the ERP's delete wins the tie against Salesforce's undelete: %s", d.Reason)
	}
}

// Salesforce's edits of a record wait in the park behind an earlier change
// of theirs, with a delete and an undelete of the record after them, and
// the echo of a later write of ours explains Salesforce's record version.
// The delete and undelete set no field: the parked edit's data of
// MailingCity is still Salesforce's newest, and an older ERP edit loses to
// it. Seen in the simulator (seed 75029): with the delete in the queue the
// park told nothing of its fields, the ERP's edit of 9 s met Salesforce's
// value of 6 s, won, and was written over Salesforce's edit of 15 s, which
// won in the other direction.
func TestParkedFieldsCountPastAParkedDeleteAndUndelete(t *testing.T) {
	sf := sfVersionAt
	const record, erp = "Contact/P-2", sfsync.System("external:erp")
	vc := newVersionCache(16, nil, func(string) bool { return false })
	vc.note(&sfsync.Change{Source: sfsync.Salesforce, RecordID: "003B", Op: sfsync.OpCreate, Version: sf(4, 303), Fields: map[string]any{"MailingCity": "c12"}}, record, []string{"MailingCity"})
	vc.rememberEcho(&sfsync.Change{Source: sfsync.Salesforce, RecordID: "003B", Op: sfsync.OpUpdate, Version: sf(19, 316), Fields: map[string]any{"Phone": nil}}, record)

	var e Engine
	parkedWork := func(c sfsync.Change) *work {
		w := &work{c: c, it: &item{}}
		w.noteParked()
		return w
	}
	e.parked = map[parkID][]*work{{sfsync.Salesforce, record}: {
		parkedWork(sfsync.Change{Source: sfsync.Salesforce, RecordID: "003B", Op: sfsync.OpUpdate, Version: sf(15, 309), Fields: map[string]any{"MailingCity": "c21"}}),
		parkedWork(sfsync.Change{Source: sfsync.Salesforce, RecordID: "003B", Op: sfsync.OpDelete, Version: sf(18, 313)}),
		parkedWork(sfsync.Change{Source: sfsync.Salesforce, RecordID: "003B", Op: sfsync.OpUndelete, Version: sf(19, 314)}),
	}}
	e.parkedN.Store(3)

	cur := sfsync.Record{Exists: true, Version: sf(19, 0), Fields: map[string]any{"MailingCity": "c21", "Phone": nil}}
	c := sfsync.Change{Source: erp, RecordID: "P-2", Op: sfsync.OpUpdate, Version: extVersionAt(9, 2), Fields: map[string]any{"MailingCity": "c18"}}
	parked := e.targetParkedFor(true, sfsync.Salesforce, record, cur)
	vc.describe(&c, record, []string{"MailingCity"}, &cur, sfsync.Salesforce, true, false, true, false, sfsync.Version{}, sfsync.Version{}, parked)
	if v, w := cur.FieldVersions["MailingCity"], cur.LastWriter["MailingCity"]; w != sfsync.Salesforce || v.Compare(sf(15, 309)) != 0 {
		t.Fatalf("MailingCity is described at %s by %q; want the parked edit's %s by salesforce", v, w, sf(15, 309))
	}
	if d := conflict.LastWriteWins().Decide(c, cur); d.Apply {
		t.Errorf("the ERP's older edit wins over Salesforce's parked one: %s", d.Reason)
	}
}

// noState is a StateReader that is never read: targetValueWins only asks
// whether the route has one.
type noState struct{}

func (noState) Read(context.Context, string, []string) (map[string]sfsync.Record, error) {
	return nil, nil
}

// Salesforce's edit of the phone (4 s) lost to the ERP's value, which the
// ERP's tombstone holds (4.5 s, its create, synced before). Salesforce's
// record still holds its losing value; a later Salesforce edit brings the
// record back and asks whether the tombstone's value wins against it. The
// value Salesforce holds is its losing edit's data, of that edit's version,
// not the synced create's: dated at the create's 4.5 s it tied with the
// ERP's own 4.5 s, Salesforce won the tie, and the record came back with the
// losing value (seen in the simulator, seed 78757, on every run).
func TestTargetValueWinsAgainstTheSourcesLosingValueAtItsOwnVersion(t *testing.T) {
	sf := sfVersionAt
	const record, erp = "Contact/P-2", sfsync.System("external:erp")
	ext := func(ms int) sfsync.Version {
		return sfsync.Version{Time: versionBase.Add(time.Duration(ms) * time.Millisecond), Counter: 2}
	}
	vc := newVersionCache(16, nil, func(string) bool { return false })
	vc.note(&sfsync.Change{Source: erp, RecordID: "P-2", Op: sfsync.OpCreate, Version: ext(4500), Fields: map[string]any{"Phone": "p7"}}, record, []string{"Phone"})
	vc.rememberLost(&sfsync.Change{Source: sfsync.Salesforce, RecordID: "003B", Op: sfsync.OpUpdate, Version: sf(4, 306), Fields: map[string]any{"Phone": "p9"}}, record, []string{"Phone"})

	var e Engine
	w := &work{it: &item{}, route: &Route{To: erp, Policy: conflict.LastWriteWins(), State: noState{}}}
	tomb := sfsync.Record{Exists: true, Deleted: true, Version: ext(6500), Fields: map[string]any{"Phone": "p7"},
		FieldVersions: map[string]sfsync.Version{"Phone": ext(4500)}, LastWriter: map[string]sfsync.System{"Phone": erp}}
	probe := &sfsync.Change{Source: sfsync.Salesforce, RecordID: "003B", Op: sfsync.OpUpdate, Version: sf(15, 308), Fields: map[string]any{"Phone": "p9"}}
	if !e.targetValueWins(vc, w, probe, record, "Phone", tomb) {
		t.Error("Salesforce's losing phone (4 s) wins against the ERP's (4.5 s)")
	}
}

// The park writes its first change (and sets the change it decided into
// the work) while the other direction's decisions ask the park what it
// holds of the record: they read only what was taken when the change was
// parked. Under the race detector, the reads of the work's change were a
// data race (seen in the simulator's regression test).
func TestParkedOfReadsNothingTheParkIsWriting(t *testing.T) {
	e := &Engine{}
	const record = "Contact/003A"
	w := &work{it: &item{}, c: sfsync.Change{Source: sfsync.Salesforce, Op: sfsync.OpUpdate, Version: sfVersionAt(7, 307), Fields: map[string]any{"LastName": "S7"}}}
	e.parkMu.Lock()
	w.noteParked()
	e.parked = map[parkID][]*work{{sfsync.Salesforce, record}: {w}}
	e.parkedN.Store(1)
	e.parkMu.Unlock()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 200 {
			// As the park's write of w does, without the park's lock.
			w.c = sfsync.Change{Source: sfsync.Salesforce, Op: sfsync.OpCreate, Version: sfVersionAt(7, 307+int64(i)), Fields: map[string]any{"LastName": "S7"}}
		}
	}()
	for range 200 {
		if p := e.parkedOf(sfsync.Salesforce, record); p == nil || p.lived.Compare(sfVersionAt(7, 307)) != 0 {
			t.Fatalf("the park holds %+v; want the parked update's version %s", p, sfVersionAt(7, 307))
		}
	}
	<-done
}

// Salesforce renamed the contact (4 s) and deleted it (5 s); the ERP's
// rename (9 s on its clock) won over Salesforce's, and the repair that
// brought the record back to Salesforce took the ERP's name there, which
// both now hold. Salesforce's undelete restores its own rename, a value
// the map no longer knows (the repair replaced the losing change). It is
// as old as Salesforce's delete at the latest: dated at the newest data the
// map holds, the ERP's own 9 s, it tied with the ERP's rename, won as the
// system of record's, and the undelete wrote the older name over the
// ERP's (seen in the simulator, seed 89260).
func TestUndeletesRestoredValueIsNoNewerThanItsDelete(t *testing.T) {
	sf := sfVersionAt
	const record, erp = "Contact/P-1", sfsync.System("external:erp")
	vc := newVersionCache(16, nil, func(string) bool { return false })
	vc.note(&sfsync.Change{Source: sfsync.Salesforce, RecordID: "003C", Op: sfsync.OpDelete, Version: sf(5, 307)}, record, nil)
	vc.note(&sfsync.Change{Source: erp, RecordID: "P-1", Op: sfsync.OpUpdate, Version: extVersionAt(9, 6), Fields: map[string]any{"LastName": "n24"}}, record, []string{"LastName"})

	var e Engine
	w := &work{it: &item{}, route: &Route{To: erp, Policy: conflict.LastWriteWins(conflict.WithSkewTolerance(2 * time.Second)), State: noState{}}}
	cur := sfsync.Record{Exists: true, Version: extVersionAt(9, 6), Fields: map[string]any{"LastName": "n24"},
		FieldVersions: map[string]sfsync.Version{"LastName": extVersionAt(9, 6)}, LastWriter: map[string]sfsync.System{"LastName": erp}}
	undelete := &sfsync.Change{Source: sfsync.Salesforce, RecordID: "003C", Op: sfsync.OpUndelete, Version: sf(15, 308), Fields: map[string]any{"LastName": "n15"}}
	if !e.targetValueWins(vc, w, undelete, record, "LastName", cur) {
		t.Error("the name Salesforce's undelete restores (5 s at the latest) wins against the ERP's rename of 9 s")
	}
	// An update's value is no restored one: it is decided as before.
	update := &sfsync.Change{Source: sfsync.Salesforce, RecordID: "003C", Op: sfsync.OpUpdate, Version: sf(15, 308), Fields: map[string]any{"LastName": "n15"}}
	if e.targetValueWins(vc, w, update, record, "LastName", cur) {
		t.Error("an update's unknown value is dated by the map's newest data, as before; got the target's value winning")
	}
}

// Salesforce's edits of a record wait in the park behind the repair of an
// ERP change that lost to them (its source is Salesforce: it carries
// Salesforce's data, which Salesforce's record holds already). The ERP's
// newer edit of Email, waiting for them, must still meet the parked edit's
// version of Email: seen in the simulator (seed 67440, after a restart),
// the park's repair hid the parked edits, the ERP's edit waited in vain,
// dated Email at Salesforce's record version (a later edit of other
// fields), lost, and Salesforce kept its older Email.
func TestParkedRepairDoesNotHideTheParkedChangesBehindIt(t *testing.T) {
	sf := sfVersionAt
	const record, erp = "Contact/P-2", sfsync.System("external:erp")
	vc := newVersionCache(16, nil, func(string) bool { return false })
	vc.note(&sfsync.Change{Source: sfsync.Salesforce, RecordID: "003B", Op: sfsync.OpCreate, Version: sf(1, 302), Fields: map[string]any{"Email": "e6", "Phone": "p7"}}, record, []string{"Email", "Phone"})

	var e Engine
	repair := &work{c: sfsync.Change{Source: sfsync.Salesforce, RecordID: "P-2", Op: sfsync.OpUpdate, Version: sf(8, 305), Fields: map[string]any{"Email": "e15"}}}
	repair.it = &item{repair: true}
	edit := &work{c: sfsync.Change{Source: sfsync.Salesforce, RecordID: "003B", Op: sfsync.OpUpdate, Version: sf(8, 305), Fields: map[string]any{"Email": "e15"}}}
	edit.it = &item{}
	later := &work{c: sfsync.Change{Source: sfsync.Salesforce, RecordID: "003B", Op: sfsync.OpUpdate, Version: sf(21, 313), Fields: map[string]any{"Phone": "p35"}}}
	later.it = &item{}
	for _, w := range []*work{repair, edit, later} {
		w.noteParked()
	}
	e.parked = map[parkID][]*work{{sfsync.Salesforce, record}: {repair, edit, later}}
	e.parkedN.Store(3)

	cur := sfsync.Record{Exists: true, Version: sf(21, 0), Fields: map[string]any{"Email": "e15", "Phone": "p35"}}
	c := sfsync.Change{Source: erp, RecordID: "P-2", Op: sfsync.OpUpdate, Version: extVersionAt(18, 5), Fields: map[string]any{"Email": "e30"}}
	parked := e.targetParkedFor(true, sfsync.Salesforce, record, cur)
	if ahead := vc.describe(&c, record, []string{"Email"}, &cur, sfsync.Salesforce, true, false, true, false, sfsync.Version{}, sfsync.Version{}, parked); ahead {
		t.Errorf("the ERP's edit waits, though the parked edits explain Salesforce's record")
	}
	if v, w := cur.FieldVersions["Email"], cur.LastWriter["Email"]; w != sfsync.Salesforce || v.Compare(sf(8, 305)) != 0 {
		t.Fatalf("Email is described at %s by %q; want the parked edit's %s by salesforce", v, w, sf(8, 305))
	}
	if d := conflict.LastWriteWins().Decide(c, cur); !d.Apply {
		t.Errorf("the ERP's newer Email loses: %s", d.Reason)
	}
}
