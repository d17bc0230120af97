package sync_test

import (
	"errors"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/conflict"
	"github.com/sfsync/sfsync/sync/synctest"
)

// Where Salesforce wins, the ERP fills the fields Salesforce lacks. A
// Salesforce record shows every field, null where never set: such a field
// is lacking, though the record shows it, when no change of Salesforce's
// ever set it.
func TestTheLoserFillsAFieldTheWinnerShowsButNeverSet(t *testing.T) {
	b := newBidi(t)
	b.salesforceByRecord(synctest.WithSchema("Contact", "LastName", "Email", "Phone", "MailingCity"), synctest.WithEmptyFieldsShown())
	r, settled := b.startBoth(t, conflict.SalesforceWins())
	b.sf.Edit("Contact", "003A", map[string]any{"LastName": "N1"}, at(1*time.Second))
	settled()
	b.ext.Edit("Contact", "003A", map[string]any{"Email": "e2"}, at(2*time.Second))
	settled()
	r.stop(t)
	logOutcomes(t, b)
	b.bothHold(t, "Contact", "003A", "Email", "e2", "Salesforce never set the email: the ERP's fills it")
}

// Where Salesforce wins, the ERP's create is rejected for now (a dead
// letter); its next edit makes the record in Salesforce, but only with the
// field it changed, since the ERP deleted the record before the edit was
// taken across; the delete loses and the record comes back in the ERP.
// Requeued, the create finds the record made by our own write: of a later
// change of the ERP's, not of this create, so the email that the create
// set, which Salesforce lacks, must still be written.
func TestRequeuedCreateFillsWhatALaterChangeDidNotCarry(t *testing.T) {
	b := newBidi(t)
	b.salesforceByRecord(synctest.WithSchema("Contact", "LastName", "Email", "Phone", "MailingCity"), synctest.WithEmptyFieldsShown())
	r, settled := b.startBoth(t, conflict.SalesforceWins())
	b.sf.InjectFault(synctest.Fault{Err: sfsync.Permanent(errors.New("validation rule"))})
	b.ext.Edit("Contact", "003A", map[string]any{"LastName": "N1", "Email": "e1"}, at(1*time.Second))
	settled()
	edit := b.ext.EditSilently("Contact", "003A", map[string]any{"LastName": "N2"}, at(3*time.Second))
	del := b.ext.RemoveSilently("Contact", "003A", at(4*time.Second))
	b.extLog.Append(edit)
	settled()
	b.extLog.Append(del)
	settled()
	requeueTo(t, r, outcomes(t, b.store, sfsync.OutcomeQuery{Status: sfsync.StatusDeadLettered}), sfsync.Salesforce)
	settled()
	r.stop(t)
	logOutcomes(t, b)
	b.bothHold(t, "Contact", "003A", "LastName", "N2", "the ERP's newer edit")
	b.bothHold(t, "Contact", "003A", "Email", "e1", "Salesforce never set the email: the ERP's create fills it")
}
