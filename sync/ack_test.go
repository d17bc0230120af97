package sync_test

import (
	"testing"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/conflict"
	sfsyncsync "github.com/sfsync/sfsync/sync"
	"github.com/sfsync/sfsync/sync/synctest"
)

// A create whose acknowledgement was lost is confirmed on retry, under every
// policy and through a field mapping, never written twice.
func TestLostAcknowledgementOfAMappedCreateIsAppliedOnce(t *testing.T) {
	for name, policy := range map[string]sfsync.ConflictPolicy{
		"none": nil, "salesforce wins": conflict.SalesforceWins(), "last write wins": conflict.LastWriteWins(),
	} {
		t.Run(name, func(t *testing.T) {
			b := newBidi(t, synctest.WithoutKeyIdempotency())
			c := b.sf.Edit("Contact", "003A", map[string]any{"Phone": "333", "External_Id__c": "P-1"}, at(0))
			b.ext.InjectFault(synctest.Fault{AfterApply: true, Err: synctest.ErrTimeout})
			sfSrc, extSrc := b.sfLog.Source(), b.extLog.Source()
			e, err := sfsyncsync.New(sfSrc, nil, append(b.options(policy), sfsyncsync.WithSource(extSrc),
				sfsyncsync.WithMapping(&sfsyncsync.Mapping{Object: "Contact", External: "Contact", LinkField: "External_Id__c",
					Fields: []sfsyncsync.Field{{Salesforce: "Phone", External: "phone"}}}))...)
			if err != nil {
				t.Fatal(err)
			}
			r := start(t, e)
			settle(t, b.sfLog, sfSrc, b.extLog, extSrc)
			r.stop(t)
			if n := b.ext.Applications(c.Key); n != 1 {
				t.Errorf("change applied %d times to the external system, want 1", n)
			}
		})
	}
}
