package sync_test

import (
	"context"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/conflict"
	sfsyncsync "github.com/sfsync/sfsync/sync"
	"github.com/sfsync/sfsync/sync/synctest"
)

// A delete that lost was never applied where it lost: it does not describe
// a tombstone there later. Salesforce wins: the ERP's delete loses to
// Salesforce's edit, which brings the record back in the ERP. Later
// Salesforce deletes the record, and an ERP edit comes before that
// delete's event. Salesforce's tombstone is Salesforce's own delete, which
// stands against the ERP's edit; taken for the ERP's old delete (the ERP's
// own, older than its edit), it let the edit make the record again in
// Salesforce while Salesforce's delete went on to the ERP (seen in the
// simulator, seed 71688).
func TestALostDeleteDoesNotDescribeALaterTombstone(t *testing.T) {
	b := newBidi(t)
	b.salesforceByRecord()
	r, settled := b.startBoth(t, conflict.SalesforceWins())
	b.sf.Edit("Contact", "003A", map[string]any{"LastName": "N", "Phone": "p0"}, at(3*time.Second))
	settled()
	del := b.ext.RemoveSilently("Contact", "003A", at(9500*time.Millisecond))
	b.sf.Edit("Contact", "003A", map[string]any{"LastName": "n9"}, at(9*time.Second))
	settled()
	b.extLog.Append(del)
	settled()
	if rec, ok := b.ext.Record("Contact", "003A"); !ok || rec.Deleted {
		t.Fatalf("the ERP's record after its delete lost: %+v; want it back", rec)
	}

	sfDelete := b.sf.RemoveSilently("Contact", "003A", at(20*time.Second))
	b.ext.Edit("Contact", "003A", map[string]any{"Phone": "p27"}, at(20500*time.Millisecond))
	settled()
	b.sfLog.Append(sfDelete)
	settled()
	r.stop(t)
	b.noLiveRecord(t, "Salesforce's delete stands against the ERP's edit")
	if t.Failed() {
		logOutcomes(t, b)
	}
}

// A Salesforce save that changed no mapped field moves the record's
// version, and its event explains that version; but it changed no data
// the sync holds, and a delete is decided against the record's last change
// of data. Last write wins: the ERP's delete (20 s) is newer than every
// change of the record's data (the ERP's own edit at 17 s); Salesforce's
// save at 21 s, of nothing mapped, made it lose, and the repair brought the
// record back in the ERP (seen in the simulator, seed 71019).
func TestADeleteIsNotDecidedAgainstASaveOfNothingMapped(t *testing.T) {
	b := newBidi(t)
	b.salesforceByRecord()
	r, settled := b.startBoth(t, conflict.LastWriteWins())
	b.sf.Edit("Contact", "003A", map[string]any{"LastName": "N", "Phone": "p0"}, at(time.Second))
	settled()
	b.ext.Edit("Contact", "003A", map[string]any{"LastName": "n17"}, at(17*time.Second))
	settled()
	del := b.ext.RemoveSilently("Contact", "003A", at(20*time.Second))
	b.sf.Edit("Contact", "003A", map[string]any{}, at(21*time.Second))
	settled()
	b.extLog.Append(del)
	settled()
	r.stop(t)
	b.noLiveRecord(t, "the ERP's delete is the record's newest change of data")
	if t.Failed() {
		logOutcomes(t, b)
	}
}

// modstampTarget reads a synctest.System as Salesforce shows its records:
// a plainTarget whose one version per record, its SystemModstamp, has
// whole seconds.
type modstampTarget struct{ *synctest.System }

func (m modstampTarget) Read(ctx context.Context, object string, ids []string) (map[string]sfsync.Record, error) {
	recs, err := plainTarget(m).Read(ctx, object, ids)
	for id, r := range recs {
		r.Version = sfsync.Version{Time: r.Version.Time.Truncate(time.Second)}
		recs[id] = r
	}
	return recs, err
}

// A Salesforce edit of a field the ERP owns loses, and before its repair
// reaches Salesforce, Salesforce deletes the record in the same second.
// Salesforce's tombstone (its SystemModstamp, whole seconds) cannot be
// ordered against the edit by version, but a record is live when it is
// edited: the delete came after the edit, and nothing of the edit is left
// to correct. Written as a record brought back, the repair made the record
// again in Salesforce, and Salesforce's delete went on to the ERP (seen in
// the simulator, seed 72628).
func TestRepairMeetsTheLosersDeleteOfTheSameSecond(t *testing.T) {
	b := newBidi(t)
	b.salesforceByRecord()
	sfSrc, extSrc := b.sfLog.Source(), b.extLog.Source()
	policy := conflict.FieldOwnership(conflict.Owners{"Phone": erp}, conflict.LastWriteWins())
	e, err := sfsyncsync.New(sfSrc, nil,
		sfsyncsync.WithLogger(quiet()), sfsyncsync.WithTenant(org), sfsyncsync.WithClientID("sfsync"),
		sfsyncsync.WithStore(b.store), sfsyncsync.WithPolicy(policy), fastRetries(5),
		sfsyncsync.WithRoute(sfsyncsync.Route{From: sfsync.Salesforce, Sink: b.ext}),
		sfsyncsync.WithRoute(sfsyncsync.Route{From: erp, To: sfsync.Salesforce, Sink: modstampTarget{b.sf}}),
		sfsyncsync.WithSource(extSrc))
	if err != nil {
		t.Fatal(err)
	}
	r := start(t, e)
	settled := func() {
		t.Helper()
		settle(t, b.sfLog, sfSrc, b.extLog, extSrc)
	}
	b.ext.Edit("Contact", "003A", map[string]any{"LastName": "N", "Phone": "p0"}, at(time.Second))
	settled()
	edit := b.sf.EditSilently("Contact", "003A", map[string]any{"Phone": "p31"}, commitAt(20100, 7))
	del := b.sf.RemoveSilently("Contact", "003A", commitAt(20200, 8))
	b.sfLog.Append(edit)
	settled()
	b.sfLog.Append(del)
	settled()
	r.stop(t)
	b.noLiveRecord(t, "Salesforce's delete, after its own edit, is the record's last change")
	if t.Failed() {
		logOutcomes(t, b)
	}
}
