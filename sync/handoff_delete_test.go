package sync_test

import (
	"context"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/conflict"
	"github.com/sfsync/sfsync/reconcile"
	sfsyncsync "github.com/sfsync/sfsync/sync"
	"github.com/sfsync/sfsync/sync/synctest"
)

// modstampReads is a Salesforce sink whose reads report what the REST API
// does: the record's SystemModstamp, in whole seconds, and no field
// versions (recordVersioned's reads, truncated).
type modstampReads struct{ recordVersioned }

// System says the sink is Salesforce: recordVersioned's embedded field
// of that name hides the method.
func (s modstampReads) System() sfsync.System { return s.recordVersioned.System.System() }

func (s modstampReads) Read(ctx context.Context, object string, ids []string) (map[string]sfsync.Record, error) {
	recs, err := s.recordVersioned.Read(ctx, object, ids)
	for id, r := range recs {
		r.Version = sfsync.Version{Time: r.Version.Time.Truncate(time.Second)}
		recs[id] = r
	}
	return recs, err
}

// A delete event of the second of a version read from Salesforce, re-read
// by id, finds the record still deleted: the delete stands, and is the
// event's own change at its own commit time. Decided at the end of that
// second instead, it ties, under last write wins with a skew, with the
// other system's newer edit that it is more than the skew older than.
func TestDeleteEventRereadInItsSecondKeepsItsCommitTime(t *testing.T) {
	b := newBidi(t)
	b.sf.Edit("Contact", "003A", map[string]any{"LastName": "N", "Phone": "p0"}, commitAt(0, 5))
	a := &modstampAuthority{sys: b.sf, old: map[string]sfsync.Record{}}
	policy := conflict.FieldOwnership(conflict.Owners{"Phone": sfsync.Salesforce},
		conflict.LastWriteWins(conflict.WithSkewTolerance(2*time.Second)))
	sfSrc, extSrc := b.sfLog.Source(), b.extLog.Source()
	e, err := sfsyncsync.New(sfSrc, nil,
		sfsyncsync.WithLogger(quiet()), sfsyncsync.WithTenant(org), sfsyncsync.WithClientID("sfsync"),
		sfsyncsync.WithStore(b.store), sfsyncsync.WithPolicy(policy),
		sfsyncsync.WithRoute(sfsyncsync.Route{From: sfsync.Salesforce, Sink: b.ext}),
		sfsyncsync.WithRoute(sfsyncsync.Route{From: erp, Sink: modstampReads{recordVersioned{b.sf}}}),
		sfsyncsync.WithReconciler(reconcile.New(a, reconcile.WithTenant(org), reconcile.WithLogger(quiet()))),
		sfsyncsync.WithSource(extSrc), fastRetries(5))
	if err != nil {
		t.Fatal(err)
	}
	start(t, e)
	settled := func() { t.Helper(); settle(t, b.sfLog, sfSrc, b.extLog, extSrc) }
	settled()
	// Salesforce deletes at 12:00:13.2. The ERP edits Phone, which
	// Salesforce owns, at 12:00:15.5 on its clock: the edit writes
	// nothing, but it is the record's last change, 2.3 s after the
	// delete, beyond the skew: the record lives. The edit is decided
	// first, against the deleted record as Salesforce reads it (12:00:13).
	del := b.sf.RemoveSilently("Contact", "003A", commitAt(13200, 9))
	b.ext.Edit("Contact", "003A", map[string]any{"Phone": "p1"}, at(15500*time.Millisecond))
	settled()
	b.sfLog.Append(del)
	settled()
	for _, sys := range []*synctest.System{b.sf, b.ext} {
		if rec, ok := sys.Record("Contact", "003A"); !ok || rec.Deleted {
			t.Errorf("%s holds %+v (found %v), want the record live: the ERP's edit is its last change", sys.System(), rec, ok)
		}
	}
	if t.Failed() {
		logOutcomes(t, b)
	}
}
