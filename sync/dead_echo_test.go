package sync_test

import (
	"errors"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/conflict"
	sfsyncsync "github.com/sfsync/sfsync/sync"
	"github.com/sfsync/sfsync/sync/synctest"
)

// An ERP create's write to Salesforce met a locked record on every attempt
// but the last, which landed and lost its acknowledgement: the create was
// dead-lettered. Its echo came after. Salesforce then holds the ERP's data,
// on the ERP's clock; the ERP's own later edit of the email is newer than
// it. Without the echo's word the engine took the email for Salesforce's
// own, dated at the record's version (our write's time on Salesforce's
// clock), and the ERP's edit lost to the ERP's own older value (seed
// 97845).
func TestTheEchoOfADeadLetteredWriteConfirmsItsData(t *testing.T) {
	b := newBidi(t)
	b.sf = synctest.NewSystem(sfsync.Salesforce, synctest.WithFeed(b.sfLog), synctest.WithTenant(org),
		synctest.WithRecordVersionsOnly(), synctest.WithWriteClock(func() sfsync.Version { return at(7 * time.Second) }))
	b.ext.Edit("Contact", "003A", map[string]any{"LastName": "n", "Email": "e10"}, at(2*time.Second))
	const retries = 3
	b.sf.InjectFault(synctest.Fault{Err: sfsync.Retryable(errors.New("UNABLE_TO_LOCK_ROW")), Times: retries})
	b.sf.InjectFault(synctest.Fault{Err: synctest.ErrTimeout, AfterApply: true})

	// The echo reaches the engine once the create is dead-lettered.
	sfSrc := newGatedSource(b.sfLog.Source())
	sfSrc.close()
	extSrc := b.extLog.Source()
	e, err := sfsyncsync.New(sfSrc, nil,
		sfsyncsync.WithLogger(quiet()), sfsyncsync.WithTenant(org), sfsyncsync.WithClientID("sfsync"),
		sfsyncsync.WithStore(b.store), sfsyncsync.WithPolicy(conflict.LastWriteWins()),
		sfsyncsync.WithRoute(sfsyncsync.Route{From: sfsync.Salesforce, Sink: b.ext}),
		sfsyncsync.WithRoute(sfsyncsync.Route{From: erp, Sink: b.sf}),
		sfsyncsync.WithSource(extSrc), fastRetries(retries))
	if err != nil {
		t.Fatal(err)
	}
	r := start(t, e)
	waitFor(t, func() bool {
		return len(outcomes(t, b.store, sfsync.OutcomeQuery{Status: sfsync.StatusDeadLettered})) > 0
	})
	if got := field(t, b.sf, "Contact", "003A", "Email"); got != "e10" {
		t.Fatalf("Salesforce's email = %v: the create's last attempt did not land", got)
	}
	sfSrc.reopen()
	settle(t, b.sfLog, sfSrc.Source, b.extLog, extSrc)

	b.ext.Edit("Contact", "003A", map[string]any{"Email": "e13"}, at(4*time.Second))
	settle(t, b.sfLog, sfSrc.Source, b.extLog, extSrc)
	r.stop(t)
	logOutcomes(t, b)
	b.bothHold(t, "Contact", "003A", "Email", "e13", "the ERP's edit (4 s) is newer than its own create (2 s), the only other data of the email")
}
