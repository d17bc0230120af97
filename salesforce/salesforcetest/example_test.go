package salesforcetest_test

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/sfsync/sfsync/salesforce/salesforcetest"
)

func Example() {
	org := salesforcetest.NewOrg()
	defer org.Close()

	req, err := http.NewRequest("POST", org.URL()+"/services/data/v62.0/sobjects/Account",
		strings.NewReader(`{"Name":"Acme","BillingCity":"Paris"}`))
	if err != nil {
		panic(err)
	}
	req.Header.Set("Authorization", "Bearer "+org.AccessToken())
	req.Header.Set("Content-Type", "application/json")
	res, err := org.Client().Do(req)
	if err != nil {
		panic(err)
	}
	res.Body.Close()
	fmt.Println(res.StatusCode, res.Header.Get("Sforce-Limit-Info"))
	fmt.Println(len(org.Records("Account")), org.Writes())
	// Output:
	// 201 api-usage=1/15000
	// 1 1
}
