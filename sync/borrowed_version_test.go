package sync_test

import (
	"errors"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/conflict"
	"github.com/sfsync/sfsync/sync/synctest"
)

// A change of a record the target lacks brings it there whole, with the
// fields it did not touch taken from the source's record. Those fields'
// data has the versions the source shows for them, older than the
// change's, and the version map holds them so: a later edit of such a
// field in the source is decided against that version, not against the
// target's record version, which a change of other fields may have moved.
func TestFieldsBroughtAlongKeepTheirVersions(t *testing.T) {
	b := newBidi(t)
	b.salesforceByRecord()
	r, settled := b.startBoth(t, conflict.LastWriteWins())

	// Salesforce rejects the ERP's create for now; the ERP's next edit
	// brings the record there with the phone set at 1s.
	b.sf.InjectFault(synctest.Fault{Err: sfsync.Permanent(errors.New("validation rule"))})
	b.ext.Edit("Contact", "003A", map[string]any{"LastName": "N1", "Phone": "p1"}, at(1*time.Second))
	settled()
	b.ext.Edit("Contact", "003A", map[string]any{"LastName": "N2"}, at(2*time.Second))
	settled()

	// The ERP changes the phone at 10s (its event is late); Salesforce
	// changes another field at 20s.
	late := b.ext.EditSilently("Contact", "003A", map[string]any{"Phone": "p10"}, at(10*time.Second))
	b.sf.Edit("Contact", "003A", map[string]any{"Email": "e20"}, at(20*time.Second))
	settled()
	b.extLog.Append(late)
	settled()
	r.stop(t)
	logOutcomes(t, b)
	b.bothHold(t, "Contact", "003A", "Phone", "p10", "the ERP's edit (10s) is newer than the phone Salesforce holds (1s)")
	b.bothHold(t, "Contact", "003A", "Email", "e20", "Salesforce's edit")
}
