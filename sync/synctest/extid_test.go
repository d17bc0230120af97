package synctest_test

import (
	"context"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/sync/synctest"
)

// With WithExternalID a write or read by an id the system does not hold
// goes to the record whose external id field holds it, as Salesforce's
// upsert by external id does; a write of an id no record holds creates a
// record with an id of the system's own, and the feed reports each write
// under the record's own id.
func TestSystemResolvesExternalIDs(t *testing.T) {
	ctx := context.Background()
	feed := synctest.NewLog("feed")
	sf := synctest.NewSystem(sfsync.Salesforce, synctest.WithFeed(feed), synctest.WithExternalID("Contact", "Ext__c"))
	v := sfsync.Version{Time: time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)}
	sf.EditSilently("Contact", "003A", map[string]any{"LastName": "Ada", "Ext__c": "P-1"}, v)

	write := func(c sfsync.Change) {
		t.Helper()
		c.Source, c.Object, c.Version = sfsync.External("erp"), "Contact", v
		if err := sf.Write(ctx, []sfsync.Change{c}); err != nil {
			t.Fatal(err)
		}
	}
	write(sfsync.Change{RecordID: "P-1", Op: sfsync.OpUpdate, Fields: map[string]any{"LastName": "Byron"}, Key: "k1"})
	if r, ok := sf.Record("Contact", "003A"); !ok || r.Fields["LastName"] != "Byron" {
		t.Errorf("003A after an upsert by P-1: %+v (exists %v), want LastName Byron", r.Fields, ok)
	}
	write(sfsync.Change{RecordID: "P-2", Op: sfsync.OpUpdate, Fields: map[string]any{"LastName": "Cy"}, Key: "k2"})
	if _, ok := sf.Record("Contact", "P-2"); ok {
		t.Error("an upsert by an unknown external id stored the record under that id")
	}
	got, err := sf.Read(ctx, "Contact", []string{"P-1", "P-2", "P-3"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got["P-1"].Fields["LastName"] != "Byron" || got["P-2"].Fields["Ext__c"] != "P-2" {
		t.Errorf("Read by external ids = %+v, want P-1 and P-2 found by Ext__c", got)
	}
	write(sfsync.Change{RecordID: "P-1", Op: sfsync.OpDelete, Key: "k3"})
	if r, _ := sf.Record("Contact", "003A"); !r.Deleted {
		t.Error("a delete by external id P-1 left 003A live")
	}
	write(sfsync.Change{RecordID: "P-9", Op: sfsync.OpDelete, Key: "k4"})
	if _, ok := sf.Record("Contact", "P-9"); ok {
		t.Error("a delete of an id no record holds made a record")
	}

	changes := feed.Changes()
	if len(changes) != 3 {
		t.Fatalf("feed has %d changes, want one per write that took effect", len(changes))
	}
	if c := changes[1]; c.Op != sfsync.OpCreate || c.RecordID == "P-2" || c.Fields["Ext__c"] != "P-2" {
		t.Errorf("the feed reports the inserting upsert as %s, want a create under the new record's id carrying Ext__c", c)
	}
	if c := changes[2]; c.RecordID != "003A" || c.Op != sfsync.OpDelete {
		t.Errorf("the feed reports the delete as %s, want a delete of 003A", c)
	}
}
