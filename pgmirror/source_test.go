package pgmirror

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/sourcetest"
)

func TestSourceConformance(t *testing.T) {
	testDSN(t)
	t.Parallel()
	sourcetest.Run(t, func(t *testing.T) sourcetest.Target {
		m := openMirror(t)
		q, _ := m.Table("person")
		conn := connect(t)
		return sourcetest.Target{
			Open: func(t *testing.T, consumer string) sfsync.EventSource {
				src := m.Source(WithConsumer(consumer))
				t.Cleanup(func() { src.Close() })
				return src
			},
			Emit: func(t *testing.T, record, value string) {
				mustExec(t, conn, `INSERT INTO `+q+` (external_id__c, name) VALUES ($1, $2)
					ON CONFLICT (external_id__c) DO UPDATE SET name = EXCLUDED.name`, record, value)
			},
			Value: func(c sfsync.Change) (string, bool) { v, ok := c.Fields["name"].(string); return v, ok },
			Wait:  20 * time.Second,
		}
	})
}

// receiveN reads deliveries until n changes arrived.
func receiveN(t *testing.T, src *Source, n int) []sfsync.Change {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	var out []sfsync.Change
	for len(out) < n {
		cs, err := src.Receive(ctx)
		if err != nil {
			t.Fatalf("Receive after %d of %d changes: %v", len(out), n, err)
		}
		for _, c := range cs {
			if c.Op != sfsync.OpAdvance {
				out = append(out, c)
			}
		}
	}
	return out
}

// nothingReady reports whether a Receive finds nothing deliverable: it
// waits for the source's next look at the outbox (a poll), not for time.
func nothingReady(t *testing.T, src *Source) []sfsync.Change {
	t.Helper()
	cs, err := src.next(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func names(cs []sfsync.Change) []string {
	var out []string
	for _, c := range cs {
		v, _ := c.Fields["name"].(string)
		out = append(out, c.RecordID+"="+v)
	}
	return out
}

// TestOutOfOrderCommits has a transaction that took a smaller outbox id
// commit after one with a larger id was readable: the source must hold the
// larger one back, lose neither, and keep each row's changes in order.
func TestOutOfOrderCommits(t *testing.T) {
	m := openMirror(t)
	ctx := context.Background()
	q, _ := m.Table("person")
	setup := connect(t)
	mustExec(t, setup, `INSERT INTO `+q+` (external_id__c, name) VALUES ('R', 'r0'), ('S', 's0')`)
	mustExec(t, setup, `CREATE TABLE `+ident(m.Schema())+`.other (x int)`)
	src := m.Source()
	defer src.Close()
	receiveN(t, src, 2)

	// t1 takes outbox id n; t2 takes n+1 and commits first.
	c1, c2 := connect(t), connect(t)
	t1, err := c1.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	mustExecTx(t, t1, `UPDATE `+q+` SET name = 'r1' WHERE external_id__c = 'R'`)
	t2, err := c2.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	mustExecTx(t, t2, `UPDATE `+q+` SET name = 's1' WHERE external_id__c = 'S'`)
	if err := t2.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if cs := nothingReady(t, src); len(cs) != 0 {
		t.Fatalf("delivered %v while a transaction holding an earlier outbox id was open; it could commit later and be skipped", names(cs))
	}
	// A checkpoint taken now and a restart must not skip t1's row either.
	if err := t1.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	got := names(receiveN(t, src, 2))
	if want := []string{"R=r1", "S=s1"}; !slices.Equal(got, want) {
		t.Errorf("after both commits: %v, want %v (outbox id order)", got, want)
	}

	// Per-row order across windows: tb took its transaction id before a
	// long transaction lc and ta, but changes R after ta did. The window
	// below lc would hold tb's change and not ta's: the source must wait.
	cb, cl, ca := connect(t), connect(t), connect(t)
	tb, _ := cb.Begin(ctx)
	mustExecTx(t, tb, `INSERT INTO `+ident(m.Schema())+`.other VALUES (1)`)
	lc, _ := cl.Begin(ctx)
	mustExecTx(t, lc, `INSERT INTO `+ident(m.Schema())+`.other VALUES (2)`)
	ta, _ := ca.Begin(ctx)
	mustExecTx(t, ta, `UPDATE `+q+` SET name = 'r2' WHERE external_id__c = 'R'`)
	if err := ta.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	mustExecTx(t, tb, `UPDATE `+q+` SET name = 'r3' WHERE external_id__c = 'R'`)
	if err := tb.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if cs := nothingReady(t, src); len(cs) != 0 {
		t.Fatalf("delivered %v while the earlier change of the same row waits behind a running transaction", names(cs))
	}
	if err := lc.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	got = names(receiveN(t, src, 2))
	if want := []string{"R=r2", "R=r3"}; !slices.Equal(got, want) {
		t.Errorf("changes of one row: %v, want %v (the order they were made in)", got, want)
	}
}

// TestConcurrentWriters has many transactions commit in random order while
// the source reads and restarts from its checkpoints: every change arrives
// exactly once after the last checkpoint, and each row's in order.
func TestConcurrentWriters(t *testing.T) {
	m := openMirror(t)
	q, _ := m.Table("person")
	const writers, each = 8, 40
	done := make(chan error, writers)
	for w := range writers {
		go func() {
			c, err := connectErr()
			if err != nil {
				done <- err
				return
			}
			defer c.Close(context.Background())
			id := string(rune('A' + w))
			for i := range each {
				if _, err := c.Exec(context.Background(), `INSERT INTO `+q+` (external_id__c, name) VALUES ($1, $2)
					ON CONFLICT (external_id__c) DO UPDATE SET name = EXCLUDED.name`, id, seqName(i)); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	cps := &memCheckpoints{}
	last := map[string]int{}
	total := 0
	for total < writers*each {
		src := m.Source()
		if err := src.Resume(t.Context(), cps); err != nil {
			t.Fatal(err)
		}
		cs := receiveN(t, src, 1)
		for _, c := range cs {
			n := seqNumber(c.Fields["name"].(string))
			if prev, ok := last[c.RecordID]; ok && n != prev+1 {
				t.Fatalf("row %s: change %d after %d; want each change once, in order", c.RecordID, n, prev)
			}
			last[c.RecordID] = n
			total++
		}
		// Commit what was read, then restart from the checkpoint.
		pos := cs[len(cs)-1].Position
		if err := src.Commit(t.Context(), pos); err != nil {
			t.Fatal(err)
		}
		cps.pos = &pos
		src.Close()
	}
	for range writers {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	var open int
	if err := m.Pool().QueryRow(t.Context(), `SELECT count(*) FROM `+ident(m.Schema())+`.sfsync_outbox WHERE state <> 'done'`).Scan(&open); err != nil || open != 0 {
		t.Errorf("%d outbox rows not done after everything was committed (%v)", open, err)
	}
}
