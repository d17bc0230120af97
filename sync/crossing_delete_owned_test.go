package sync_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/conflict"
	"github.com/sfsync/sfsync/sync/synctest"
)

// editAfterArmedRead is a target one of whose users edits a record (edit)
// right after the engine's first read of it once armed.
type editAfterArmedRead struct {
	*target
	armed atomic.Bool
	edit  func()
}

func (s *editAfterArmedRead) Read(ctx context.Context, object string, ids []string) (map[string]sfsync.Record, error) {
	recs, err := s.target.Read(ctx, object, ids)
	if s.armed.CompareAndSwap(true, false) {
		s.edit()
	}
	return recs, err
}

// The delete that crosses a Salesforce user's edit (see
// TestDeleteThatCrossesATargetEditIsUndoneWhereTheTargetStampsItsWrites),
// under field ownership: the ERP owns MailingCity, and last write wins
// (skew 2 s) decides the rest. The ERP made the record (LastName n, Phone
// 0, MailingCity c) and deletes it at 10 s; a Salesforce user sets Phone
// to "sf" at 12 s right after the engine read the record to write that
// delete, which Salesforce stamps with its own time. The edit, newer than
// the ERP's delete, brings the record back in the ERP from Salesforce's
// tombstone, without MailingCity, the ERP's own, which the ERP keeps from
// its tombstone and which lost there. So the repair that brings the
// record back in Salesforce carries two things: the ERP's MailingCity,
// which lost, and the user's edit written back (the resync). Only a
// repair that was the resync alone counted as undoing our delete; this
// one met Salesforce's tombstone, our own delete, as a delete of
// Salesforce's own: stamped at 13 s, later than the user's edit, it was
// taken for a delete made since the edit, which decides; stamped in the
// edit's second (whole seconds, as the simulator's Salesforce stamps our
// writes), the policy decided the repair against it, a tie within the
// skew tolerance, which a delete wins. Either way the record stayed
// deleted in Salesforce and live in the ERP (the simulator's seed 4176,
// the second way).
func TestDeleteThatCrossesATargetEditIsUndoneWithTheLostFieldsOfItsRecord(t *testing.T) {
	for _, tc := range []struct {
		name  string
		stamp func(sfAt func(time.Duration) sfsync.Version) sfsync.Version
	}{
		{"stamped later", func(sfAt func(time.Duration) sfsync.Version) sfsync.Version { return sfAt(13 * time.Second) }},
		{"stamped in the edit's second", func(func(time.Duration) sfsync.Version) sfsync.Version { return at(12 * time.Second) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBidi(t)
			sfAt := sfCommits(900)
			var deleting atomic.Bool
			b.salesforceByRecord(synctest.WithWriteClock(func() sfsync.Version {
				if deleting.Load() {
					return tc.stamp(sfAt)
				}
				return at(2 * time.Second)
			}))
			sf := &editAfterArmedRead{target: b.sf}
			sf.edit = func() { b.sf.Edit("Contact", "003A", map[string]any{"Phone": "sf"}, sfAt(12*time.Second)) }
			policy := conflict.FieldOwnership(conflict.Owners{"MailingCity": erp},
				conflict.LastWriteWins(conflict.WithSkewTolerance(2*time.Second)))
			_, settled := b.startThrough(t, policy, sf)
			b.ext.Edit("Contact", "003A", map[string]any{"LastName": "n", "Phone": "0", "MailingCity": "c"}, at(time.Second))
			settled()
			b.bothHold(t, "Contact", "003A", "Phone", "0", "the ERP's create")
			deleting.Store(true)
			sf.armed.Store(true)
			b.ext.Remove("Contact", "003A", at(10*time.Second))
			settled()
			if sf.armed.Load() {
				t.Fatal("the Salesforce user never edited: the engine did not read Salesforce")
			}
			b.bothLive(t, "003A", "the user's edit is newer than the delete")
			b.bothHold(t, "Contact", "003A", "Phone", "sf", "the Salesforce user's edit, newer than the delete")
			b.bothHold(t, "Contact", "003A", "MailingCity", "c", "the ERP's own, which it owns")
			b.bothHold(t, "Contact", "003A", "LastName", "n", "the ERP's create")
			if t.Failed() {
				logOutcomes(t, b)
			}
		})
	}
}
