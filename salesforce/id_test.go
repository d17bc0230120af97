package salesforce_test

import (
	"testing"

	"github.com/sfsync/sfsync/salesforce"
)

func TestIsID(t *testing.T) {
	for id, want := range map[string]bool{
		"003000000000001AAA": true,
		"001Dn00000ABcdEAAT": false, // wrong checksum
		"0015e00000ZvXl3AAF": true,
		"P-7":                false,
		"003000000000001":    false, // 15 characters: ambiguous with external ids
		"00300000000000-AAA": false,
	} {
		if got := salesforce.IsID(id); got != want {
			t.Errorf("IsID(%q) = %v, want %v", id, got, want)
		}
	}
}
