package sync_test

import (
	"context"
	"fmt"
	stdsync "sync"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/conflict"
	sfsyncsync "github.com/sfsync/sfsync/sync"
	"github.com/sfsync/sfsync/sync/synctest"
)

// holdsRepair holds the first write of repairValue to Salesforce until
// the engine has either written something else to Salesforce or waited
// for the record's gate, and makes the ERP user's edit first.
type holdsRepair struct {
	*target
	field, repairValue string
	edit               func()
	other, gateWait    chan struct{}
	held               bool
}

func (s *holdsRepair) Write(ctx context.Context, cs []sfsync.Change) error {
	if !s.held && len(cs) == 1 && cs[0].Fields[s.field] == s.repairValue {
		s.held = true
		s.edit()
		select {
		case <-s.other:
		case <-s.gateWait:
		case <-ctx.Done():
			return ctx.Err()
		}
		return s.target.Write(ctx, cs)
	}
	if err := s.target.Write(ctx, cs); err != nil {
		return err
	}
	select {
	case s.other <- struct{}{}:
	default:
	}
	return nil
}

// A record linked by an external id reaches the engine under two ids, its
// Salesforce id and the ERP's, and so possibly in two lanes. A Salesforce
// edit that loses to the ERP is repaired with the ERP's value; the ERP's
// user edits the record while that repair is on its way, and the edit's
// own write to Salesforce must not land before the repair: Salesforce
// would keep the repair's older value while the ERP holds the edit (seed
// 77121).
func TestRepairAndALinkedRecordsOtherChangeAreNotWrittenAtOnce(t *testing.T) {
	b := newBidi(t)
	b.sf = synctest.NewSystem(sfsync.Salesforce, synctest.WithFeed(b.sfLog), synctest.WithTenant(org), synctest.WithExternalID("Contact", "External_Id__c"))
	mapping := &sfsyncsync.Mapping{Object: "Contact", LinkField: "External_Id__c", Fields: []sfsyncsync.Field{
		{Salesforce: "Phone", External: "phone"},
	}}
	sink := &holdsRepair{target: b.sf, field: "Phone", repairValue: "p4", other: make(chan struct{}, 1), gateWait: make(chan struct{})}
	sfSrc, extSrc := b.sfLog.Source(), b.extLog.Source()
	e, err := sfsyncsync.New(sfSrc, nil,
		sfsyncsync.WithLogger(quiet()), sfsyncsync.WithTenant(org), sfsyncsync.WithClientID("sfsync"),
		sfsyncsync.WithStore(b.store), sfsyncsync.WithPolicy(conflict.ExternalWins()),
		sfsyncsync.WithRoute(sfsyncsync.Route{From: sfsync.Salesforce, Sink: b.ext}),
		sfsyncsync.WithRoute(sfsyncsync.Route{From: erp, Sink: sink}),
		sfsyncsync.WithSource(extSrc), fastRetries(5), sfsyncsync.WithMapping(mapping),
		sfsyncsync.WithLinkReader(b.sf), sfsyncsync.WithWorkers(4))
	if err != nil {
		t.Fatal(err)
	}
	// The ERP's id of the record, in a lane other than its Salesforce id's.
	var extID string
	for i := 1; extID == ""; i++ {
		if id := fmt.Sprintf("P-%d", i); !e.SameLane("Contact", "003A", id) {
			extID = id
		}
	}
	var waited stdsync.Once
	e.OnGateWait(func(string) { waited.Do(func() { close(sink.gateWait) }) })
	sink.edit = func() { b.ext.Edit("Contact", extID, map[string]any{"phone": "p16"}, at(time.Hour)) }
	// Both systems hold p4, the ERP's at a later version; then the
	// Salesforce user edits it.
	b.sf.EditSilently("Contact", "003A", map[string]any{"Phone": "p4", "External_Id__c": extID}, at(0))
	b.ext.EditSilently("Contact", extID, map[string]any{"phone": "p4"}, at(time.Minute))
	b.sf.Edit("Contact", "003A", map[string]any{"Phone": "p5"}, at(2*time.Minute))
	start(t, e)
	settle(t, b.sfLog, sfSrc, b.extLog, extSrc)

	if !sink.held {
		t.Fatal("no repair of the losing Salesforce edit was written")
	}
	sfPhone, extPhone := field(t, b.sf, "Contact", "003A", "Phone"), field(t, b.ext, "Contact", extID, "phone")
	if sfPhone != "p16" || extPhone != "p16" {
		t.Errorf("Salesforce holds %v, the ERP %v; want the ERP user's p16 in both", sfPhone, extPhone)
	}
}
