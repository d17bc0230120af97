package salesforce_test

import (
	"fmt"
	"testing"

	"github.com/sfsync/sfsync/salesforce"
	"github.com/sfsync/sfsync/salesforce/salesforcetest"
	"github.com/sfsync/sfsync/sinktest"
)

// TestSinkConformance runs the sink conformance suite on Sink against the
// fake org, upserting Contacts by their external id.
func TestSinkConformance(t *testing.T) {
	sinktest.Run(t, func(t *testing.T) sinktest.Target {
		const reject = "Rejected"
		fields := []string{"LastName", "Email", "Title"}
		org := salesforcetest.NewOrg()
		t.Cleanup(org.Close)
		org.AddValidationRule("Contact", func(f map[string]any) (string, string, bool) {
			if f["LastName"] == reject {
				return "LastName may not be " + reject, "LastName", false
			}
			return "", "", true
		})
		sink := salesforce.NewSink(orgClient(t, org),
			salesforce.WithExternalID("Contact", "External_Id__c"),
			salesforce.WithReadFields("Contact", fields...))
		return sinktest.Target{
			Sink: sink, Reader: sink,
			Lookup: func(t *testing.T, object, id string) (map[string]any, bool) {
				t.Helper()
				var found []map[string]any
				for _, r := range org.Records(object) {
					if r["External_Id__c"] == id {
						found = append(found, r)
					}
				}
				if len(found) > 1 {
					t.Errorf("the org holds %d %s records with External_Id__c %q, want at most 1 (a duplicate)", len(found), object, id)
				}
				if len(found) == 0 {
					return nil, false
				}
				return found[0], true
			},
			Object: "Contact", Fields: fields, Reject: reject,
			NewID: func(i int) string { return fmt.Sprintf("P-%d", i) },
		}
	})
}
