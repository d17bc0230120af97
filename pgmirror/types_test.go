package pgmirror

import (
	"maps"
	"testing"

	"github.com/sfsync/sfsync/salesforce"
	"github.com/sfsync/sfsync/sync"
)

func TestTypesFrom(t *testing.T) {
	d := &salesforce.ObjectDescribe{Name: "Contact", Fields: []salesforce.FieldDescribe{
		{Name: "LastName", Type: "string"}, {Name: "Email", Type: "email"}, {Name: "Birthdate", Type: "date"},
		{Name: "NumberOfEmployees", Type: "int"}, {Name: "AnnualRevenue", Type: "currency"}, {Name: "DoNotCall", Type: "boolean"},
		{Name: "LastCURequestDate", Type: "datetime"}, {Name: "MailingAddress", Type: "address"}, {Name: "AccountId", Type: "reference"},
		{Name: "Photo__c", Type: "base64"}, {Name: "Unmapped__c", Type: "double"},
	}}
	m := &sync.Mapping{Object: "Contact", Fields: []sync.Field{
		{Salesforce: "LastName", External: "name"}, {Salesforce: "Email", External: "email"}, {Salesforce: "birthdate", External: "born"},
		{Salesforce: "NumberOfEmployees", External: "employees"}, {Salesforce: "AnnualRevenue", External: "revenue"},
		{Salesforce: "DoNotCall", External: "do_not_call"}, {Salesforce: "LastCURequestDate", External: "requested_at"},
		{Salesforce: "MailingAddress", External: "address"}, {Salesforce: "AccountId", External: "account"},
		{Salesforce: "Photo__c", External: "photo"}, {Salesforce: "Missing__c", External: "missing"},
	}}
	want := map[string]Type{"name": Text, "email": Text, "born": Date, "employees": Numeric, "revenue": Numeric,
		"do_not_call": Boolean, "requested_at": Timestamp, "address": JSON, "account": Text, "photo": Text}
	if got := TypesFrom(m, d); !maps.Equal(got, want) {
		t.Errorf("TypesFrom = %v, want %v (a field the describe lacks left out)", got, want)
	}
	if got := TypesFrom(m, nil); len(got) != 0 {
		t.Errorf("TypesFrom without a describe = %v, want no types (text)", got)
	}
}
