package sync_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/conflict"
	"github.com/sfsync/sfsync/sync/synctest"
)

// Salesforce's own edit came after our earlier write to the same record
// there: Salesforce's stream says so (its event follows our write's echo).
// A later ERP edit is decided against that edit, applied or lost for now
// (dead-lettered), not against the data of ours it replaced, whose version
// is on the ERP's clock and cannot be ordered against Salesforce's. Here the two renames tie within the skew (3 s), and the
// tie goes to Salesforce, the system of record, in both directions.
func TestTargetsEditAfterOurWriteDecides(t *testing.T) {
	for _, rejected := range []bool{false, true} {
		name := "applied"
		if rejected {
			name = "dead-lettered"
		}
		t.Run(name, func(t *testing.T) {
			b := newBidi(t)
			// Salesforce stamps our writes with its own clock, a second
			// behind the ERP's.
			b.salesforceByRecord(synctest.WithWriteClock(func() sfsync.Version { return at(7 * time.Second) }))
			r, settled := b.startBoth(t, conflict.LastWriteWins(conflict.WithSkewTolerance(3*time.Second)))
			b.sf.Edit("Contact", "003A", map[string]any{"LastName": "N0"}, at(0))
			settled()
			b.ext.Edit("Contact", "003A", map[string]any{"LastName": "E8"}, at(8*time.Second))
			settled()

			// A Salesforce user renames the contact after our write; the
			// ERP takes the rename, or rejects it for now.
			if rejected {
				b.ext.InjectFault(synctest.Fault{Err: sfsync.Permanent(errors.New("validation rule"))})
			}
			b.sf.Edit("Contact", "003A", map[string]any{"LastName": "S7"}, at(7100*time.Millisecond))
			settled()
			dead := outcomes(t, b.store, sfsync.OutcomeQuery{Status: sfsync.StatusDeadLettered})
			if rejected != (len(dead) == 1) {
				t.Fatalf("dead letters %+v", dead)
			}
			// The ERP renames it again; a rejected rename is requeued.
			b.ext.Edit("Contact", "003A", map[string]any{"LastName": "E9"}, at(9*time.Second))
			settled()
			if rejected {
				if _, err := r.e.Requeue(context.Background(), dead[0].Key); err != nil {
					t.Fatal(err)
				}
				settled()
			}
			r.stop(t)
			logOutcomes(t, b)
			b.bothHold(t, "Contact", "003A", "LastName", "S7", "the two renames tie within the skew; Salesforce, the system of record, wins the tie")
		})
	}
}
