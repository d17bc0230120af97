package sync_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/conflict"
	sfsyncsync "github.com/sfsync/sfsync/sync"
	"github.com/sfsync/sfsync/sync/synctest"
)

// salesforceAsItIs makes b's Salesforce what Salesforce is to the engine:
// it versions whole records, stamps our writes with its own clock (a
// second apart, after from), and brings a deleted record back as its REST
// API does: a create makes a new record, with only the fields written.
func (b *bidi) salesforceAsItIs(from time.Duration) {
	var stamps atomic.Int64
	b.salesforceByRecord(synctest.WithFreshCreates(), synctest.WithWriteClock(func() sfsync.Version {
		return at(from + time.Duration(stamps.Add(1))*time.Second)
	}))
}

// Salesforce owns the city; deletes follow the ERP. Salesforce's stand-in
// is as Salesforce is (salesforceAsItIs).
func startOwnedCity(t *testing.T) (b *bidi, r *running, settled func()) {
	t.Helper()
	b = newBidi(t)
	b.salesforceAsItIs(20 * time.Second)
	sfSrc, extSrc := b.sfLog.Source(), b.extLog.Source()
	policy := conflict.FieldOwnership(conflict.Owners{"MailingCity": sfsync.Salesforce}, conflict.ExternalWins())
	e, err := sfsyncsync.New(sfSrc, nil, append(b.options(policy), sfsyncsync.WithSource(extSrc))...)
	if err != nil {
		t.Fatal(err)
	}
	r = start(t, e)
	b.sf.Edit("Contact", "003A", map[string]any{"LastName": "N", "MailingCity": "c1"}, at(0))
	settled = func() {
		t.Helper()
		settle(t, b.sfLog, sfSrc, b.extLog, extSrc)
	}
	settled()
	return b, r, settled
}

// wantLiveWithCity checks that both systems hold the record live with city.
func (b *bidi) wantLiveWithCity(t *testing.T, city, why string) {
	t.Helper()
	for _, side := range []*synctest.System{b.sf, b.ext} {
		rec, ok := side.Record("Contact", "003A")
		if !ok || rec.Deleted {
			t.Errorf("%s: record live %v, want it live: deletes follow the ERP", side.System(), ok && !rec.Deleted)
			continue
		}
		if got := rec.Fields["MailingCity"]; got != city {
			t.Errorf("%s MailingCity = %v, want %v: %s", side.System(), got, city, why)
		}
	}
}

// Salesforce deletes the record, and the ERP, not knowing yet, edits the
// city: the edit loses to the owner, whose record is deleted, so its
// repair deletes the ERP's record, and that delete loses in its turn.
// Then Salesforce's delete loses, and the record comes back in Salesforce
// with the ERP's data. The city must be the owner's value from before its
// delete, not the ERP's edit that lost.
func TestRecordBroughtBackKeepsTheOwnersValueOfAFieldThatLost(t *testing.T) {
	b, r, settled := startOwnedCity(t)
	deleted := b.sf.RemoveSilently("Contact", "003A", at(10*time.Second))
	b.ext.Edit("Contact", "003A", map[string]any{"MailingCity": "c2"}, at(11*time.Second))
	settled()
	b.sfLog.Append(deleted)
	settled()
	r.stop(t)
	logOutcomes(t, b)
	b.wantLiveWithCity(t, "c1", "Salesforce owns the city, and the ERP's c2 lost")
}

// An ERP edit of another field brings the record Salesforce deleted back
// (deletes follow the ERP). The new record in Salesforce must have the
// owner's city from before the delete: the ERP's edit does not win it.
// It must have it at once: once our create's echo has come, Salesforce's
// delete, older, may well be stale when it arrives, and bring nothing.
func TestUpdateBringingARecordBackKeepsTheOwnersFields(t *testing.T) {
	b, r, settled := startOwnedCity(t)
	deleted := b.sf.RemoveSilently("Contact", "003A", at(10*time.Second))
	b.ext.Edit("Contact", "003A", map[string]any{"LastName": "N2"}, at(11*time.Second))
	settled()
	b.wantLiveWithCity(t, "c1", "the record brought back by the ERP's edit, before Salesforce's delete arrives")
	b.sfLog.Append(deleted)
	settled()
	r.stop(t)
	logOutcomes(t, b)
	b.wantLiveWithCity(t, "c1", "Salesforce owns the city and set it before its delete")
	b.bothHold(t, "Contact", "003A", "LastName", "N2", "the ERP's edit")
}

// Under last write wins, an ERP edit that ties with Salesforce's delete
// loses to the delete alone, not to Salesforce's value of the field: when
// a later ERP edit brings the record back, the earlier edit's value
// stands, and the deleted record's old value is not written over it.
func TestFieldThatLostOnlyToADeleteStandsWhenTheRecordComesBack(t *testing.T) {
	b := newBidi(t)
	b.salesforceAsItIs(20 * time.Second)
	r, settled := b.startBoth(t, conflict.LastWriteWins(conflict.WithSkewTolerance(time.Second)))
	b.sf.Edit("Contact", "003A", map[string]any{"LastName": "N", "Phone": "p1"}, at(0))
	settled()

	// Both ERP edits are made before the engine takes the first: the
	// repair deleting the ERP's record meets the second, newer, and loses.
	deleted := b.sf.RemoveSilently("Contact", "003A", at(7*time.Second))
	phone := b.ext.EditSilently("Contact", "003A", map[string]any{"Phone": "p2"}, at(7*time.Second))
	lastName := b.ext.EditSilently("Contact", "003A", map[string]any{"LastName": "N2"}, at(10*time.Second))
	b.extLog.Append(phone)
	b.extLog.Append(lastName)
	settled()
	b.sfLog.Append(deleted)
	settled()
	r.stop(t)
	logOutcomes(t, b)
	b.bothHold(t, "Contact", "003A", "Phone", "p2", "the ERP's edit lost only to the delete, which lost in the end")
	b.bothHold(t, "Contact", "003A", "LastName", "N2", "the ERP's edit that brought the record back")
}

// The ERP owns the city; the rest is last write wins. The ERP deletes the
// record just after a Salesforce edit of the last name and the city, which
// is taken first: it brings the record back in the ERP (within the skew),
// the city there as the ERP held it, since Salesforce's lost to the owner.
// The repair of Salesforce's city takes that value, not nothing.
func TestRecordBroughtBackToTheOwnerKeepsItsOwnValue(t *testing.T) {
	b := newBidi(t)
	b.salesforceAsItIs(40 * time.Second)
	policy := conflict.FieldOwnership(conflict.Owners{"MailingCity": erp}, conflict.LastWriteWins(conflict.WithSkewTolerance(2*time.Second)))
	r, settled := b.startBoth(t, policy)
	b.sf.Edit("Contact", "003A", map[string]any{"LastName": "N", "MailingCity": "c1"}, at(0))
	settled()
	b.ext.Edit("Contact", "003A", map[string]any{"MailingCity": "c2"}, at(5*time.Second))
	settled()

	// The ERP deletes the record; Salesforce's edit, a second earlier, is
	// taken before the delete's event.
	deleted := b.ext.RemoveSilently("Contact", "003A", at(22*time.Second))
	b.sf.Edit("Contact", "003A", map[string]any{"LastName": "N2", "MailingCity": "c3"}, at(21*time.Second))
	settled()
	b.extLog.Append(deleted)
	settled()
	r.stop(t)
	logOutcomes(t, b)
	rec, ok := b.ext.Record("Contact", "003A")
	if !ok || rec.Deleted {
		t.Fatalf("ERP record live %v, want it brought back", ok && !rec.Deleted)
	}
	b.bothHold(t, "Contact", "003A", "MailingCity", "c2", "the ERP owns the city")
}

// An ERP create of a record Salesforce has deleted brings it back (deletes
// follow the ERP): the new record in Salesforce has the owner's city from
// before the delete, which the ERP's create does not win.
func TestCreateBringingARecordBackKeepsTheOwnersFields(t *testing.T) {
	b := newBidi(t)
	b.salesforceAsItIs(20 * time.Second)
	policy := conflict.FieldOwnership(conflict.Owners{"MailingCity": sfsync.Salesforce}, conflict.ExternalWins())
	r, settled := b.startBoth(t, policy)
	// Salesforce created and deleted the record before its events reach
	// the engine; the ERP creates the same record (its link).
	created := b.sf.EditSilently("Contact", "003A", map[string]any{"LastName": "N", "MailingCity": "c1"}, at(0))
	deleted := b.sf.RemoveSilently("Contact", "003A", at(1*time.Second))
	b.ext.Edit("Contact", "003A", map[string]any{"LastName": "E", "MailingCity": "c2"}, at(2*time.Second))
	settled()
	b.wantLiveWithCity(t, "c1", "the record brought back by the ERP's create, before Salesforce's events arrive")
	b.sfLog.Append(created)
	b.sfLog.Append(deleted)
	settled()
	r.stop(t)
	logOutcomes(t, b)
	b.wantLiveWithCity(t, "c1", "Salesforce owns the city")
}
