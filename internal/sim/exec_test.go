package sim

import (
	"testing"

	"github.com/sfsync/sfsync/salesforce"
)

// TestAllSavedNeedsEveryRecord: an all-or-none collection call answers 200
// with every record rolled back when one failed; the user's edit did not
// take effect.
func TestAllSavedNeedsEveryRecord(t *testing.T) {
	rolledBack := []salesforce.SaveResult{
		{ID: "003A", Errors: []salesforce.RecordError{{StatusCode: "UNABLE_TO_LOCK_ROW", Message: "locked"}}},
		{ID: "003B", Errors: []salesforce.RecordError{{StatusCode: "ALL_OR_NONE_OPERATION_ROLLED_BACK", Message: "rolled back"}}},
	}
	if ok, err := allSaved(rolledBack, nil); ok || err == nil {
		t.Errorf("allSaved(rolled back) = %v, %v; want false and the record's error", ok, err)
	}
	saved := []salesforce.SaveResult{{ID: "003A", Success: true}, {ID: "003B", Success: true}}
	if ok, err := allSaved(saved, nil); !ok || err != nil {
		t.Errorf("allSaved(saved) = %v, %v; want true", ok, err)
	}
}
