package salesforce

import (
	"errors"
	"strings"
	"testing"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/internal/bounded"
	"github.com/sfsync/sfsync/internal/bounded/boundedtest"
)

func TestCheckJSONRejectsDeepNestingPermanently(t *testing.T) {
	deep := []byte(strings.Repeat("[", maxJSONDepth+1) + strings.Repeat("]", maxJSONDepth+1))
	if err := checkJSON("query", deep); !errors.Is(err, bounded.ErrTooLarge) || !sfsync.IsPermanent(err) {
		t.Fatalf("checkJSON: %v", err)
	}
	if err := checkJSON("query", []byte(`{"records":[{"Account":{"Owner":{"Name":"x"}}}]}`)); err != nil {
		t.Fatal(err)
	}
	e := parseAPIError(400, deep)
	if e.Body == "" || e.Code != "" {
		t.Fatalf("a deep error body parsed as %+v", e)
	}
}

// Error bodies of every shape the spec lists parse within a multiple of
// their size and never panic.
func FuzzParseAPIError(f *testing.F) {
	for _, s := range []string{
		`[{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"}]`,
		`[{"message":"Required fields are missing: [Name]","errorCode":"REQUIRED_FIELD_MISSING","fields":["Name"]}]`,
		`{"error":"invalid_grant","error_description":"expired access/refresh token"}`,
		`[{"statusCode":"UNABLE_TO_LOCK_ROW","message":"unable to obtain exclusive access to this record"}]`,
		`<html>Service Unavailable</html>`,
		strings.Repeat("[", 200),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		boundedtest.Check(t, boundedtest.Bound{PerByte: 64, Fixed: 64 << 10, FixedObjects: 200}, len(body), func() {
			if e := parseAPIError(400, body); e == nil || e.Error() == "" {
				t.Fatal("no error parsed")
			}
		})
	})
}
