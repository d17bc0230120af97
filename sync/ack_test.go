package sync_test

import (
	"context"
	"testing"
	"time"

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

// editsAfterWrite applies a write, lets a user change one of its fields,
// and then loses the acknowledgement, once.
type editsAfterWrite struct {
	*synctest.System
	done bool
}

func (s *editsAfterWrite) Write(ctx context.Context, cs []sfsync.Change) error {
	if err := s.System.Write(ctx, cs); err != nil || s.done {
		return err
	}
	s.done = true
	s.EditSilently("Contact", cs[0].RecordID, map[string]any{"Phone": "user"}, at(time.Hour))
	return synctest.ErrTimeout
}

// A write whose acknowledgement was lost is recognised as applied by the
// target's field versions even when a user changed one of its fields before
// the retry read it: it is not written a second time.
func TestLostAcknowledgementConfirmedByFieldVersions(t *testing.T) {
	b := newBidi(t, synctest.WithoutKeyIdempotency())
	c := b.sf.Edit("Contact", "003A", map[string]any{"Phone": "333", "Email": "a@example.com"}, at(0))
	sink := &editsAfterWrite{System: b.ext}
	src := b.sfLog.Source()
	start(t, oneWay(t, b, src, sfsyncsync.WithRoute(sfsyncsync.Route{From: sfsync.Salesforce, Sink: sink})))
	settle(t, b.sfLog, src)
	if n := b.ext.Applications(c.Key); n != 1 {
		t.Errorf("change applied %d times, want 1", n)
	}
	if got := field(t, b.ext, "Contact", "003A", "Phone"); got != "user" {
		t.Errorf("Phone=%v: the retry overwrote the user's later edit", got)
	}
}
