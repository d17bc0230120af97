package sync_test

import (
	"testing"
	"time"

	"github.com/sfsync/sfsync/conflict"
)

// A change decided against a target whose record changed in an event the
// engine has not seen waits for that event a while, then decides without
// it. The version map still knows when each field's data there was made:
// the unseen change may have touched others only. Taking the record's
// version for every field instead made an edit lose to data older than
// itself, for good. (Had the unseen change set the field, its event,
// arriving before our write's echo, shows the crossing, and it is decided
// and written back in its turn.)
func TestUnseenTargetChangeDoesNotAgeEveryField(t *testing.T) {
	b := newBidi(t)
	b.salesforceByRecord()
	r, settled := b.startBoth(t, conflict.LastWriteWins())
	b.sf.Edit("Contact", "003A", map[string]any{"LastName": "N4", "Phone": "p4"}, at(4*time.Second))
	settled()

	// Salesforce changes the phone at 8s; its event is late. The ERP
	// renames the contact at 7s.
	late := b.sf.EditSilently("Contact", "003A", map[string]any{"Phone": "p8"}, at(8*time.Second))
	b.ext.Edit("Contact", "003A", map[string]any{"LastName": "E7"}, at(7*time.Second))
	settled()
	b.sfLog.Append(late)
	settled()
	r.stop(t)
	logOutcomes(t, b)
	b.bothHold(t, "Contact", "003A", "LastName", "E7", "the ERP's rename (7s) is newer than Salesforce's name (4s)")
	b.bothHold(t, "Contact", "003A", "Phone", "p8", "Salesforce's phone")
}
