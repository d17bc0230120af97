package salesforce_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/salesforce"
	"github.com/sfsync/sfsync/salesforce/salesforcetest"
)

// writeBacks returns n changes to n/4 contacts, each updated four times in
// a row, as a busy external system produces them.
func writeBacks(n int) []sfsync.Change {
	changes := make([]sfsync.Change, 0, n)
	for i := range n {
		rec, round := i/4, i%4
		changes = append(changes, contactChange(fmt.Sprintf("P-%05d", rec), i, map[string]any{
			"LastName": fmt.Sprintf("Name%d", rec), "Phone": fmt.Sprintf("555-%04d", round)}))
	}
	return changes
}

// BenchmarkSinkAPICalls counts the API calls of 10,000 write-backs through
// the sink, handed over 400 at a time as the engine batches them.
func BenchmarkSinkAPICalls(b *testing.B) {
	changes := writeBacks(10_000)
	for b.Loop() {
		org := salesforcetest.NewOrg(salesforcetest.WithDailyLimit(1_000_000))
		sink := salesforce.NewSink(orgClient(b, org), salesforce.WithExternalID("Contact", "External_Id__c"))
		for start := 0; start < len(changes); start += 400 {
			if err := sink.Write(context.Background(), changes[start:start+400]); err != nil {
				b.Fatal(err)
			}
		}
		used, _ := org.APIUsage()
		b.ReportMetric(float64(used), "api-calls/10k")
		org.Close()
	}
}

// BenchmarkNaiveAPICalls is the baseline: one upsert call per change.
func BenchmarkNaiveAPICalls(b *testing.B) {
	changes := writeBacks(10_000)
	for b.Loop() {
		org := salesforcetest.NewOrg(salesforcetest.WithDailyLimit(1_000_000))
		client := orgClient(b, org)
		for _, c := range changes {
			if _, err := client.Upsert(context.Background(), "Contact", "External_Id__c", c.RecordID, c.Fields); err != nil {
				b.Fatal(err)
			}
		}
		used, _ := org.APIUsage()
		b.ReportMetric(float64(used), "api-calls/10k")
		org.Close()
	}
}
