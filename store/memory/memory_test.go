package memory_test

import (
	"testing"

	"github.com/sfsync/sfsync/store/memory"
	"github.com/sfsync/sfsync/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Store { return memory.New() })
}
