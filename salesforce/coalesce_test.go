package salesforce_test

import (
	"context"
	"errors"
	"fmt"
	stdsync "sync"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/salesforce"
	"github.com/sfsync/sfsync/salesforce/salesforcetest"
)

// Eight workers writing 25 records each at once cost one API call: their
// Write calls share a collections request, and each gets its own outcome.
func TestCoalesceWindowSharesCallsAcrossWriters(t *testing.T) {
	org := salesforcetest.NewOrg()
	defer org.Close()
	org.AddValidationRule("Contact", func(f map[string]any) (string, string, bool) {
		if f["LastName"] == "bad" {
			return "LastName may not be bad", "LastName", false
		}
		return "", "", true
	})
	// The window is long: the batch goes out when it holds 200 changes.
	sink := salesforce.NewSink(orgClient(t, org), salesforce.WithExternalID("Contact", "External_Id__c"), salesforce.WithCoalesceWindow(time.Hour))
	before, _ := org.APIUsage()
	results := make([]error, 8)
	var wg stdsync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			var changes []sfsync.Change
			for i := range 25 {
				name := fmt.Sprintf("W%d-%d", w, i)
				if w == 3 && i == 7 {
					name = "bad"
				}
				changes = append(changes, contactChange(fmt.Sprintf("P-%d-%d", w, i), w*100+i, map[string]any{"LastName": name}))
			}
			results[w] = sink.Write(context.Background(), changes)
		})
	}
	wg.Wait()
	after, _ := org.APIUsage()
	if after-before != 1 {
		t.Errorf("%d API calls for 8 concurrent writes of 25 records, want 1", after-before)
	}
	for w, err := range results {
		if w != 3 {
			if err != nil {
				t.Errorf("writer %d: %v", w, err)
			}
			continue
		}
		var be *sfsync.BatchError
		if !errors.As(err, &be) || len(be.Errs) != 25 || !sfsync.IsPermanent(be.Errs[7]) || be.Errs[6] != nil || be.Errs[8] != nil {
			t.Errorf("writer 3 = %v, want a BatchError failing only its change 7", err)
		}
	}
	if n := len(org.Records("Contact")); n != 199 {
		t.Errorf("%d contacts written, want 199", n)
	}
}

// A lone Write goes out when its window ends.
func TestCoalesceWindowFlushesWhenItEnds(t *testing.T) {
	org := salesforcetest.NewOrg()
	defer org.Close()
	sink := salesforce.NewSink(orgClient(t, org), salesforce.WithExternalID("Contact", "External_Id__c"), salesforce.WithCoalesceWindow(time.Millisecond))
	if err := sink.Write(context.Background(), []sfsync.Change{contactChange("P-1", 0, map[string]any{"LastName": "Lone"})}); err != nil {
		t.Fatal(err)
	}
	if recs := org.Records("Contact"); len(recs) != 1 || recs[0]["LastName"] != "Lone" {
		t.Fatalf("contacts = %v", recs)
	}
}
