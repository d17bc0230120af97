package pgmirror

import (
	"context"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
)

// readOne reads the person record id as the engine would before deciding.
func readOne(t *testing.T, m *Mirror, id string) sfsync.Record {
	t.Helper()
	got, err := m.Read(t.Context(), "person", []string{id})
	if err != nil {
		t.Fatal(err)
	}
	return got[id] // the zero Record (Exists false) when there is none
}

// keyClaimed reports whether idempotency key is claimed in the mirror.
func keyClaimed(t *testing.T, m *Mirror, key string) bool {
	t.Helper()
	var n int
	if err := m.Pool().QueryRow(t.Context(), `SELECT count(*) FROM `+ident(m.Schema())+`.sfsync_keys WHERE key = $1`, key).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n > 0
}

// wantConflict checks that change i of a WriteIf failed as a conflict.
func wantConflict(t *testing.T, what string, err error, i int) {
	t.Helper()
	if e := sfsync.ErrorAt(err, i); e == nil || sfsync.KindOf(e) != sfsync.KindConflict {
		t.Errorf("%s: change %d = %v, want a conflict error", what, i, e)
	}
}

func wantName(t *testing.T, m *Mirror, id string, want any) {
	t.Helper()
	r, n := row(t, m, id)
	if n != 1 {
		t.Fatalf("%d rows hold %s, want 1", n, id)
	}
	if r["name"] != want {
		t.Errorf("%s name = %#v, want %#v", id, r["name"], want)
	}
}

// TestWriteIfRefusesAChangedRow: a local UPDATE committed after the
// engine's read fails the Salesforce change as a conflict, alone in its
// batch, without applying it or claiming its key; decided again on a
// fresh read, the same change with the same key applies.
func TestWriteIfRefusesAChangedRow(t *testing.T) {
	m := openMirror(t)
	ctx := t.Context()
	q, _ := m.Table("person")
	local := connect(t)
	createTwo(t, m)
	stale1, stale2 := readOne(t, m, "P-1"), readOne(t, m, "P-2")
	mustExec(t, local, `UPDATE `+q+` SET name = 'Ada (local)' WHERE external_id__c = 'P-1'`)

	upd := sfChange(sfsync.OpUpdate, "P-1", "u1", map[string]any{"name": "Ada (Salesforce)"})
	other := sfChange(sfsync.OpUpdate, "P-2", "u2", map[string]any{"name": "Bob (Salesforce)"})
	err := m.WriteIf(ctx, []sfsync.Change{upd, other}, []sfsync.Record{stale1, stale2})
	wantConflict(t, "an update of a row edited locally since the read", err, 0)
	if e := sfsync.ErrorAt(err, 1); e != nil {
		t.Errorf("the unchanged row next to it: %v, want applied", e)
	}
	wantName(t, m, "P-1", "Ada (local)")
	wantName(t, m, "P-2", "Bob (Salesforce)")
	if keyClaimed(t, m, "u1") {
		t.Error("the refused change's key is claimed; a retry of it would be taken for a duplicate")
	}

	if err := m.WriteIf(ctx, []sfsync.Change{upd}, []sfsync.Record{readOne(t, m, "P-1")}); err != nil {
		t.Fatalf("the same change on a fresh read: %v", err)
	}
	wantName(t, m, "P-1", "Ada (Salesforce)")
	if !keyClaimed(t, m, "u1") {
		t.Error("the applied change's key is not claimed")
	}
	// Applied once: the same change again, on a fresh read, is a
	// duplicate and leaves a later local edit.
	mustExec(t, local, `UPDATE `+q+` SET name = 'Ada (later)' WHERE external_id__c = 'P-1'`)
	if err := m.WriteIf(ctx, []sfsync.Change{upd}, []sfsync.Record{readOne(t, m, "P-1")}); err != nil {
		t.Fatalf("the applied change again: %v", err)
	}
	wantName(t, m, "P-1", "Ada (later)")
}

// TestWriteIfSharesAPreconditionPerRecord: the changes of one record in
// one call are checked once, against the first one's read, and apply or
// fail together.
func TestWriteIfSharesAPreconditionPerRecord(t *testing.T) {
	m := openMirror(t)
	ctx := t.Context()
	q, _ := m.Table("person")
	createTwo(t, m)
	r := readOne(t, m, "P-1")
	a := sfChange(sfsync.OpUpdate, "P-1", "a", map[string]any{"name": "A"})
	b := sfChange(sfsync.OpUpdate, "P-1", "b", map[string]any{"phone": "2"})
	if err := m.WriteIf(ctx, []sfsync.Change{a, b}, []sfsync.Record{r, r}); err != nil {
		t.Fatalf("two changes of one unchanged row: %v", err)
	}
	got, _ := row(t, m, "P-1")
	if got["name"] != "A" || got["phone"] != "2" {
		t.Errorf("row %v, want both changes applied", got)
	}

	mustExec(t, connect(t), `UPDATE `+q+` SET email = 'x@local' WHERE external_id__c = 'P-1'`)
	c := sfChange(sfsync.OpUpdate, "P-1", "c", map[string]any{"name": "C"})
	d := sfChange(sfsync.OpDelete, "P-1", "d", nil)
	err := m.WriteIf(ctx, []sfsync.Change{c, d}, []sfsync.Record{r, r})
	wantConflict(t, "the first change of an edited row", err, 0)
	wantConflict(t, "a later change of the same row", err, 1)
	wantName(t, m, "P-1", "A")
	if keyClaimed(t, m, "c") || keyClaimed(t, m, "d") {
		t.Error("a refused change's key is claimed")
	}
}

// TestWriteIfDeletes: hard and soft deletes of a row edited or restored
// since the read are refused and leave the row; a delete of a record that
// did not exist leaves a row inserted locally since.
func TestWriteIfDeletes(t *testing.T) {
	for _, soft := range []bool{false, true} {
		name := "hard"
		if soft {
			name = "soft"
		}
		t.Run(name, func(t *testing.T) {
			m := openMirror(t, WithSoftDeletes(soft))
			ctx := t.Context()
			q, _ := m.Table("person")
			local := connect(t)
			createTwo(t, m)
			stale := readOne(t, m, "P-1")
			mustExec(t, local, `UPDATE `+q+` SET name = 'Ada (local)' WHERE external_id__c = 'P-1'`)
			del := sfChange(sfsync.OpDelete, "P-1", "del", nil)
			err := m.WriteIf(ctx, []sfsync.Change{del}, []sfsync.Record{stale})
			wantConflict(t, "a delete of a row edited since the read", err, 0)
			wantName(t, m, "P-1", "Ada (local)")

			if err := m.WriteIf(ctx, []sfsync.Change{del}, []sfsync.Record{readOne(t, m, "P-1")}); err != nil {
				t.Fatalf("the delete on a fresh read: %v", err)
			}
			if r, n := row(t, m, "P-1"); soft && (n != 1 || r["is_deleted"] != true) || !soft && n != 0 {
				t.Errorf("after the delete: %d rows, %v", n, r)
			}

			// The engine read no P-3; a local INSERT of it follows.
			gone := readOne(t, m, "P-3")
			mustExec(t, local, `INSERT INTO `+q+` (external_id__c, name) VALUES ('P-3', 'Cy')`)
			err = m.WriteIf(ctx, []sfsync.Change{sfChange(sfsync.OpDelete, "P-3", "del3", nil)}, []sfsync.Record{gone})
			wantConflict(t, "a delete decided on no record, of a row inserted since", err, 0)
			wantName(t, m, "P-3", "Cy")
			if keyClaimed(t, m, "del3") {
				t.Error("the refused delete's key is claimed")
			}
		})
	}
}

// TestWriteIfSoftDeletedRow: a row soft deleted locally since the read
// (WithLocalSoftDeletes turns the DELETE into is_deleted) refuses an
// update decided on the live row.
func TestWriteIfSoftDeletedRow(t *testing.T) {
	m := openMirror(t, WithLocalSoftDeletes(true))
	q, _ := m.Table("person")
	createTwo(t, m)
	stale := readOne(t, m, "P-1")
	mustExec(t, connect(t), `DELETE FROM `+q+` WHERE external_id__c = 'P-1'`)
	err := m.WriteIf(t.Context(), []sfsync.Change{sfChange(sfsync.OpUpdate, "P-1", "u", map[string]any{"name": "X"})}, []sfsync.Record{stale})
	wantConflict(t, "an update of a row soft deleted since the read", err, 0)
	if r, _ := row(t, m, "P-1"); r["is_deleted"] != true || r["name"] != "Ada" {
		t.Errorf("row %v, want Ada, soft deleted", r)
	}
}

// TestWriteIfSalesforceIDRow: a row keyed by its Salesforce id (no link)
// is compared as one keyed by its link is.
func TestWriteIfSalesforceIDRow(t *testing.T) {
	m := openMirror(t)
	ctx := t.Context()
	q, _ := m.Table("person")
	const id = "003000000000001AAA"
	if err := m.Write(ctx, []sfsync.Change{sfChange(sfsync.OpCreate, id, "c", map[string]any{"name": "Ada"})}); err != nil {
		t.Fatal(err)
	}
	stale := readOne(t, m, id)
	mustExec(t, connect(t), `UPDATE `+q+` SET phone = '9' WHERE sfid = $1`, id)
	upd := sfChange(sfsync.OpUpdate, id, "u", map[string]any{"name": "Ada (Salesforce)"})
	err := m.WriteIf(ctx, []sfsync.Change{upd}, []sfsync.Record{stale})
	wantConflict(t, "an update of an sfid-keyed row edited since the read", err, 0)
	wantName(t, m, id, "Ada")
	if err := m.WriteIf(ctx, []sfsync.Change{upd}, []sfsync.Record{readOne(t, m, id)}); err != nil {
		t.Fatal(err)
	}
	wantName(t, m, id, "Ada (Salesforce)")
}

// TestWriteIfCreate: a create decided on no record inserts its row; one
// whose row a local user inserted since the read (committed before the
// check, or while the write waits for it) is refused without overwriting
// the row or claiming the key.
func TestWriteIfCreate(t *testing.T) {
	m := openMirror(t)
	ctx := t.Context()
	q, _ := m.Table("person")
	local := connect(t)
	none := sfsync.Record{}
	if err := m.WriteIf(ctx, []sfsync.Change{sfChange(sfsync.OpCreate, "P-1", "c1", map[string]any{"name": "Ada"})}, []sfsync.Record{none}); err != nil {
		t.Fatalf("a create of a record that does not exist: %v", err)
	}
	wantName(t, m, "P-1", "Ada")

	mustExec(t, local, `INSERT INTO `+q+` (external_id__c, name) VALUES ('P-2', 'Bob (local)')`)
	err := m.WriteIf(ctx, []sfsync.Change{sfChange(sfsync.OpCreate, "P-2", "c2", map[string]any{"name": "Bob"})}, []sfsync.Record{none})
	wantConflict(t, "a create of a row inserted locally before the write", err, 0)
	wantName(t, m, "P-2", "Bob (local)")

	// A local transaction inserts P-3 and has not committed when the
	// write checks: the check finds no row, the insert waits for the
	// local transaction, and finds its row once it commits.
	tx, err := local.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background())
	mustExecTx(t, tx, `INSERT INTO `+q+` (external_id__c, name) VALUES ('P-3', 'Cy (local)')`)
	done := make(chan error, 1)
	go func() {
		done <- m.WriteIf(ctx, []sfsync.Change{
			sfChange(sfsync.OpCreate, "P-3", "c3", map[string]any{"name": "Cy"}),
			sfChange(sfsync.OpCreate, "P-4", "c4", map[string]any{"name": "Di"}),
		}, []sfsync.Record{none, none})
	}()
	waitForLockWait(t, m)
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	err = <-done
	wantConflict(t, "a create of a row inserted by a transaction that committed while the write waited", err, 0)
	if e := sfsync.ErrorAt(err, 1); e != nil {
		t.Errorf("the create next to it: %v, want applied", e)
	}
	wantName(t, m, "P-3", "Cy (local)")
	wantName(t, m, "P-4", "Di")
	if keyClaimed(t, m, "c3") {
		t.Error("the refused create's key is claimed")
	}
}

// waitForLockWait waits until a statement on m's schema waits for a lock.
func waitForLockWait(t *testing.T, m *Mirror) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	for {
		var n int
		err := m.Pool().QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE wait_event_type = 'Lock' AND datname = current_database() AND position($1 in query) > 0`, m.Schema()).Scan(&n)
		if err != nil {
			t.Fatalf("waiting for the write to wait for the local transaction: %v", err)
		}
		if n > 0 {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatal("the write never waited for the local transaction")
		case <-time.After(5 * time.Millisecond):
		}
	}
}
