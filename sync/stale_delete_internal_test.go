package sync

import (
	"testing"

	"github.com/sfsync/sfsync"
)

// An ERP edit lost to Salesforce's delete, whose event had not come yet:
// its repair deletes the record in the ERP, at the version of Salesforce's
// tombstone as read, the second of the delete without its commit. The
// record was made in Salesforce in that same second, and the map holds
// that create at its commit: the delete, the record's last change, is not
// older than it. Taken as older, the repair was dropped as stale, the ERP
// kept the record with its losing edit, and when a later ERP edit brought
// the record back in Salesforce the two systems parted (seed 100033).
func TestDeleteAtItsRecordsSecondIsNotOlderThanDataOfThatSecond(t *testing.T) {
	sf := sfVersionAt
	const record = "Contact/P-3"
	vc := newVersionCache(16, nil, func(string) bool { return false })
	vc.note(&sfsync.Change{Source: sfsync.Salesforce, RecordID: "003C", Op: sfsync.OpCreate, Version: sf(7, 303), Fields: map[string]any{"LastName": "n10"}}, record, []string{"LastName"})
	del := sfsync.Change{Source: sfsync.Salesforce, RecordID: "P-3", Op: sfsync.OpDelete, Version: sfsync.Version{Time: sf(7, 0).Time},
		Origin: sfsync.Origin{Client: repairClient}}
	if _, whole := vc.staleFields(&del, record, nil, sfsync.Record{}); whole {
		t.Errorf("the delete at %s is stale against Salesforce's create at %s, in the same second: the delete is the record's last change", del.Version, sf(7, 303))
	}
	// A delete a second older is.
	del.Version.Time = sf(6, 0).Time
	if _, whole := vc.staleFields(&del, record, nil, sfsync.Record{}); !whole {
		t.Errorf("the delete at %s is not stale against Salesforce's create at %s", del.Version, sf(7, 303))
	}
}
