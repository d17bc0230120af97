package sync_test

import (
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/conflict"
	"github.com/sfsync/sfsync/sync/synctest"
)

// Salesforce flips the email e10 -> null -> e10, and the
// engine writes each value to the ERP; the ERP's echoes of those writes
// come only after all three were written. Each echo, recognised by its
// origin, uses up its write's fingerprint, although it carries the version
// of a Salesforce change older than the newest applied: it is our write.
// A user's later revert of the ERP's email to null is then the user's
// edit, not the echo of our write of null, and reaches Salesforce.
func TestLateEchoUsesUpItsWriteAndARevertIsNotSwallowed(t *testing.T) {
	held := synctest.NewLog("held")
	b := newBidi(t, synctest.WithFeed(held))
	r, settled := b.startBoth(t, conflict.LastWriteWins())
	b.sf.Edit("Contact", "003A", map[string]any{"LastName": "n", "Email": "e1"}, at(time.Second))
	settled()
	b.extLog.Append(held.Changes()...)
	settled()

	seen := len(held.Changes())
	b.sf.Edit("Contact", "003A", map[string]any{"Email": "e10"}, at(4*time.Second))
	b.sf.Edit("Contact", "003A", map[string]any{"Email": nil}, at(5*time.Second))
	b.sf.Edit("Contact", "003A", map[string]any{"Email": "e10"}, at(6*time.Second))
	settled()
	b.extLog.Append(held.Changes()[seen:]...)
	settled()

	seen = len(held.Changes())
	revert := b.ext.Edit("Contact", "003A", map[string]any{"Email": nil}, at(12*time.Second))
	b.extLog.Append(held.Changes()[seen:]...)
	settled()
	r.stop(t)
	if st := statusByKey(t, b.store)[revert.Key]; st == sfsync.StatusEcho {
		logOutcomes(t, b)
		t.Errorf("the user's revert of the ERP's email was taken as the echo of our write of null")
	}
	b.bothHold(t, "Contact", "003A", "Email", nil, "the ERP user's revert (12s) is the newest edit")
}
