package sync

import "testing"

func TestBeforeDeleteKey(t *testing.T) {
	for key, want := range map[string]bool{
		"repair:003A:tx:1/fields":    true,
		"repair:003A:tx:1/fields/2":  true,
		"repair:003A:tx:1":           false,
		"repair:003A:tx:1/1":         false,
		"repair:003A:tx:1/fields/x":  false,
		"repair:003A:tx:1/fields/":   false,
		"003A:tx:1/fields":           false,
		"repair:a/fields/b/fields/3": true,
	} {
		if got := beforeDeleteKey(key); got != want {
			t.Errorf("beforeDeleteKey(%q) = %v, want %v", key, got, want)
		}
	}
}
