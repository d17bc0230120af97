package pgmirror

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/sfsync/sfsync"
)

// sfChange is a change from Salesforce to the person table, at a version
// of its own.
func sfChange(op sfsync.Op, id, key string, fields map[string]any) sfsync.Change {
	commit := commits.Add(1)
	return sfsync.Change{Source: sfsync.Salesforce, Object: "person", RecordID: id, Op: op, Key: key,
		Version: sfsync.Version{Commit: commit}, Fields: fields}
}

var commits atomic.Int64

// createTwo creates P-1 (Ada) and P-2 (Bob) from Salesforce.
func createTwo(t *testing.T, m *Mirror) {
	t.Helper()
	if err := m.Write(t.Context(), []sfsync.Change{
		sfChange(sfsync.OpCreate, "P-1", "c1", map[string]any{"name": "Ada"}),
		sfChange(sfsync.OpCreate, "P-2", "c2", map[string]any{"name": "Bob"}),
	}); err != nil {
		t.Fatal(err)
	}
}

// ops returns what the source delivered as "record op" lines.
func ops(cs []sfsync.Change) []string {
	var out []string
	for _, c := range cs {
		out = append(out, fmt.Sprintf("%s %s", c.RecordID, c.Op))
	}
	return out
}

// TestSoftDeletes: with soft deletes (the default) a Salesforce delete keeps
// the row as a tombstone, which Read reports deleted and an undelete
// revives; a local UPDATE setting is_deleted reaches the engine as a
// delete, setting it back as an undelete, and the row stays.
func TestSoftDeletes(t *testing.T) {
	m := openMirror(t)
	ctx := context.Background()
	q, _ := m.Table("person")
	createTwo(t, m)
	del := sfChange(sfsync.OpDelete, "P-1", "d1", nil)
	if err := m.Write(ctx, []sfsync.Change{del}); err != nil {
		t.Fatal(err)
	}
	r, n := row(t, m, "P-1")
	if n != 1 || r["is_deleted"] != true || r["name"] != "Ada" || r["sfsync_last_op"] != "delete" {
		t.Fatalf("after a Salesforce delete: %d rows, %v; want the row kept with is_deleted, its values and last op delete", n, r)
	}
	got, err := m.Read(ctx, "person", []string{"P-1"})
	if err != nil || !got["P-1"].Deleted || got["P-1"].Version.Compare(del.Version) != 0 {
		t.Fatalf("Read of the tombstone = %+v, %v; want it deleted at the delete's version %v", got, err, del.Version)
	}
	if err := m.Write(ctx, []sfsync.Change{sfChange(sfsync.OpUndelete, "P-1", "u1", map[string]any{"name": "Ada"})}); err != nil {
		t.Fatal(err)
	}
	if r, n := row(t, m, "P-1"); n != 1 || r["is_deleted"] != false {
		t.Fatalf("after a Salesforce undelete: %d rows, %v; want the row back", n, r)
	}

	src := m.Source()
	defer src.Close()
	local := connect(t)
	mustExec(t, local, `UPDATE `+q+` SET is_deleted = true WHERE external_id__c = 'P-2'`)
	mustExec(t, local, `UPDATE `+q+` SET is_deleted = false WHERE external_id__c = 'P-2'`)
	mustExec(t, local, `UPDATE `+q+` SET name = 'Ada L.' WHERE external_id__c = 'P-1'`)
	// The mirror's own writes above are not captured: the first local
	// change is the first delivery.
	cs := receiveN(t, src, 3)
	if want := []string{"P-2 delete", "P-2 undelete", "P-1 update"}; !slices.Equal(ops(cs), want) {
		t.Fatalf("local changes delivered as %v, want %v", ops(cs), want)
	}
	if r, n := row(t, m, "P-2"); n != 1 || r["name"] != "Bob" {
		t.Errorf("after a local soft delete and undelete: %d rows, %v; want the row kept", n, r)
	}
}

// TestHardDeletes: without soft deletes a Salesforce delete removes the row
// (once per key: a retried delete is harmless, also after the record was
// created again), Read omits it, and the mirror's delete is not captured;
// a local soft delete still reaches the engine as a delete and keeps the
// row.
func TestHardDeletes(t *testing.T) {
	m := openMirror(t, WithSoftDeletes(false))
	ctx := context.Background()
	q, _ := m.Table("person")
	createTwo(t, m)
	src := m.Source()
	defer src.Close()
	del := sfChange(sfsync.OpDelete, "P-1", "d1", nil)
	if err := m.Write(ctx, []sfsync.Change{del}); err != nil {
		t.Fatal(err)
	}
	if r, n := row(t, m, "P-1"); n != 0 {
		t.Fatalf("after a Salesforce delete without soft deletes: %v; want the row gone", r)
	}
	got, err := m.Read(ctx, "person", []string{"P-1", "P-2"})
	if _, ok := got["P-1"]; err != nil || ok || len(got) != 1 {
		t.Fatalf("Read after the delete = %v, %v; want only P-2", got, err)
	}
	if err := m.Write(ctx, []sfsync.Change{sfChange(sfsync.OpUndelete, "P-1", "u1", map[string]any{"name": "Ada"})}); err != nil {
		t.Fatal(err)
	}
	if err := m.Write(ctx, []sfsync.Change{del}); err != nil {
		t.Fatalf("a retried delete = %v, want it applied once and the retry a no-op", err)
	}
	if r, n := row(t, m, "P-1"); n != 1 || r["name"] != "Ada" || r["is_deleted"] != false {
		t.Fatalf("after an undelete and a retry of the delete before it: %d rows, %v; want the undeleted row", n, r)
	}

	local := connect(t)
	mustExec(t, local, `UPDATE `+q+` SET is_deleted = true WHERE external_id__c = 'P-2'`)
	mustExec(t, local, `DELETE FROM `+q+` WHERE external_id__c = 'P-1'`)
	cs := receiveN(t, src, 2)
	if want := []string{"P-2 delete", "P-1 delete"}; !slices.Equal(ops(cs), want) {
		t.Fatalf("local changes delivered as %v, want %v (the mirror's own delete not among them)", ops(cs), want)
	}
	if r, n := row(t, m, "P-2"); n != 1 || r["is_deleted"] != true {
		t.Errorf("after a local soft delete: %d rows, %v; want the row kept with is_deleted", n, r)
	}
}

func TestSinkConformanceHardDeletes(t *testing.T) { runSinkConformance(t, WithSoftDeletes(false)) }

// TestLocalSoftDeletes: with local soft deletes a local DELETE keeps the
// row as a tombstone and reaches the engine as a delete; a DELETE of the
// tombstone purges it without another delete; the mirror's own deletes
// still remove rows; and a mirror opened without the option makes local
// DELETEs remove rows again.
func TestLocalSoftDeletes(t *testing.T) {
	schema := testSchema(t)
	m := openIn(t, schema, WithLocalSoftDeletes(true), WithSoftDeletes(false))
	q, _ := m.Table("person")
	createTwo(t, m)
	src := m.Source()
	defer src.Close()
	local := connect(t)
	tag, err := local.Exec(t.Context(), `DELETE FROM `+q+` WHERE external_id__c = 'P-1'`)
	if err != nil || tag.RowsAffected() != 0 {
		t.Fatalf("local DELETE = %v, %v; want the delete turned into a soft delete (0 rows deleted)", tag, err)
	}
	if r, n := row(t, m, "P-1"); n != 1 || r["is_deleted"] != true || r["name"] != "Ada" {
		t.Fatalf("after a local DELETE: %d rows, %v; want the row kept with is_deleted", n, r)
	}
	mustExec(t, local, `DELETE FROM `+q+` WHERE external_id__c = 'P-1'`) // the purge
	if r, n := row(t, m, "P-1"); n != 0 {
		t.Fatalf("after deleting the tombstone: %v; want it gone", r)
	}
	if err := m.Write(t.Context(), []sfsync.Change{sfChange(sfsync.OpDelete, "P-2", "d2", nil)}); err != nil {
		t.Fatal(err)
	}
	if r, n := row(t, m, "P-2"); n != 0 {
		t.Fatalf("after a Salesforce delete without soft deletes: %v; want the row gone", r)
	}
	mustExec(t, local, `INSERT INTO `+q+` (external_id__c, name) VALUES ('P-3', 'Cy')`)
	cs := receiveN(t, src, 2)
	if want := []string{"P-1 delete", "P-3 create"}; !slices.Equal(ops(cs), want) {
		t.Fatalf("local changes delivered as %v, want %v (the purge and the mirror's delete not among them)", ops(cs), want)
	}
	if got := outboxStates(t, m, "P-1"); len(got) != 2 || got[1] != "ignored" {
		t.Errorf("P-1's outbox rows are %v, want the purge recorded as ignored", got)
	}

	m.Close()
	plain := openIn(t, schema)
	mustExec(t, local, `DELETE FROM `+q+` WHERE external_id__c = 'P-3'`)
	if r, n := row(t, plain, "P-3"); n != 0 {
		t.Errorf("a local DELETE after reopening without local soft deletes left %v; want the row gone", r)
	}
}
