package salesforce_test

import (
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/salesforce"
	"github.com/sfsync/sfsync/salesforce/salesforcetest"
)

// Describe is read once per object and shared by concurrent callers; a new
// CDC schema id makes the next Describe read it again, and then it has the
// field an admin added.
func TestDescribeCacheAndSchemaChange(t *testing.T) {
	ctx := foCtx(t)
	org := salesforcetest.NewOrg()
	defer org.Close()
	sf := orgClient(t, org)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, err := sf.Describe(ctx, "Contact"); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	d, err := sf.Describe(ctx, "contact")
	if err != nil {
		t.Fatal(err)
	}
	if used, _ := org.APIUsage(); used > 2 {
		// Concurrent first callers share one request; a late one may
		// start a second, never eight.
		t.Errorf("9 describes cost %d calls", used)
	}
	if f, ok := d.Field("birthdate"); !ok || f.Type != "date" || f.Kind() != salesforce.ValueDate || !f.Writable() {
		t.Errorf("Birthdate: %+v", f)
	}
	if f, ok := d.Field("SystemModstamp"); !ok || f.Kind() != salesforce.ValueDateTime || f.Writable() {
		t.Errorf("SystemModstamp: %+v", f)
	}

	if !sf.ObserveSchema("Contact", org.SchemaID("Contact")) || sf.ObserveSchema("Contact", org.SchemaID("Contact")) {
		t.Error("ObserveSchema: the first id is new, the same id again is not")
	}
	if err := org.AddField("Contact", "Tier__c", salesforcetest.KindInt); err != nil {
		t.Fatal(err)
	}
	if _, err := sf.Describe(ctx, "Contact"); err != nil {
		t.Fatal(err)
	}
	used0, _ := org.APIUsage()
	if !sf.ObserveSchema("Contact", org.SchemaID("Contact")) {
		t.Fatal("a new schema id is not new")
	}
	d, err = sf.Describe(ctx, "Contact")
	if err != nil {
		t.Fatal(err)
	}
	if f, ok := d.Field("Tier__c"); !ok || f.Kind() != salesforce.ValueInt {
		t.Errorf("the new field: %+v, %v", f, ok)
	}
	if _, err := sf.Describe(ctx, "Contact"); err != nil {
		t.Fatal(err)
	}
	if used, _ := org.APIUsage(); used-used0 != 1 {
		t.Errorf("describes after a schema change cost %d calls, want 1", used-used0)
	}
	if _, err := sf.Describe(ctx, "Nope__c"); !errors.Is(err, sfsync.ErrNotFound) {
		t.Errorf("unknown object: %v", err)
	}
}

// Check names every field that does not fit: unknown, read-only as a
// write target, or a type that does not convert.
func TestDescribeCheck(t *testing.T) {
	ctx := foCtx(t)
	org := salesforcetest.NewOrg()
	defer org.Close()
	d, err := orgClient(t, org).Describe(ctx, "Contact")
	if err != nil {
		t.Fatal(err)
	}
	ok := []salesforce.FieldUse{
		{Name: "Email", Write: true, Kind: salesforce.ValueString},
		{Name: "LastName", Write: true},
		{Name: "Birthdate", Write: true, Kind: salesforce.ValueDate},
		{Name: "Birthdate", Kind: salesforce.ValueDateTime}, // a date reads as a datetime at midnight
		{Name: "Birthdate", Kind: salesforce.ValueString},   // anything formats as a string
		{Name: "DoNotCall", Write: true, Kind: salesforce.ValueBool},
		{Name: "SystemModstamp", Kind: salesforce.ValueDateTime}, // read-only, but only read
	}
	if err := d.Check(ok...); err != nil {
		t.Fatalf("fitting fields: %v", err)
	}
	err = d.Check(
		salesforce.FieldUse{Name: "Emial", Write: true},
		salesforce.FieldUse{Name: "Name", Write: true},
		salesforce.FieldUse{Name: "Birthdate", Write: true, Kind: salesforce.ValueDateTime},
		salesforce.FieldUse{Name: "DoNotCall", Write: true, Kind: salesforce.ValueString},
		salesforce.FieldUse{Name: "Email", Kind: salesforce.ValueInt},
	)
	if !sfsync.IsPermanent(err) || !errors.Is(err, sfsync.ErrInvalid) {
		t.Fatalf("Check: %v (%v)", err, sfsync.KindOf(err))
	}
	var fe *salesforce.FieldError
	if !errors.As(err, &fe) || fe.Field != "Emial" || fe.Problem != salesforce.FieldUnknown {
		t.Errorf("first field error: %+v", fe)
	}
	msg := err.Error()
	for _, want := range []string{"Contact.Emial: no such field", "Contact.Name: the string field is read-only",
		"Contact.Birthdate: datetime values cannot be written to a date field", "Contact.DoNotCall: string values cannot be written to a boolean field",
		"Contact.Email: the string field's values cannot become integer values"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	if n := len(err.(interface{ Unwrap() []error }).Unwrap()); n != 5 {
		t.Errorf("%d field errors, want 5", n)
	}
}
