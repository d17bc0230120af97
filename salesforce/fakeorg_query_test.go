package salesforce_test

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/salesforce"
	"github.com/sfsync/sfsync/salesforce/salesforcetest"
)

// C11: nextRecordsUrl pagination, one API call per page.
func TestFakeOrgQueryPagination(t *testing.T) {
	ctx := foCtx(t)
	org := salesforcetest.NewOrg(salesforcetest.WithQueryPageSize(2))
	defer org.Close()
	c := orgClient(t, org)
	var want []string
	for i := range 5 {
		name := fmt.Sprintf("Page%d", i)
		org.Insert("Contact", map[string]any{"LastName": name})
		want = append(want, name)
	}
	before := foUsed(org)
	var got []string
	for rec, err := range c.Query(ctx, "SELECT Id, LastName FROM Contact ORDER BY LastName") {
		if err != nil {
			t.Fatal(err)
		}
		attrs, _ := rec["attributes"].(map[string]any)
		if attrs["type"] != "Contact" || rec["Id"] == nil {
			t.Fatalf("record %v", rec)
		}
		got = append(got, fmt.Sprint(rec["LastName"]))
	}
	if !slices.Equal(got, want) {
		t.Fatalf("query gave %v, want %v", got, want)
	}
	if calls := foUsed(org) - before; calls != 3 {
		t.Fatalf("5 records at 2 a page cost %d calls, want 3", calls)
	}
	// Stopping early fetches no further page.
	before = foUsed(org)
	for _, err := range c.Query(ctx, "SELECT Id FROM Contact") {
		if err != nil {
			t.Fatal(err)
		}
		break
	}
	if calls := foUsed(org) - before; calls != 1 {
		t.Fatalf("one record taken cost %d calls, want 1", calls)
	}
}

// C11: queryAll returns soft-deleted rows, also across pages.
func TestFakeOrgQueryAllReturnsDeleted(t *testing.T) {
	ctx := foCtx(t)
	org := salesforcetest.NewOrg(salesforcetest.WithQueryPageSize(2))
	defer org.Close()
	c := orgClient(t, org)
	var ids []string
	for i := range 3 {
		ids = append(ids, org.Insert("Contact", map[string]any{"LastName": fmt.Sprintf("Q%d", i)}))
	}
	for _, id := range ids[:2] {
		if err := c.Delete(ctx, "Contact", id); err != nil {
			t.Fatal(err)
		}
	}
	collect := func(seq func(func(map[string]any, error) bool)) (out []string) {
		t.Helper()
		for rec, err := range seq {
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, fmt.Sprintf("%v:%v", rec["Id"], rec["IsDeleted"]))
		}
		return out
	}
	const soql = "SELECT Id, IsDeleted FROM Contact ORDER BY LastName"
	if got, want := collect(c.Query(ctx, soql)), []string{ids[2] + ":false"}; !slices.Equal(got, want) {
		t.Fatalf("query: %v, want %v", got, want)
	}
	want := []string{ids[0] + ":true", ids[1] + ":true", ids[2] + ":false"}
	if got := collect(c.QueryAll(ctx, soql)); !slices.Equal(got, want) {
		t.Fatalf("queryAll: %v, want %v", got, want)
	}
	want = []string{ids[0] + ":true", ids[1] + ":true"}
	if got := collect(c.QueryAll(ctx, "SELECT Id, IsDeleted FROM Contact WHERE IsDeleted = true ORDER BY LastName")); !slices.Equal(got, want) {
		t.Fatalf("queryAll IsDeleted = true: %v, want %v", got, want)
	}
}

// Quote makes a value with a quote and a backslash one literal that
// matches exactly that record.
func TestFakeOrgQueryQuote(t *testing.T) {
	ctx := foCtx(t)
	org := salesforcetest.NewOrg()
	defer org.Close()
	c := orgClient(t, org)
	const tricky = `O'Brien \ Jr.`
	want := org.Insert("Contact", map[string]any{"LastName": tricky})
	other := org.Insert("Contact", map[string]any{"LastName": `O'Brien`})
	org.Insert("Contact", map[string]any{"LastName": `O\'Brien \\ Jr.`})
	org.Insert("Contact", map[string]any{"LastName": `OBrien  Jr.`})

	var got []string
	for rec, err := range c.Query(ctx, "SELECT Id, LastName FROM Contact WHERE LastName = "+salesforce.Quote(tricky)) {
		if err != nil {
			t.Fatal(err)
		}
		if rec["LastName"] != tricky {
			t.Fatalf("matched LastName %q", rec["LastName"])
		}
		got = append(got, fmt.Sprint(rec["Id"]))
	}
	if !slices.Equal(got, []string{want}) {
		t.Fatalf("Quote query matched %v, want [%s]", got, want)
	}
	got = nil
	for rec, err := range c.Query(ctx, "SELECT Id FROM Contact WHERE LastName IN "+salesforce.QuoteList([]string{tricky, `O'Brien`})+" ORDER BY CreatedDate") {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprint(rec["Id"]))
	}
	if slices.Sort(got); !slices.Equal(got, slices.Sorted(slices.Values([]string{want, other}))) {
		t.Fatalf("QuoteList query matched %v, want %s and %s", got, want, other)
	}
}

// C11, C5: malformed SOQL is a permanent MALFORMED_QUERY, yielded once.
func TestFakeOrgQueryMalformed(t *testing.T) {
	ctx := foCtx(t)
	org := salesforcetest.NewOrg()
	defer org.Close()
	c := orgClient(t, org)
	for _, soql := range []string{"SELEC Id FROM Contact", "SELECT Id FROM Contact WHERE LastName = 'open"} {
		n := 0
		for rec, err := range c.Query(ctx, soql) {
			n++
			if rec != nil {
				t.Fatalf("%q yielded a record %v", soql, rec)
			}
			foWantKind(t, soql, err, sfsync.KindPermanent)
			if ae := foAPIError(t, err); ae.Status != http.StatusBadRequest || ae.Code != "MALFORMED_QUERY" {
				t.Fatalf("%q: APIError %d %s, want 400 MALFORMED_QUERY", soql, ae.Status, ae.Code)
			}
		}
		if n != 1 {
			t.Fatalf("%q yielded %d times, want once", soql, n)
		}
	}
}

// C10: getUpdated and getDeleted windows, moved by the org clock.
func TestFakeOrgGetUpdatedAndDeleted(t *testing.T) {
	ctx := foCtx(t)
	at := func(hms string) time.Time {
		tm, err := time.Parse(time.DateTime, "2024-05-01 "+hms)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	clk := foNewClock(at("12:00:30"))
	org := salesforcetest.NewOrg(salesforcetest.WithClock(clk.now))
	defer org.Close()
	c := orgClient(t, org)
	create := func(name string) string {
		id, err := c.Create(ctx, "Contact", map[string]any{"LastName": name})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	a, cc := create("A"), create("C")
	clk.set(at("12:02:10"))
	b := create("B")
	clk.set(at("12:04:20"))
	if err := c.Delete(ctx, "Contact", a); err != nil {
		t.Fatal(err)
	}
	clk.set(at("12:06:05"))

	// Seconds are truncated: 12:00:45 starts at 12:00. A is deleted.
	up, err := c.GetUpdated(ctx, "Contact", at("12:00:45"), at("12:02:00"))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(up.IDs, []string{cc}) || !up.LatestDateCovered.Equal(at("12:02:00")) {
		t.Fatalf("getUpdated 12:00-12:02 = %v covered %v; want [%s] 12:02", up.IDs, up.LatestDateCovered, cc)
	}
	// An end in the future is covered only up to now (to the minute).
	up, err = c.GetUpdated(ctx, "Contact", at("12:02:00"), at("12:30:00"))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(up.IDs, []string{b}) || !up.LatestDateCovered.Equal(at("12:06:00")) {
		t.Fatalf("getUpdated 12:02-12:30 = %v covered %v; want [%s] 12:06", up.IDs, up.LatestDateCovered, b)
	}

	del, err := c.GetDeleted(ctx, "Contact", at("12:00:00"), at("12:06:00"))
	if err != nil {
		t.Fatal(err)
	}
	if len(del.Records) != 1 || del.Records[0].ID != a || !del.Records[0].DeletedDate.Equal(at("12:04:20")) ||
		!del.EarliestDateAvailable.Equal(at("12:00:00")) || !del.LatestDateCovered.Equal(at("12:06:00")) {
		t.Fatalf("getDeleted = %+v; want %s deleted 12:04:20, earliest 12:00, covered 12:06", del, a)
	}
	if del, err = c.GetDeleted(ctx, "Contact", at("12:05:00"), at("12:06:00")); err != nil || len(del.Records) != 0 {
		t.Fatalf("getDeleted 12:05-12:06 = %+v, %v; want none", del, err)
	}
	// A purged delete log: earliestDateAvailable after start means missed deletes.
	org.PurgeDeleteLog(at("12:05:00"))
	if del, err = c.GetDeleted(ctx, "Contact", at("12:00:00"), at("12:06:00")); err != nil || len(del.Records) != 0 || !del.EarliestDateAvailable.Equal(at("12:05:00")) {
		t.Fatalf("getDeleted after purge = %+v, %v; want none, earliest 12:05", del, err)
	}

	// Start not before end: refused without a call.
	before := foUsed(org)
	_, err = c.GetUpdated(ctx, "Contact", at("12:03:00"), at("12:03:00"))
	if !errors.Is(err, sfsync.ErrInvalid) || foUsed(org) != before {
		t.Fatalf("empty window: %v (calls %d); want ErrInvalid without a call", err, foUsed(org)-before)
	}
	// Beyond 30 days (updated) and 15 days (deleted): INVALID_REPLICATION_DATE.
	clk.add(31 * 24 * time.Hour)
	_, err = c.GetUpdated(ctx, "Contact", at("12:00:00"), clk.now())
	foWantKind(t, "getUpdated older than 30 days", err, sfsync.KindPermanent)
	if ae := foAPIError(t, err); ae.Code != "INVALID_REPLICATION_DATE" {
		t.Fatalf("code %s", ae.Code)
	}
	_, err = c.GetDeleted(ctx, "Contact", clk.now().Add(-16*24*time.Hour), clk.now())
	foWantKind(t, "getDeleted older than 15 days", err, sfsync.KindPermanent)
	if ae := foAPIError(t, err); ae.Code != "INVALID_REPLICATION_DATE" {
		t.Fatalf("code %s", ae.Code)
	}
}

// C1, C2: the limits resource and Sforce-Limit-Info.
func TestFakeOrgLimitsAndUsage(t *testing.T) {
	ctx := foCtx(t)
	org := salesforcetest.NewOrg(salesforcetest.WithDailyLimit(1000))
	defer org.Close()
	c := orgClient(t, org)
	if used, max := c.Usage(); used != 0 || max != 0 {
		t.Fatalf("usage %d/%d before any call", used, max)
	}
	if _, err := c.Create(ctx, "Contact", map[string]any{"LastName": "L"}); err != nil {
		t.Fatal(err)
	}
	if used, max := c.Usage(); used != 1 || max != 1000 {
		t.Fatalf("usage %d/%d after one call, want 1/1000", used, max)
	}
	lim, err := c.Limits(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The limits call counts itself.
	if d := lim["DailyApiRequests"]; d.Max != 1000 || d.Remaining != 998 {
		t.Fatalf("DailyApiRequests %+v, want Max 1000 Remaining 998", d)
	}
	if d := lim["ConcurrentSyncApexLimit"]; d.Max != salesforcetest.DefaultConcurrencyLimit {
		t.Fatalf("ConcurrentSyncApexLimit %+v", d)
	}
	if used, max := c.Usage(); used != 2 || max != 1000 {
		t.Fatalf("usage %d/%d, want 2/1000", used, max)
	}
	used, max, err := c.LimitsProbe()(ctx)
	if err != nil || used != 3 || max != 1000 {
		t.Fatalf("LimitsProbe = %d/%d, %v; want 3/1000", used, max, err)
	}
	if ou, om := org.APIUsage(); ou != 3 || om != 1000 {
		t.Fatalf("org usage %d/%d", ou, om)
	}
}

// C5, C11: a query locator idle for more than 15 minutes is gone:
// INVALID_QUERY_LOCATOR, retryable (restart the query).
func TestFakeOrgQueryLocatorExpires(t *testing.T) {
	ctx := foCtx(t)
	clk := foNewClock(time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC))
	org := salesforcetest.NewOrg(salesforcetest.WithQueryPageSize(2), salesforcetest.WithClock(clk.now))
	defer org.Close()
	c := orgClient(t, org)
	for i := range 3 {
		org.Insert("Contact", map[string]any{"LastName": fmt.Sprint("L", i)})
	}
	records, errs := 0, 0
	for rec, err := range c.Query(ctx, "SELECT Id FROM Contact") {
		if err != nil {
			errs++
			foWantKind(t, "expired locator", err, sfsync.KindRetryable)
			if ae := foAPIError(t, err); ae.Code != "INVALID_QUERY_LOCATOR" {
				t.Fatalf("code %s, want INVALID_QUERY_LOCATOR", ae.Code)
			}
			continue
		}
		if rec != nil {
			records++
		}
		clk.add(16 * time.Minute)
	}
	if records != 2 || errs != 1 {
		t.Fatalf("%d records and %d errors, want the first page (2) and one error", records, errs)
	}
}
