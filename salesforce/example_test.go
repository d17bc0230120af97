package salesforce_test

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/salesforce"
	"github.com/sfsync/sfsync/throttle"
)

// exampleOrg stands in for an org: upserts of Ext__c "E-1" insert, "DUP"
// matches two records; the query returns two records over two pages.
func exampleOrg() *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Sforce-Limit-Info", "api-usage=42/15000")
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/services/data/v62.0/sobjects/Contact/Ext__c/E-1":
			w.WriteHeader(http.StatusCreated)
			fmt.Fprint(w, `{"id":"003000000000001AAA","success":true,"errors":[],"created":true}`)
		case "/services/data/v62.0/sobjects/Contact/Ext__c/DUP":
			w.WriteHeader(http.StatusMultipleChoices)
			fmt.Fprint(w, `["/services/data/v62.0/sobjects/Contact/003A","/services/data/v62.0/sobjects/Contact/003B"]`)
		case "/services/data/v62.0/query":
			fmt.Fprint(w, `{"totalSize":2,"done":false,"nextRecordsUrl":"/services/data/v62.0/query/01g-1","records":[{"Id":"003A","LastName":"Ng"}]}`)
		case "/services/data/v62.0/query/01g-1":
			fmt.Fprint(w, `{"totalSize":2,"done":true,"records":[{"Id":"003B","LastName":"O'Neil"}]}`)
		default:
			w.WriteHeader(http.StatusNotFound)
			_ = json.NewEncoder(w).Encode([]map[string]any{{"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}})
		}
	}))
}

func ExampleClient_Upsert() {
	org := exampleOrg()
	defer org.Close()
	// In production: salesforce.JWTBearer(salesforce.JWTConfig{...}).
	tokens := salesforce.StaticToken(salesforce.Token{AccessToken: "token", InstanceURL: org.URL, OrgID: "00D000000000001AAA"})
	c := salesforce.New(tokens, salesforce.WithClientID("erp-sync"))
	ctx := context.Background()

	res, err := c.Upsert(ctx, "Contact", "Ext__c", "E-1", map[string]any{"LastName": "Ng"})
	fmt.Println(res.ID, res.Created, err)

	_, err = c.Upsert(ctx, "Contact", "Ext__c", "DUP", map[string]any{"LastName": "Ng"})
	var apiErr *salesforce.APIError
	if errors.Is(err, salesforce.ErrMultipleMatches) && errors.As(err, &apiErr) {
		fmt.Println(sfsync.KindOf(err), apiErr.Matches)
	}
	used, max := c.Usage()
	fmt.Printf("usage %d/%d\n", used, max)
	// Output:
	// 003000000000001AAA true <nil>
	// conflict [003A 003B]
	// usage 42/15000
}

func ExampleClient_Query() {
	org := exampleOrg()
	defer org.Close()
	lim := throttle.New()
	defer lim.Close()
	c := salesforce.New(salesforce.StaticToken(salesforce.Token{AccessToken: "token", InstanceURL: org.URL}), salesforce.WithLimiter(lim))
	// Reconciliation is background work: it stops at the limiter's reserve.
	ctx := salesforce.WithPriority(context.Background(), throttle.PriorityLow)

	since := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	soql := "SELECT Id, LastName FROM Contact WHERE SystemModstamp > " + salesforce.FormatDateTime(since) +
		" AND LastName IN " + salesforce.QuoteList([]string{"Ng", "O'Neil"})
	fmt.Println(soql)
	for rec, err := range c.Query(ctx, soql) {
		if err != nil {
			fmt.Println(err)
			break
		}
		fmt.Println(rec["Id"], rec["LastName"])
	}
	// Output:
	// SELECT Id, LastName FROM Contact WHERE SystemModstamp > 2024-05-01T00:00:00Z AND LastName IN ('Ng','O\'Neil')
	// 003A Ng
	// 003B O'Neil
}

func ExampleQuote() {
	fmt.Println("SELECT Id FROM Account WHERE Name = " + salesforce.Quote("Ann's \"Shop\"\n"))
	// Output:
	// SELECT Id FROM Account WHERE Name = 'Ann\'s \"Shop\"\n'
}

func ExampleParseLimitInfo() {
	used, max, ok := salesforce.ParseLimitInfo("api-usage=18/5000; api-bursts=1/750")
	fmt.Println(used, max, ok)
	// Output: 18 5000 true
}

func ExampleJWTBearer() {
	// The key is the connected app's certificate key, parsed with
	// x509.ParsePKCS8PrivateKey or jwt.ParseRSAPrivateKeyFromPEM.
	var key *rsa.PrivateKey
	tokens := salesforce.JWTBearer(salesforce.JWTConfig{
		LoginURL:    "https://login.salesforce.com",
		ConsumerKey: "3MVG9...",
		Username:    "integration@example.com",
		PrivateKey:  key,
	})
	c := salesforce.New(tokens, salesforce.WithClientID("erp-sync"))
	_ = c
	// The same tokens authenticate the Pub/Sub API subscription.
	_ = salesforce.PubSubTokens(tokens)
}
