package salesforce_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/salesforce"
	"github.com/sfsync/sfsync/salesforce/salesforcetest"
)

// The sink checks a mapping's write targets against the object's
// describe: each field that does not exist or cannot be written is named.
func TestSinkCheckFields(t *testing.T) {
	org := salesforcetest.NewOrg()
	defer org.Close()
	sink := salesforce.NewSink(orgClient(t, org))
	ctx := foCtx(t)
	if err := sink.CheckFields(ctx, "Contact", []string{"LastName", "Email", "MailingCity"}); err != nil {
		t.Fatalf("valid fields: %v", err)
	}
	err := sink.CheckFields(ctx, "Contact", []string{"LastName", "Emial", "SystemModstamp"})
	if !errors.Is(err, sfsync.ErrInvalid) {
		t.Fatalf("CheckFields = %v, want invalid", err)
	}
	var fe *salesforce.FieldError
	if !errors.As(err, &fe) || fe.Field != "Emial" || fe.Problem != salesforce.FieldUnknown {
		t.Errorf("first field error %+v, want Emial unknown", fe)
	}
	if msg := err.Error(); !containsAll(msg, "Contact.Emial", "Contact.SystemModstamp", "read-only") {
		t.Errorf("error %q does not name both fields", msg)
	}
}

func containsAll(s string, parts ...string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}
