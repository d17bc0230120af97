package pgmirror

import (
	"context"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
)

// outboxStates returns the state of every outbox row of record, in order.
func outboxStates(t *testing.T, m *Mirror, record string) []string {
	t.Helper()
	rows, err := m.Pool().Query(t.Context(), `SELECT state FROM `+ident(m.Schema())+`.sfsync_outbox WHERE record_id = $1 ORDER BY id`, record)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// receiveCommit reads n changes and commits the last delivery's position.
func receiveCommit(t *testing.T, src *Source, n int) []sfsync.Change {
	t.Helper()
	cs := receiveN(t, src, n)
	if err := src.Commit(t.Context(), cs[len(cs)-1].Position); err != nil {
		t.Fatal(err)
	}
	return cs
}

// TestPrune: finished outbox rows past the retention are deleted once every
// consumer has read past them; failed rows and rows a consumer has not
// read stay; idempotency keys past the retention go.
func TestPrune(t *testing.T) {
	m := openMirror(t, WithRetention(time.Nanosecond), WithPruneInterval(0))
	ctx := t.Context()
	q, _ := m.Table("person")
	sch := ident(m.Schema())
	local := connect(t)
	if err := m.Write(ctx, []sfsync.Change{sfChange(sfsync.OpCreate, "K", "key-1", map[string]any{"name": "k"})}); err != nil {
		t.Fatal(err)
	}
	src := m.Source()
	defer src.Close()
	mustExec(t, local, `INSERT INTO `+q+` (external_id__c, name) VALUES ('A', 'a'), ('F', 'f')`)
	receiveCommit(t, src, 2)
	mustExec(t, local, `UPDATE `+sch+`.sfsync_outbox SET state = 'failed' WHERE record_id = 'F'`)
	// A second window, so the default consumer's position is past the first.
	mustExec(t, local, `INSERT INTO `+q+` (external_id__c, name) VALUES ('B', 'b')`)
	receiveCommit(t, src, 1)
	// A consumer that has read nothing yet holds every row.
	mustExec(t, local, `INSERT INTO `+sch+`.sfsync_consumers (name, lo, hi, last_id) VALUES ('audit', '1', '1', 0)`)

	if err := m.Prune(ctx); err != nil {
		t.Fatal(err)
	}
	if got := outboxStates(t, m, "A"); len(got) != 1 || got[0] != "done" {
		t.Errorf("while a consumer has not read it, A's outbox rows are %v, want one done row kept", got)
	}
	var keys int
	if err := m.Pool().QueryRow(ctx, `SELECT count(*) FROM `+sch+`.sfsync_keys`).Scan(&keys); err != nil || keys != 0 {
		t.Errorf("%d idempotency keys past the retention left (%v), want none", keys, err)
	}

	mustExec(t, local, `DELETE FROM `+sch+`.sfsync_consumers WHERE name = 'audit'`)
	if err := m.Prune(ctx); err != nil {
		t.Fatal(err)
	}
	if got := outboxStates(t, m, "A"); len(got) != 0 {
		t.Errorf("after every consumer read past it, A's outbox rows are %v, want pruned", got)
	}
	if got := outboxStates(t, m, "F"); len(got) != 1 || got[0] != "failed" {
		t.Errorf("F's outbox rows are %v, want the failed row kept for an operator", got)
	}
	if got := outboxStates(t, m, "B"); len(got) != 1 || got[0] != "done" {
		t.Errorf("B's outbox rows are %v, want its row kept: the consumer's current window holds it", got)
	}
}

// TestListenReconnects: with polling out of the picture (an hour), a
// Receive waiting when a local change commits is woken by its notification
// (or, when the change commits before the Receive looks, finds it at
// once); after the LISTEN connection is lost the source opens a new one
// and goes on delivering.
func TestListenReconnects(t *testing.T) {
	m := openMirror(t, WithPollInterval(time.Hour))
	q, _ := m.Table("person")
	local := connect(t)
	src := m.Source()
	defer src.Close()
	mustExec(t, local, `INSERT INTO `+q+` (external_id__c, name) VALUES ('A', 'a1')`)
	receiveN(t, src, 1) // starts the listener

	// listener returns the pid of the source's LISTEN connection, other
	// than old, once there is one.
	listener := func(old int32) int32 {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		defer cancel()
		for {
			var pid int32
			err := local.QueryRow(ctx, `SELECT coalesce(max(pid), 0) FROM pg_stat_activity WHERE query = $1 AND pid <> $2`,
				`LISTEN `+ident(channel(m.Schema())), old).Scan(&pid)
			if err != nil {
				t.Fatalf("looking for the source's LISTEN connection: %v", err)
			}
			if pid != 0 {
				return pid
			}
			select {
			case <-ctx.Done():
				t.Fatal("the source opened no LISTEN connection")
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
	pid := listener(0)
	done := make(chan []sfsync.Change, 1)
	go func() {
		cs, err := src.Receive(t.Context())
		if err != nil {
			t.Errorf("Receive while listening: %v", err)
		}
		done <- cs
	}()
	mustExec(t, local, `UPDATE `+q+` SET name = 'a2' WHERE external_id__c = 'A'`)
	if cs := <-done; len(cs) != 1 || cs[0].Fields["name"] != "a2" {
		t.Fatalf("woken by a notification: %v, want A=a2", names(cs))
	}

	var ended bool
	if err := local.QueryRow(t.Context(), `SELECT pg_terminate_backend($1)`, pid).Scan(&ended); err != nil || !ended {
		t.Fatalf("ending the LISTEN connection: %v, %v", ended, err)
	}
	mustExec(t, local, `UPDATE `+q+` SET name = 'a3' WHERE external_id__c = 'A'`)
	if cs := receiveN(t, src, 1); cs[0].Fields["name"] != "a3" {
		t.Fatalf("after the LISTEN connection was lost: %v, want A=a3", names(cs))
	}
	listener(pid) // a new one
}
