package sync_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/conflict"
	sfsyncsync "github.com/sfsync/sfsync/sync"
)

// A change requeued from the dead letters was told from an echo when it
// was first delivered: it is the source's own change, made before any
// write of ours since. Here the ERP's email (3s) is rejected by Salesforce
// (a dead letter); the ERP then deletes the record (6s), which loses to
// Salesforce's newer rename (8s), and the repair brings the record back
// in the ERP with the ERP's own email. That write's echo is still on its
// way when the operator requeues the email: the write's fingerprint of
// e5 is not consumed yet, and the requeued email, carrying the same
// value, was taken for that echo and never reached Salesforce (seen in
// TestRepairDoesNotClaimTheLosersOwnEditThatStands, when the echo came
// late).
func TestRequeuedChangeIsNotTakenForTheEchoOfALaterWrite(t *testing.T) {
	b := newBidi(t)
	b.salesforceByRecord()
	sfSrc := b.sfLog.Source()
	extSrc := &holdingAfter{gatedSource: newGatedSource(b.extLog.Source())}
	policy := conflict.LastWriteWins(conflict.WithSkewTolerance(time.Second))
	e, err := sfsyncsync.New(sfSrc, nil, append(b.options(policy), sfsyncsync.WithSource(extSrc))...)
	if err != nil {
		t.Fatal(err)
	}
	r := start(t, e)
	t.Cleanup(func() {
		if t.Failed() {
			logOutcomes(t, b)
		}
	})
	settled := func() { t.Helper(); settle(t, b.sfLog, sfSrc, b.extLog, extSrc.Source) }

	sfAt := sfCommits(701)
	b.sf.Edit("Contact", "003A", map[string]any{"LastName": "n1", "Email": "e0"}, sfAt(time.Second))
	settled()
	b.sf.InjectFault(rejectedOnce())
	b.ext.Edit("Contact", "003A", map[string]any{"Email": "e5"}, at(3*time.Second))
	settled()
	rename := b.sf.EditSilently("Contact", "003A", map[string]any{"LastName": "n2"}, sfAt(8*time.Second))
	b.sfLog.Append(rename)
	settled()
	// The ERP's stream holds everything after its delete: the repair's
	// echo waits.
	extSrc.holdAfter(func(c sfsync.Change) bool { return c.Op == sfsync.OpDelete })
	b.ext.Remove("Contact", "003A", at(6*time.Second))
	waitFor(t, func() bool {
		return slices.ContainsFunc(outcomes(t, b.store, sfsync.OutcomeQuery{Status: sfsync.StatusApplied}), func(o sfsync.Outcome) bool {
			return strings.HasPrefix(o.Key, "repair:") && o.Op == sfsync.OpCreate
		})
	})

	dead := outcomes(t, b.store, sfsync.OutcomeQuery{Status: sfsync.StatusDeadLettered})
	requeueTo(t, r, dead, sfsync.Salesforce)
	for _, d := range dead {
		waitFor(t, func() bool {
			return slices.ContainsFunc(outcomes(t, b.store, sfsync.OutcomeQuery{Key: d.Key}), func(o sfsync.Outcome) bool {
				return o.Status != sfsync.StatusDeadLettered
			})
		})
	}
	extSrc.reopen()
	settled()
	r.stop(t)
	b.bothHold(t, "Contact", "003A", "Email", "e5", "the ERP's email (3s) is newer than Salesforce's (1s)")
	b.bothHold(t, "Contact", "003A", "LastName", "n2", "Salesforce's rename is the newest")
}

// holdingAfter is a gatedSource that closes its gate once it delivered a
// change that after matches: what comes after it waits.
type holdingAfter struct {
	*gatedSource
	after func(sfsync.Change) bool
}

func (h *holdingAfter) holdAfter(after func(sfsync.Change) bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.after = after
}

func (h *holdingAfter) Receive(ctx context.Context) ([]sfsync.Change, error) {
	cs, err := h.gatedSource.Receive(ctx)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.after != nil && slices.ContainsFunc(cs, h.after) {
		h.open, h.after = make(chan struct{}), nil
	}
	return cs, err
}
