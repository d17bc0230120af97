package storetest_test

import (
	"testing"

	"github.com/sfsync/sfsync/store/memory"
	"github.com/sfsync/sfsync/store/storetest"
)

// A backend runs the whole suite from one test function; open returns a
// fresh, empty store for every subtest and registers its cleanup.
func Example() {
	_ = func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) storetest.Store {
			s := memory.New()
			return s
		})
	}
}

// TestSuiteAgainstMemory keeps the suite itself honest: it must pass on the
// reference implementation.
func TestSuiteAgainstMemory(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Store { return memory.New() })
}
