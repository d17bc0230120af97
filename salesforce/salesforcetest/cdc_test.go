package salesforcetest_test

import (
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/sfsync/sfsync/salesforce/salesforcetest"
)

var txKeyRe = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

func TestCDCCreateUpdateDelete(t *testing.T) {
	clk := newClock()
	org := newOrg(t, salesforcetest.WithClock(clk.Now))
	opts := []string{"Sforce-Call-Options", "client=sfsync-42"}
	id := createAccount(t, org, map[string]any{"Name": "Acme", "BillingCity": "Paris", "NumberOfEmployees": 7}, opts...)
	clk.Advance(1500 * time.Millisecond)
	call(t, org, "PATCH", "/sobjects/Account/"+id, map[string]any{"BillingStreet": "1 Rue", "Phone": nil, "BillingCity": "Paris"}, opts...).want(t, 204, "")
	clk.Advance(time.Second)
	call(t, org, "DELETE", "/sobjects/Account/"+id, nil).want(t, 204, "")

	sub := subscribe(t, org, "/data/AccountChangeEvent")
	evs := sub.next(3)
	c, u, d := evs[0], evs[1], evs[2]

	if c.schemaID != org.SchemaID("Account") {
		t.Fatalf("schema id %s, want %s", c.schemaID, org.SchemaID("Account"))
	}
	h := c.header
	if h["entityName"] != "Account" || h["changeType"] != "CREATE" || !slices.Equal(c.strs("recordIds"), []string{id}) {
		t.Fatalf("create header %v", h)
	}
	if h["changeOrigin"] != "com/salesforce/api/rest/62.0;client=sfsync-42" || h["commitUser"] != org.IntegrationUserID() {
		t.Fatalf("origin/user %v %v", h["changeOrigin"], h["commitUser"])
	}
	if h["sequenceNumber"] != int32(1) || !txKeyRe.MatchString(h["transactionKey"].(string)) {
		t.Fatalf("seq %v key %v", h["sequenceNumber"], h["transactionKey"])
	}
	if h["commitTimestamp"] != clk.now.Add(-2500*time.Millisecond).UnixMilli() {
		t.Fatalf("commitTimestamp %v", h["commitTimestamp"])
	}
	if len(c.strs("changedFields")) != 0 {
		t.Fatalf("CREATE changedFields %v", c.strs("changedFields"))
	}
	if unwrap(c.body["Name"]) != "Acme" || component(c, "BillingAddress", "City") != "Paris" ||
		unwrap(c.body["NumberOfEmployees"]) != int32(7) || unwrap(c.body["OwnerId"]) != org.IntegrationUserID() {
		t.Fatalf("create body %v", c.body)
	}

	// UPDATE: Street changed, Phone was already null (no change), City unchanged.
	if u.header["changeType"] != "UPDATE" || u.header["transactionKey"] == h["transactionKey"] {
		t.Fatalf("update header %v", u.header)
	}
	if got := u.strs("changedFields"); !slices.Equal(got, []string{"0x400000", "4-0x01"}) {
		t.Fatalf("changedFields %v, want [0x400000 4-0x01]", got)
	}
	if got := u.strs("nulledFields"); len(got) != 0 {
		t.Fatalf("nulledFields %v", got)
	}
	if component(u, "BillingAddress", "Street") != "1 Rue" || component(u, "BillingAddress", "City") != nil || u.body["Name"] != nil {
		t.Fatalf("update body %v", u.body)
	}
	if unwrap(u.body["LastModifiedDate"]) != time.Date(2026, 3, 10, 12, 0, 1, 0, time.UTC).UnixMilli() {
		t.Fatalf("LastModifiedDate %v", u.body["LastModifiedDate"])
	}

	if d.header["changeType"] != "DELETE" || d.header["changeOrigin"] != "com/salesforce/api/rest/62.0" ||
		d.body["Name"] != nil || d.body["LastModifiedDate"] != nil {
		t.Fatalf("delete event %v %v", d.header, d.body)
	}
}

func TestCDCNulledAndUIEdits(t *testing.T) {
	org := newOrg(t)
	id := org.Insert("Contact", map[string]any{"LastName": "Doe", "FirstName": "Jo", "Email": "jo@x.test", "MailingCity": "Oslo"})
	if err := org.EditAsUser("Contact", id, map[string]any{"Email": nil, "FirstName": "Joe", "MailingCity": nil}); err != nil {
		t.Fatal(err)
	}
	// The API user edits: LastModifiedById changes too.
	call(t, org, "PATCH", "/sobjects/Contact/"+id, map[string]any{"Phone": "123"}).want(t, 204, "")
	sub := subscribe(t, org, "/data/ContactChangeEvent")
	evs := sub.next(3)
	c, ui, apiEv := evs[0], evs[1], evs[2]
	if c.header["commitUser"] != org.UIUserID() || c.header["changeOrigin"] != salesforcetest.UIOrigin {
		t.Fatalf("create header %v", c.header)
	}
	if component(c, "Name", "LastName") != "Doe" || component(c, "MailingAddress", "City") != "Oslo" {
		t.Fatalf("create body %v", c.body)
	}
	// Contact: Name=2, MailingAddress=4, Email=12, LastModifiedDate=25.
	if got := ui.strs("changedFields"); !slices.Equal(got, []string{"0x02001000", "2-0x02", "4-0x02"}) {
		t.Fatalf("changedFields %v", got)
	}
	if got := ui.strs("nulledFields"); !slices.Equal(got, []string{"0x1000", "4-0x02"}) {
		t.Fatalf("nulledFields %v", got)
	}
	if component(ui, "Name", "FirstName") != "Joe" || ui.body["Email"] != nil {
		t.Fatalf("ui body %v", ui.body)
	}
	// Phone=5, LastModifiedDate=25, LastModifiedById=26.
	if got := apiEv.strs("changedFields"); !slices.Equal(got, []string{"0x06000020"}) {
		t.Fatalf("api changedFields %v", got)
	}
	if unwrap(apiEv.body["LastModifiedById"]) != org.IntegrationUserID() {
		t.Fatalf("LastModifiedById %v", apiEv.body["LastModifiedById"])
	}
}

func TestCDCMergedAndTransactions(t *testing.T) {
	org := newOrg(t)
	recs := []map[string]any{}
	for _, n := range []string{"A", "B", "C"} {
		recs = append(recs, map[string]any{"attributes": map[string]any{"type": "Account"}, "Name": n})
	}
	r := call(t, org, "POST", "/composite/sobjects", map[string]any{"records": recs}, "Sforce-Call-Options", "client=me")
	r.want(t, 200, "")
	var res []struct{ ID string }
	r.json(t, &res)
	var upd []map[string]any
	for _, x := range res {
		upd = append(upd, map[string]any{"attributes": map[string]any{"type": "Account"}, "id": x.ID, "Industry": "Energy"})
	}
	upd[2]["Industry"] = "Banking"
	call(t, org, "PATCH", "/composite/sobjects", map[string]any{"records": upd}).want(t, 200, "")
	call(t, org, "DELETE", "/composite/sobjects?ids="+res[0].ID+","+res[1].ID, nil).want(t, 200, "")

	sub := subscribe(t, org, "/data/AccountChangeEvent")
	evs := sub.next(6)
	key := evs[0].header["transactionKey"]
	for i, e := range evs[:3] {
		if e.header["changeType"] != "CREATE" || e.header["transactionKey"] != key || e.header["sequenceNumber"] != int32(i+1) ||
			e.header["changeOrigin"] != "com/salesforce/api/rest/62.0;client=me" {
			t.Fatalf("create %d header %v", i, e.header)
		}
	}
	merged, single := evs[3], evs[4]
	if !slices.Equal(merged.strs("recordIds"), []string{res[0].ID, res[1].ID}) || !slices.Equal(merged.strs("changedFields"), []string{"0x400800"}) {
		t.Fatalf("merged update %v", merged.header)
	}
	if !slices.Equal(single.strs("recordIds"), []string{res[2].ID}) || single.header["sequenceNumber"] != int32(2) ||
		single.header["transactionKey"] != merged.header["transactionKey"] || unwrap(single.body["Industry"]) != "Banking" {
		t.Fatalf("second update %v %v", single.header, single.body)
	}
	del := evs[5]
	if del.header["changeType"] != "DELETE" || !slices.Equal(del.strs("recordIds"), []string{res[0].ID, res[1].ID}) {
		t.Fatalf("merged delete %v", del.header)
	}
}

func TestCDCNoopUpdateAndMultiEntityTopic(t *testing.T) {
	org := newOrg(t)
	id := createAccount(t, org, map[string]any{"Name": "Acme"})
	call(t, org, "PATCH", "/sobjects/Account/"+id, map[string]any{"Name": "Acme"}).want(t, 204, "")
	emp := org.Insert("Employee__c", map[string]any{"Name": "E1", "Office__c__Latitude__s": 48.85, "Office__c__Longitude__s": 2.35})

	all := subscribe(t, org, salesforcetest.TopicAll)
	evs := all.next(3)
	if got := evs[1].strs("changedFields"); evs[1].header["changeType"] != "UPDATE" || !slices.Equal(got, []string{"0x400000"}) {
		t.Fatalf("no-op update %v", evs[1].header)
	}
	if evs[2].header["entityName"] != "Employee__c" || evs[2].schemaID != org.SchemaID("Employee__c") || evs[2].schemaID == evs[0].schemaID {
		t.Fatalf("employee event on multi-entity topic: %v schema %s", evs[2].header, evs[2].schemaID)
	}
	if component(evs[2], "Office__c", "Latitude") != 48.85 || !slices.Equal(evs[2].strs("recordIds"), []string{emp}) {
		t.Fatalf("employee body %v", evs[2].body)
	}
	own := subscribe(t, org, "/data/Employee__ChangeEvent")
	if e := own.one(); e.header["entityName"] != "Employee__c" {
		t.Fatalf("employee topic %v", e.header)
	}
}

func TestCDCAddFieldGapOverflow(t *testing.T) {
	org := newOrg(t)
	before := org.SchemaID("Account")
	id := createAccount(t, org, map[string]any{"Name": "Acme"})
	if err := org.AddField("Account", "Tier__c", salesforcetest.KindString); err != nil {
		t.Fatal(err)
	}
	if err := org.AddField("Account", "Tier__c", salesforcetest.KindString); err == nil {
		t.Fatal("duplicate AddField succeeded")
	}
	var unset salesforcetest.FieldKind
	if err := org.AddField("Account", "Rank__c", unset); err == nil {
		t.Fatal("AddField of the zero FieldKind succeeded; it must say the kind is missing")
	}
	after := org.SchemaID("Account")
	if after == before || after == "" {
		t.Fatalf("schema id did not change: %s", after)
	}
	call(t, org, "PATCH", "/sobjects/Account/"+id, map[string]any{"Tier__c": "Gold"}).want(t, 204, "")
	org.EmitGap("Account", id)
	org.EmitOverflow("Account")
	org.EmitGapEvent("Account", "GAP_DELETE", id)

	sub := subscribe(t, org, "/data/AccountChangeEvent")
	evs := sub.next(5)
	if evs[0].schemaID != before || evs[1].schemaID != after {
		t.Fatalf("schema ids %s %s", evs[0].schemaID, evs[1].schemaID)
	}
	// Tier__c is appended after the 43 Account fields: index 44.
	if got := evs[1].strs("changedFields"); !slices.Equal(got, []string{"0x100000400000"}) || unwrap(evs[1].body["Tier__c"]) != "Gold" {
		t.Fatalf("new field event %v %v", got, evs[1].body["Tier__c"])
	}
	if evs[2].header["changeType"] != "GAP_UPDATE" || !slices.Equal(evs[2].strs("recordIds"), []string{id}) || evs[2].body["Name"] != nil {
		t.Fatalf("gap %v", evs[2].header)
	}
	if evs[3].header["changeType"] != "GAP_OVERFLOW" || !slices.Equal(evs[3].strs("recordIds"), []string{salesforcetest.EmptyRecordID}) {
		t.Fatalf("overflow %v", evs[3].header)
	}
	if evs[4].header["changeType"] != "GAP_DELETE" {
		t.Fatalf("gap delete %v", evs[4].header)
	}
	if rec, _ := org.Record("Account", id); rec["Tier__c"] != "Gold" {
		t.Fatalf("record %v", rec)
	}
}

func TestCDCUndeleteAndRollbackEmitsNothing(t *testing.T) {
	org := newOrg(t)
	org.AddValidationRule("Account", func(f map[string]any) (string, string, bool) {
		return "Name must not be Bad", "Name", f["Name"] != "Bad"
	})
	id := org.Insert("Account", map[string]any{"Name": "Ok"})
	recs := []map[string]any{
		{"attributes": map[string]any{"type": "Account"}, "Name": "Fine"},
		{"attributes": map[string]any{"type": "Account"}, "Name": "Bad"},
	}
	call(t, org, "POST", "/composite/sobjects", map[string]any{"allOrNone": true, "records": recs}).want(t, 200, "")
	if err := org.DeleteAsUser("Account", id); err != nil {
		t.Fatal(err)
	}
	if err := org.UndeleteAsUser("Account", id); err != nil {
		t.Fatal(err)
	}
	sub := subscribe(t, org, "/data/AccountChangeEvent")
	evs := sub.next(3)
	types := []any{evs[0].header["changeType"], evs[1].header["changeType"], evs[2].header["changeType"]}
	if !slices.Equal(types, []any{"CREATE", "DELETE", "UNDELETE"}) {
		t.Fatalf("types %v", types)
	}
	if unwrap(evs[2].body["Name"]) != "Ok" {
		t.Fatalf("undelete body %v", evs[2].body)
	}
	if _, ok := org.Record("Account", id); !ok {
		t.Fatal("undeleted record missing")
	}
}

// Every event of one transaction carries the transaction's commitNumber;
// each later transaction has a greater one.
func TestCDCCommitNumberPerTransaction(t *testing.T) {
	org := newOrg(t)
	var recs []map[string]any
	for _, n := range []string{"A", "B", "C"} {
		recs = append(recs, map[string]any{"attributes": map[string]any{"type": "Account"}, "Name": n})
	}
	r := call(t, org, "POST", "/composite/sobjects", map[string]any{"records": recs})
	r.want(t, 200, "")
	var res []struct{ ID string }
	r.json(t, &res)
	call(t, org, "PATCH", "/sobjects/Account/"+res[0].ID, map[string]any{"Industry": "Energy"}).want(t, 204, "")
	upd := []map[string]any{
		{"attributes": map[string]any{"type": "Account"}, "id": res[1].ID, "Industry": "Energy"},
		{"attributes": map[string]any{"type": "Account"}, "id": res[2].ID, "Industry": "Banking"},
	}
	call(t, org, "PATCH", "/composite/sobjects", map[string]any{"records": upd}).want(t, 200, "")
	org.EmitGap("Account", res[0].ID)

	evs := subscribe(t, org, "/data/AccountChangeEvent").next(7)
	// Transactions: 3 creates, 1 update, 2 updates, 1 gap.
	sizes := []int{3, 1, 2, 1}
	var prev int64
	i := 0
	for tx, n := range sizes {
		key := evs[i].header["transactionKey"]
		commit, ok := evs[i].header["commitNumber"].(int64)
		if !ok || commit <= prev {
			t.Fatalf("transaction %d: commitNumber %v after %d; want a greater one", tx, evs[i].header["commitNumber"], prev)
		}
		for j := i; j < i+n; j++ {
			h := evs[j].header
			if h["transactionKey"] != key || h["commitNumber"] != commit || h["sequenceNumber"] != int32(j-i+1) {
				t.Fatalf("transaction %d event %d: key %v commit %v seq %v; want key %v commit %d seq %d",
					tx, j, h["transactionKey"], h["commitNumber"], h["sequenceNumber"], key, commit, j-i+1)
			}
		}
		if i > 0 && key == evs[i-1].header["transactionKey"] {
			t.Fatalf("transaction %d shares its key with the one before", tx)
		}
		prev, i = commit, i+n
	}
}

// An edit that sets a field to the value it holds changes nothing there:
// ChangeAsUser leaves it out, and so does the UPDATE event.
func TestChangeAsUserReportsOnlyChangedFields(t *testing.T) {
	org := newOrg(t)
	id := org.Insert("Contact", map[string]any{"LastName": "Doe", "Email": "jo@x.test"})
	changed, err := org.ChangeAsUser("Contact", id, map[string]any{"Email": "jo@x.test", "MailingCity": "Oslo"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(changed, []string{"MailingCity"}) {
		t.Fatalf("changed %v, want [MailingCity]", changed)
	}
	sub := subscribe(t, org, "/data/ContactChangeEvent")
	u := sub.next(2)[1]
	// LastModifiedDate=25, and MailingAddress=4's City component alone;
	// Email is not listed.
	if got := u.strs("changedFields"); !slices.Equal(got, []string{"0x02000000", "4-0x02"}) {
		t.Fatalf("changedFields %v", got)
	}
}
