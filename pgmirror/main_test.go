package pgmirror

import (
	"fmt"
	"os"
	"testing"
)

// TestMain says up front that the tests needing PostgreSQL were skipped:
// t.Skip alone shows only with -v, and a green run that tested nothing of
// the database would otherwise look like one that tested it.
func TestMain(m *testing.M) {
	if os.Getenv("SFSYNC_TEST_POSTGRES") == "" {
		fmt.Fprintln(os.Stderr, "pgmirror: SFSYNC_TEST_POSTGRES is not set: the tests that need PostgreSQL are SKIPPED; run `eval \"$(bash .ci/start-postgres.sh)\"` first to run them")
	}
	os.Exit(m.Run())
}
