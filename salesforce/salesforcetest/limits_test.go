package salesforcetest_test

import (
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/sfsync/sfsync/salesforce/salesforcetest"
)

func TestDailyLimit(t *testing.T) {
	org := newOrg(t, salesforcetest.WithDailyLimit(3))
	for i := 1; i <= 3; i++ {
		r := call(t, org, "GET", "/limits", nil)
		r.want(t, 200, "")
		if got, want := r.header.Get("Sforce-Limit-Info"), "api-usage="+string(rune('0'+i))+"/3"; got != want {
			t.Fatalf("header %q, want %q", got, want)
		}
		if i == 3 {
			var lim map[string]map[string]int
			r.json(t, &lim)
			if lim["DailyApiRequests"]["Max"] != 3 || lim["DailyApiRequests"]["Remaining"] != 0 {
				t.Fatalf("limits %v", lim["DailyApiRequests"])
			}
		}
	}
	r := call(t, org, "POST", "/sobjects/Account", map[string]any{"Name": "x"})
	r.want(t, 403, "REQUEST_LIMIT_EXCEEDED")
	if e := r.sfErr(t); e["message"] != "TotalRequests Limit exceeded." || r.header.Get("Sforce-Limit-Info") != "api-usage=3/3" {
		t.Fatalf("limit error %v %q", e, r.header.Get("Sforce-Limit-Info"))
	}
	if len(org.Records("Account")) != 0 {
		t.Fatal("write despite limit")
	}
	if used, max := org.APIUsage(); used != 3 || max != 3 {
		t.Fatalf("usage %d/%d", used, max)
	}
	org.SetDailyLimit(10)
	call(t, org, "GET", "/limits", nil).want(t, 200, "")
	org.ResetUsage()
	if r := call(t, org, "GET", "/limits", nil); r.header.Get("Sforce-Limit-Info") != "api-usage=1/10" {
		t.Fatalf("after reset %q", r.header.Get("Sforce-Limit-Info"))
	}
	// OAuth and unauthenticated calls do not count.
	callTok(t, org, "bad", "GET", "/limits", nil).want(t, 401, "INVALID_SESSION_ID")
	if used, _ := org.APIUsage(); used != 1 {
		t.Fatalf("401 counted: %d", used)
	}
}

func TestConcurrencyLimit(t *testing.T) {
	org := newOrg(t, salesforcetest.WithConcurrencyLimit(3))
	release := make(chan struct{})
	org.InjectFault(salesforcetest.Fault{PathContains: "/limits", Block: release, Times: 3})
	var wg sync.WaitGroup
	statuses := make([]int, 3)
	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("GET", org.URL()+api+"/limits", nil)
			req.Header.Set("Authorization", "Bearer "+org.AccessToken())
			if res, err := org.Client().Do(req); err == nil {
				statuses[i] = res.StatusCode
				res.Body.Close()
			}
		}()
	}
	org.WaitInFlight(3)
	r := call(t, org, "GET", "/sobjects", nil)
	r.want(t, 403, "REQUEST_LIMIT_EXCEEDED")
	if msg := r.sfErr(t)["message"]; msg != "ConcurrentRequests (Concurrent API Requests) Limit exceeded." {
		t.Fatalf("message %v", msg)
	}
	close(release)
	wg.Wait()
	for _, s := range statuses {
		if s != 200 {
			t.Fatalf("held request status %d", s)
		}
	}
	call(t, org, "GET", "/sobjects", nil).want(t, 200, "")
	if org.InFlight() != 0 {
		t.Fatalf("in flight %d", org.InFlight())
	}
}

func TestFaults(t *testing.T) {
	org := newOrg(t)
	id := createAccount(t, org, map[string]any{"Name": "A"})
	org.InjectFault(salesforcetest.Fault{Method: "PATCH", PathContains: "/sobjects/Account/", Status: 400, Code: "UNABLE_TO_LOCK_ROW", Times: 2})
	for range 2 {
		r := call(t, org, "PATCH", "/sobjects/Account/"+id, map[string]any{"Phone": "1"})
		r.want(t, 400, "UNABLE_TO_LOCK_ROW")
		if !strings.Contains(r.sfErr(t)["message"].(string), "unable to obtain exclusive access") {
			t.Fatalf("message %s", r.body)
		}
	}
	call(t, org, "PATCH", "/sobjects/Account/"+id, map[string]any{"Phone": "1"}).want(t, 204, "")

	org.InjectFault(salesforcetest.Fault{Status: 503, Code: "SERVER_UNAVAILABLE"})
	call(t, org, "GET", "/limits", nil).want(t, 503, "SERVER_UNAVAILABLE")

	used, _ := org.APIUsage()
	org.InjectFault(salesforcetest.Fault{PathContains: "/query", Status: 502})
	r := call(t, org, "GET", "/query?q=SELECT+Id+FROM+Account", nil)
	if r.status != 502 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") || !strings.Contains(string(r.body), "<html>") ||
		r.header.Get("Sforce-Limit-Info") != "" {
		t.Fatalf("502 fault %d %q %s", r.status, r.header, r.body)
	}
	if after, _ := org.APIUsage(); after != used {
		t.Fatalf("HTML fault counted: %d -> %d", used, after)
	}

	// A record fault fails only that record inside a collection.
	b := createAccount(t, org, map[string]any{"Name": "B"})
	org.InjectFault(salesforcetest.Fault{RecordID: b, Code: "UNABLE_TO_LOCK_ROW"})
	upd := []map[string]any{acct(map[string]any{"Id": id, "Phone": "2"}), acct(map[string]any{"Id": b, "Phone": "2"})}
	res := collect(t, call(t, org, "PATCH", "/composite/sobjects", map[string]any{"records": upd}))
	if !res[0].Success || res[1].Success || res[1].Errors[0].StatusCode != "UNABLE_TO_LOCK_ROW" {
		t.Fatalf("record fault %+v", res)
	}
	res = collect(t, call(t, org, "PATCH", "/composite/sobjects", map[string]any{"records": upd[1:]}))
	if !res[0].Success {
		t.Fatalf("record fault not consumed %+v", res)
	}

	// OAuth faults.
	org.InjectFault(salesforcetest.Fault{PathContains: "/services/oauth2/token", Status: 503, Code: "SERVER_UNAVAILABLE"})
	id2, secret := org.ClientCredentials()
	if code, out := tokenRequest(t, org, map[string]string{"grant_type": "client_credentials", "client_id": id2, "client_secret": secret}); code != 503 || out["error"] != "SERVER_UNAVAILABLE" {
		t.Fatalf("oauth fault %d %v", code, out)
	}
	org.InjectFault(salesforcetest.Fault{Status: 500, Code: "UNKNOWN_EXCEPTION"})
	org.ClearFaults()
	call(t, org, "GET", "/limits", nil).want(t, 200, "")
}
