package pgmirror

import (
	"context"
	"testing"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/sync"
)

// TestMigrateConcurrentlyAndKeepUserColumns opens the same schema from
// several instances at once, then again with a mapping that has a new
// field: tables and columns are added, and a column a user added stays
// with its data.
func TestMigrateConcurrentlyAndKeepUserColumns(t *testing.T) {
	schema := testSchema(t)
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			m, err := Open(context.Background(), testDSN(t), WithSchema(schema), WithTable(personTable()))
			if err == nil {
				m.Close()
			}
			errs <- err
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatalf("concurrent Open: %v", err)
		}
	}
	m := openIn(t, schema)
	q, _ := m.Table("person")
	c := connect(t)
	mustExec(t, c, `ALTER TABLE `+q+` ADD COLUMN note text`)
	mustExec(t, c, `INSERT INTO `+q+` (external_id__c, name, note) VALUES ('P-1', 'Ada', 'mine')`)

	wider := personTable()
	wider.Mapping = &sync.Mapping{Object: "Contact", External: "person", LinkField: "External_Id__c",
		Fields: append(personMapping().Fields, sync.Field{Salesforce: "Title", External: "title"})}
	m2, err := Open(context.Background(), testDSN(t), WithSchema(schema), WithTable(wider))
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	r, n := row(t, m2, "P-1")
	if n != 1 || r["note"] != "mine" || r["name"] != "Ada" {
		t.Errorf("after migrating again: %v (%d rows); want the user's column and data kept", r, n)
	}
	if _, ok := r["title"]; !ok {
		t.Errorf("the new field's column was not added: %v", r)
	}
	// The trigger captures the new field.
	mustExec(t, c, `UPDATE `+q+` SET title = 'Countess' WHERE external_id__c = 'P-1'`)
	src := m2.Source()
	defer src.Close()
	cs := receiveN(t, src, 2)
	if got := cs[1].Fields["title"]; got != "Countess" {
		t.Errorf("change of the new column = %v, want title Countess", cs[1].Fields)
	}
}

// TestRetryFailed marks a local change failed, as a refused write does,
// and retries it by setting it back to new.
func TestRetryFailed(t *testing.T) {
	m := openMirror(t)
	q, _ := m.Table("person")
	c := connect(t)
	mustExec(t, c, `INSERT INTO `+q+` (external_id__c, name) VALUES ('P-1', 'Ada')`)
	src := m.Source()
	defer src.Close()
	first := receiveN(t, src, 1)[0]
	failing := &failSink{}
	if err := m.Track(failing).Write(t.Context(), []sfsync.Change{first}); err == nil {
		t.Fatal("the failing sink did not fail")
	}
	out := ident(m.Schema()) + ".sfsync_outbox"
	var state, code string
	if err := m.Pool().QueryRow(t.Context(), `SELECT state, coalesce(error_code, '') FROM `+out+` WHERE id = 1`).Scan(&state, &code); err != nil || state != "failed" || code != "INVALID_EMAIL_ADDRESS" {
		t.Fatalf("outbox row after a refused write: state %q code %q (%v), want failed with the code", state, code, err)
	}
	if err := src.Commit(t.Context(), first.Position); err != nil {
		t.Fatal(err)
	}
	mustExec(t, c, `UPDATE `+out+` SET state = 'new' WHERE id = 1`)
	again := receiveN(t, src, 1)[0]
	if again.RecordID != "P-1" || again.Op != first.Op || again.Fields["name"] != "Ada" || again.Key == first.Key {
		t.Errorf("retried change = %v, want the same change under a new key", again)
	}
}
