package sync_test

import (
	"errors"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/conflict"
	"github.com/sfsync/sfsync/sync/synctest"
)

// A change that lost some fields and wrote the rest keeps its system's data
// of the fields that lost, as of its version, in the version map, however
// the write ends: confirmed on a retry (it timed out after taking effect),
// or dead-lettered. A later change of the winner's, decided against that
// system, must meet those fields at that version, not at the record's
// newest, which only a change of other fields made.
//
// Salesforce here stamps whole records (SystemModstamp): only the version
// map knows when each of its fields changed.
func TestFieldsThatLostKeepTheirVersionWhateverTheWrite(t *testing.T) {
	for name, fault := range map[string]synctest.Fault{
		"confirmed on retry": {AfterApply: true, Err: synctest.ErrTimeout},
		"dead-lettered":      {Err: sfsync.Permanent(errors.New("validation rule"))},
	} {
		t.Run(name, func(t *testing.T) {
			b := newBidi(t)
			b.salesforceByRecord()
			r, settled := b.startBoth(t, conflict.LastWriteWins())
			b.sf.Edit("Contact", "003A", map[string]any{"Phone": "p0"}, at(0))
			settled()

			// The ERP renames the contact at 5s; its event is late.
			late := b.ext.EditSilently("Contact", "003A", map[string]any{"LastName": "E5"}, at(5*time.Second))
			// Salesforce's older rename loses to it; its phone is written,
			// and that write fails.
			b.ext.InjectFault(fault)
			b.sf.Edit("Contact", "003A", map[string]any{"LastName": "S3", "Phone": "p3"}, at(3*time.Second))
			settled()
			// A later Salesforce edit of another field moves its record's
			// stamp.
			b.sf.Edit("Contact", "003A", map[string]any{"Phone": "p10"}, at(10*time.Second))
			settled()

			// The ERP's rename arrives: it is newer than Salesforce's (3s).
			b.extLog.Append(late)
			settled()
			r.stop(t)
			logOutcomes(t, b)
			b.bothHold(t, "Contact", "003A", "LastName", "E5", "the ERP's rename (5s) is newer than Salesforce's (3s)")
			b.bothHold(t, "Contact", "003A", "Phone", "p10", "Salesforce's last phone")
		})
	}
}
