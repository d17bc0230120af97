package sync_test

import (
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/conflict"
	sfsyncsync "github.com/sfsync/sfsync/sync"
	"github.com/sfsync/sfsync/sync/synctest"
)

// Two changes of the losing side that both lose the same owned field, in
// one batch: the first one's repair must not be dropped as superseded when
// the second one decides nothing to repair of its own.
func TestTwoLosingChangesInOneBatchLeaveTheOwnersValue(t *testing.T) {
	b := newBidi(t)
	b.sf = synctest.NewSystem(sfsync.Salesforce, synctest.WithFeed(b.sfLog), synctest.WithTenant(org), synctest.WithRecordVersionsOnly())
	policy := conflict.FieldOwnership(conflict.Owners{"Email": sfsync.Salesforce, "MailingCity": erp}, conflict.SalesforceWins())
	b.ext.Edit("Contact", "P-1", map[string]any{"LastName": "n", "MailingCity": "c"}, at(0))
	sfSrc, extSrc := b.sfLog.Source(), b.extLog.Source()
	e, err := sfsyncsync.New(sfSrc, nil, append(b.options(policy), sfsyncsync.WithSource(extSrc))...)
	if err != nil {
		t.Fatal(err)
	}
	start(t, e)
	settle(t, b.sfLog, sfSrc, b.extLog, extSrc)
	b.ext.Edit("Contact", "P-1", map[string]any{"Email": "e1"}, at(2*time.Second))
	b.ext.Edit("Contact", "P-1", map[string]any{"Email": "e2", "MailingCity": nil}, at(3*time.Second))
	settle(t, b.sfLog, sfSrc, b.extLog, extSrc)
	for _, side := range []*synctest.System{b.sf, b.ext} {
		if got := field(t, side, "Contact", "P-1", "Email"); got != nil {
			t.Errorf("%s holds Email=%v, want none: Salesforce owns it and never set it", side.System(), got)
		}
		if got := field(t, side, "Contact", "P-1", "MailingCity"); got != nil {
			t.Errorf("%s holds MailingCity=%v, want the ERP's null", side.System(), got)
		}
	}
}
