package sync_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/conflict"
	sfsyncsync "github.com/sfsync/sfsync/sync"
	"github.com/sfsync/sfsync/sync/synctest"
)

// failsAfterUserEdit fails the first write without applying it, after a
// user changed another field of the record: the retry finds the record
// changed since its read, and waits for the failed write's echo (which
// never comes) before deciding again.
type failsAfterUserEdit struct {
	*synctest.System
	done bool
}

func (s *failsAfterUserEdit) Write(ctx context.Context, cs []sfsync.Change) error {
	if s.done {
		return s.System.Write(ctx, cs)
	}
	s.done = true
	s.EditSilently("Contact", cs[0].RecordID, map[string]any{"Email": "user"}, at(-time.Minute))
	return synctest.ErrTimeout
}

// A change decided again and again while it waits says why it was written
// once: each wait decides nothing, and its notes do not pile up in the
// outcome's reason.
func TestWaitingChangeStatesItsReasonOnce(t *testing.T) {
	b := newBidi(t)
	b.ext.Edit("Contact", "003A", map[string]any{"Phone": "old"}, at(-time.Hour))
	b.sf.Edit("Contact", "003A", map[string]any{"Phone": "new"}, at(0))
	sink := &failsAfterUserEdit{System: b.ext}
	src := b.sfLog.Source()
	start(t, oneWay(t, b, src, sfsyncsync.WithPolicy(conflict.LastWriteWins()),
		sfsyncsync.WithRoute(sfsyncsync.Route{From: sfsync.Salesforce, Sink: sink})))
	settle(t, b.sfLog, src)
	logOutcomes(t, b)
	for _, o := range outcomes(t, b.store, sfsync.OutcomeQuery{Status: sfsync.StatusApplied}) {
		if n := strings.Count(o.Reason, "last write wins"); n != 1 {
			t.Errorf("%s: reason names the policy %d times, want once: %s", o.Key, n, o.Reason)
		}
	}
}
