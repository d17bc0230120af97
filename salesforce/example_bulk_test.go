package salesforce_test

import (
	"context"
	"fmt"
	"time"

	"github.com/sfsync/sfsync/salesforce"
	"github.com/sfsync/sfsync/salesforce/salesforcetest"
)

// A resumable backfill: create a queryAll job, keep its id, wait for it,
// handle its results page by page and keep each page's Next locator once
// the page's records are handled. After a crash, QueryResultPages from the
// kept job id and locator continues where it stopped (while the job
// exists; ErrJobNotFound means start a new one). Delete the job at the end.
func ExampleClient_QueryResultPages() {
	org := salesforcetest.NewOrg()
	defer org.Close()
	_ = org.Load("Contact", 5, func(i int) map[string]any {
		return map[string]any{"LastName": fmt.Sprintf("Ng %d", i), "Birthdate": "1990-01-0" + fmt.Sprint(i+1)}
	})
	tokens := salesforce.StaticToken(salesforce.Token{AccessToken: org.AccessToken(), InstanceURL: org.URL(), OrgID: org.OrgID()})
	sf := salesforce.New(tokens, salesforce.WithHTTPClient(org.Client()))
	ctx := context.Background()

	job, err := sf.CreateQueryJob(ctx, salesforce.BulkQueryAll, "SELECT Id, LastName, Birthdate, SystemModstamp FROM Contact")
	if err != nil {
		fmt.Println(err)
		return
	}
	// Persist job.ID here, with the stream position pinned before it.
	job, err = sf.WaitQueryJob(ctx, job.ID, salesforce.WithPollInterval(10*time.Millisecond, time.Second))
	if err != nil {
		fmt.Println(err)
		return
	}
	locator := "" // or the persisted one
	for page, err := range sf.QueryResultPages(ctx, job, locator, salesforce.WithMaxRecords(2),
		salesforce.WithProgress(func(p salesforce.Progress) { fmt.Printf("  %d of %d records\n", p.Records, p.Total) })) {
		if err != nil {
			fmt.Println(err)
			return
		}
		for row, err := range page.Rows() {
			if err != nil {
				fmt.Println(err)
				return
			}
			name, _ := row.Get("LastName")
			born, _ := row.Get("Birthdate")
			fmt.Println(name, born.(time.Time).Format("Jan 2"))
		}
		locator = page.Next // persist it with the page's outcomes
	}
	fmt.Println(sf.DeleteQueryJob(ctx, job.ID))
	// Output:
	// Ng 0 Jan 1
	// Ng 1 Jan 2
	//   2 of 5 records
	// Ng 2 Jan 3
	// Ng 3 Jan 4
	//   4 of 5 records
	// Ng 4 Jan 5
	//   5 of 5 records
	// <nil>
}

// Drift detection: read Id, SystemModstamp and IsDeleted only, and compare
// them with the versions applied to the other system.
func ExampleAuthority_Versions() {
	org := salesforcetest.NewOrg()
	defer org.Close()
	_ = org.Load("Contact", 3, func(i int) map[string]any { return map[string]any{"LastName": fmt.Sprint(i)} })
	tokens := salesforce.StaticToken(salesforce.Token{AccessToken: org.AccessToken(), InstanceURL: org.URL(), OrgID: org.OrgID()})
	sf := salesforce.New(tokens, salesforce.WithHTTPClient(org.Client()))
	applied := map[string]time.Time{} // the engine's version map; empty here
	authority := salesforce.NewAuthority(sf, nil, salesforce.WithBulkThreshold(0),
		salesforce.WithBulkOptions(salesforce.WithPollInterval(10*time.Millisecond, time.Second)))
	var reread []string
	for v, err := range authority.Versions(context.Background(), "Contact", time.Time{}) {
		if err != nil {
			fmt.Println(err)
			return
		}
		if t, ok := applied[v.ID]; !ok || t.Before(v.Version.Time) {
			reread = append(reread, v.ID)
		}
	}
	used, _ := org.APIUsage()
	fmt.Println(len(reread), "records to re-read;", used, "API calls")
	// Output:
	// 3 records to re-read; 5 API calls
}
