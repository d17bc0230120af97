package salesforce_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/salesforce"
	"github.com/sfsync/sfsync/salesforce/salesforcetest"
)

// The error the sink returns for one failed record keeps the record's
// error code: sfsync.Error.Code, the *APIError through errors.As, the text
// dead letters and the ledger show, and the kind spec C5 gives the code.
func TestSinkPerRecordErrorsKeepTheirCode(t *testing.T) {
	for _, tc := range []struct {
		code, message string
		want          sfsync.Kind
	}{
		{"UNABLE_TO_LOCK_ROW", "", sfsync.KindRetryable},
		{"CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY", "MyTrigger: execution of AfterUpdate caused by: System.DmlException: Update failed. UNABLE_TO_LOCK_ROW, unable to obtain exclusive access to this record", sfsync.KindRetryable},
		{"CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY", "MyTrigger: execution of AfterUpdate caused by: System.NullPointerException", sfsync.KindPermanent},
		{"SERVER_UNAVAILABLE", "", sfsync.KindRetryable},
		{"UNKNOWN_EXCEPTION", "", sfsync.KindRetryable},
		{"ALL_OR_NONE_OPERATION_ROLLED_BACK", "", sfsync.KindRetryable},
		{"DUPLICATE_EXTERNAL_ID", "", sfsync.KindConflict},
		{"ENTITY_IS_DELETED", "", sfsync.KindConflict},
		{"STORAGE_LIMIT_EXCEEDED", "", sfsync.KindRateLimited},
		{"API_CURRENTLY_DISABLED", "", sfsync.KindRateLimited},
		{"API_DISABLED_FOR_ORG", "", sfsync.KindRateLimited},
		{"NOT_FOUND", "", sfsync.KindPermanent},
		{"INVALID_FIELD", "", sfsync.KindPermanent},
		{"INVALID_FIELD_FOR_INSERT_UPDATE", "", sfsync.KindPermanent},
		{"REQUIRED_FIELD_MISSING", "", sfsync.KindPermanent},
		{"FIELD_CUSTOM_VALIDATION_EXCEPTION", "", sfsync.KindPermanent},
		{"FIELD_INTEGRITY_EXCEPTION", "", sfsync.KindPermanent},
		{"DUPLICATE_VALUE", "", sfsync.KindPermanent},
		{"DUPLICATES_DETECTED", "", sfsync.KindPermanent},
		{"INSUFFICIENT_ACCESS_OR_READONLY", "", sfsync.KindPermanent},
		{"INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY", "", sfsync.KindPermanent},
		{"INVALID_CROSS_REFERENCE_KEY", "", sfsync.KindPermanent},
		{"MALFORMED_ID", "", sfsync.KindPermanent},
		{"STRING_TOO_LONG", "", sfsync.KindPermanent},
		{"INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", "", sfsync.KindPermanent},
		{"ENTITY_IS_LOCKED", "", sfsync.KindPermanent},
	} {
		name := tc.code
		if tc.message != "" {
			name += "/" + tc.want.String()
		}
		t.Run(name, func(t *testing.T) {
			ctx := foCtx(t)
			org := salesforcetest.NewOrg()
			defer org.Close()
			sink := salesforce.NewSink(orgClient(t, org), salesforce.WithExternalID("Contact", "External_Id__c"))
			org.Insert("Contact", map[string]any{"LastName": "Fine", "External_Id__c": "P-OK"})
			bad := org.Insert("Contact", map[string]any{"LastName": "Faulty", "External_Id__c": "P-BAD"})
			// Once by external id (an upsert), once by Salesforce id (an
			// update): both collections calls report the record's code.
			for _, badID := range []string{"P-BAD", bad} {
				org.InjectFault(salesforcetest.Fault{RecordID: bad, Code: tc.code, Message: tc.message})
				changes := []sfsync.Change{
					contactChange("P-OK", 0, map[string]any{"Email": "ok@example.com"}),
					contactChange(badID, 1, map[string]any{"Email": "bad@example.com"}),
				}
				err := sink.Write(ctx, changes)
				var be *sfsync.BatchError
				if !errors.As(err, &be) || len(be.Errs) != 2 || be.Errs[0] != nil || be.Errs[1] == nil {
					t.Fatalf("Write by %s = %v; want a BatchError failing only the second change", badID, err)
				}
				wantRecordCode(t, be.Errs[1], tc.code, tc.want)
				// The engine puts the batch error's text in dead letters
				// and the ledger.
				if text := sfsync.ErrorAt(err, 1).Error(); !strings.Contains(text, tc.code) || !strings.Contains(text, badID) {
					t.Fatalf("error text %q names neither the code nor the record", text)
				}
			}
		})
	}
}

// The codes the fake org produces from real data, not injected faults.
func TestSinkPerRecordErrorsFromTheOrg(t *testing.T) {
	ctx := foCtx(t)
	org := salesforcetest.NewOrg()
	defer org.Close()
	foRejectInvalid(org)
	sink := salesforce.NewSink(orgClient(t, org), salesforce.WithExternalID("Contact", "External_Id__c"))
	gone := org.Insert("Contact", map[string]any{"LastName": "Gone", "External_Id__c": "P-GONE"})
	if err := org.DeleteAsUser("Contact", gone); err != nil {
		t.Fatal(err)
	}
	org.Insert("Contact", map[string]any{"LastName": "Twin", "External_Id__c": "P-TWIN"})
	org.Insert("Contact", map[string]any{"LastName": "Twin", "External_Id__c": "p-twin"})

	changes := []sfsync.Change{
		contactChange("P-NEW", 0, map[string]any{"Email": "no-last-name@example.com"}),
		contactChange("P-INV", 1, map[string]any{"LastName": "Invalid"}),
		contactChange(gone, 2, map[string]any{"Email": "gone@example.com"}),
		contactChange("P-TWIN", 3, map[string]any{"Email": "twin@example.com"}),
		contactChange("P-FINE", 4, map[string]any{"LastName": "Fine"}),
	}
	err := sink.Write(ctx, changes)
	var be *sfsync.BatchError
	if !errors.As(err, &be) || len(be.Errs) != len(changes) {
		t.Fatalf("Write = %v; want a BatchError", err)
	}
	wantRecordCode(t, be.Errs[0], "REQUIRED_FIELD_MISSING", sfsync.KindPermanent)
	wantRecordCode(t, be.Errs[1], "FIELD_CUSTOM_VALIDATION_EXCEPTION", sfsync.KindPermanent)
	wantRecordCode(t, be.Errs[2], "ENTITY_IS_DELETED", sfsync.KindConflict)
	if !errors.Is(be.Errs[2], salesforce.ErrEntityDeleted) {
		t.Errorf("ENTITY_IS_DELETED does not match ErrEntityDeleted: %v", be.Errs[2])
	}
	wantRecordCode(t, be.Errs[3], "DUPLICATE_EXTERNAL_ID", sfsync.KindConflict)
	if !errors.Is(be.Errs[3], salesforce.ErrMultipleMatches) {
		t.Errorf("DUPLICATE_EXTERNAL_ID does not match ErrMultipleMatches: %v", be.Errs[3])
	}
	if be.Errs[4] != nil {
		t.Errorf("the valid change failed: %v", be.Errs[4])
	}
}

// wantRecordCode checks the error of one failed record.
func wantRecordCode(t *testing.T, err error, code string, kind sfsync.Kind) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; want %s", code)
	}
	if got := sfsync.KindOf(err); got != kind {
		t.Errorf("%s: kind %v, want %v (%v)", code, got, kind, err)
	}
	var se *sfsync.Error
	if !errors.As(err, &se) || se.Code != code {
		t.Errorf("%s: sfsync.Error %+v; want Code %s (%v)", code, se, code, err)
	}
	var ae *salesforce.APIError
	if !errors.As(err, &ae) || ae.Code != code || ae.Status != 0 {
		t.Errorf("%s: APIError %+v; want Code %s, Status 0 (%v)", code, ae, code, err)
	}
	if !strings.Contains(err.Error(), code) {
		t.Errorf("error text %q lacks %s", err.Error(), code)
	}
}
