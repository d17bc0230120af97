package sfsync_test

import (
	"errors"
	"fmt"

	"github.com/sfsync/sfsync"
)

func ExampleChange() {
	c := sfsync.Change{
		Source: sfsync.Salesforce, Object: "Contact", RecordID: "003000000000001AAA", Op: sfsync.OpUpdate,
		Fields: map[string]any{"Phone": "555-0100"},
		Nulled: []string{"Fax"},
		Origin: sfsync.Origin{ChangeOrigin: "com/salesforce/api/rest/62.0;client=sfsync"},
	}
	fax, set := c.Value("Fax")
	fmt.Println(c.Touched(), fax, set)
	fmt.Println(sfsync.ClientFromChangeOrigin(c.Origin.ChangeOrigin))
	// Output:
	// [Fax Phone] <nil> true
	// sfsync
}

func ExampleKindOf() {
	err := fmt.Errorf("writing Contact 003A: %w", sfsync.Retryable(errors.New("UNABLE_TO_LOCK_ROW")))
	fmt.Println(sfsync.KindOf(err), sfsync.IsRetryable(err))
	err = fmt.Errorf("change 7: %w", sfsync.ErrInvalid)
	fmt.Println(sfsync.KindOf(err), sfsync.IsPermanent(err))
	// Output:
	// retryable true
	// permanent true
}
