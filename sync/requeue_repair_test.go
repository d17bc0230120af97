package sync_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/conflict"
	sfsyncsync "github.com/sfsync/sfsync/sync"
	"github.com/sfsync/sfsync/sync/synctest"
)

// writersUnsaid is a target that versions its fields without saying which
// system wrote each.
type writersUnsaid struct{ *synctest.System }

func (w writersUnsaid) Read(ctx context.Context, object string, ids []string) (map[string]sfsync.Record, error) {
	recs, err := w.System.Read(ctx, object, ids)
	for id, r := range recs {
		r.LastWriter = nil
		recs[id] = r
	}
	return recs, err
}

// A repair carries the version of the change that lost, and writes the
// winner's data with it. Requeued from the dead letters, it must still be
// told from that change: the losing side shows the losing change's version
// on its fields, which is not the repair landing.
//
// The ERP here versions its fields but does not say who wrote them: a
// field at the repair's version could be the repair's own data as far as
// it tells.
func TestRequeuedRepairIsWrittenOverTheChangeThatLost(t *testing.T) {
	b := newBidi(t)
	sfSrc, extSrc := b.sfLog.Source(), b.extLog.Source()
	e, err := sfsyncsync.New(sfSrc, nil,
		sfsyncsync.WithLogger(quiet()), sfsyncsync.WithTenant(org), sfsyncsync.WithClientID("sfsync"),
		sfsyncsync.WithStore(b.store), sfsyncsync.WithPolicy(conflict.SalesforceWins()), fastRetries(5),
		sfsyncsync.WithRoute(sfsyncsync.Route{From: sfsync.Salesforce, To: erp, Sink: writersUnsaid{b.ext}}),
		sfsyncsync.WithRoute(sfsyncsync.Route{From: erp, Sink: b.sf}),
		sfsyncsync.WithSource(extSrc))
	if err != nil {
		t.Fatal(err)
	}
	r := start(t, e)
	settled := func() {
		t.Helper()
		settle(t, b.sfLog, sfSrc, b.extLog, extSrc)
	}
	b.sf.Edit("Contact", "003A", map[string]any{"LastName": "N", "Phone": "p1"}, at(0))
	settled()

	// The ERP's edit loses, and its repair is rejected there for now.
	b.ext.InjectFault(synctest.Fault{
		Match: func(c sfsync.Change) bool { return strings.HasPrefix(c.Key, "repair:") },
		Err:   sfsync.Permanent(errors.New("validation rule")),
	})
	b.ext.Edit("Contact", "003A", map[string]any{"Phone": "p2"}, at(5*time.Second))
	settled()
	logOutcomes(t, b)
	dead := outcomes(t, b.store, sfsync.OutcomeQuery{Status: sfsync.StatusDeadLettered})
	if len(dead) != 1 || !strings.HasPrefix(dead[0].Key, "repair:") {
		t.Fatalf("dead letters %+v, want the repair's", dead)
	}

	o, err := r.e.Requeue(context.Background(), dead[0].Key)
	if err != nil {
		t.Fatal(err)
	}
	settled()
	r.stop(t)
	logOutcomes(t, b)
	if o.Status != sfsync.StatusApplied {
		t.Errorf("requeued repair %s: %s", o.Status, o.Reason)
	}
	b.bothHold(t, "Contact", "003A", "Phone", "p1", "Salesforce wins; the requeued repair writes its value")
}
