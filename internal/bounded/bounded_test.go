package bounded

import (
	"errors"
	"strings"
	"testing"
)

func TestJSONDepth(t *testing.T) {
	for _, tc := range []struct {
		in   string
		max  int
		fail bool
	}{
		{`{"a":[1,{"b":2}]}`, 3, false},
		{`{"a":[1,{"b":2}]}`, 2, true},
		{`"[[[[[["`, 1, false},
		{`["\"[[[["]`, 1, false},
		{strings.Repeat("[", 100), 64, true},
		{``, 0, false},
	} {
		err := JSONDepth([]byte(tc.in), tc.max)
		if (err != nil) != tc.fail || err != nil && !errors.Is(err, ErrTooLarge) {
			t.Errorf("JSONDepth(%q, %d) = %v, want failure %v", tc.in, tc.max, err, tc.fail)
		}
	}
}

func TestJSONDepthDoesNotAllocate(t *testing.T) {
	data := []byte(strings.Repeat(`{"a":[`, 1000))
	if n := testing.AllocsPerRun(10, func() { _ = JSONDepth(data, 10_000) }); n != 0 {
		t.Fatalf("JSONDepth allocated %v times", n)
	}
}

func FuzzJSONDepth(f *testing.F) {
	f.Add([]byte(`{"a":[1,{"b":"]}"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		_ = JSONDepth(data, 8)
	})
}
