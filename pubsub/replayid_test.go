package pubsub

import "testing"

func TestCompareReplayIDs(t *testing.T) {
	for _, tc := range []struct {
		a, b []byte
		want int
	}{
		{[]byte{0, 0, 0, 0, 0, 0, 0, 9}, []byte{0, 0, 0, 0, 0, 0, 0, 0x1d}, -1},
		{[]byte{0, 0, 0, 0, 0, 0, 1, 0}, []byte{0, 0, 0, 0, 0, 0, 0, 0xff}, 1},
		{[]byte{0, 0, 0, 0, 0, 0, 0, 7}, []byte{0, 0, 0, 0, 0, 0, 0, 7}, 0},
		// The 10-byte shape.
		{[]byte{0, 0, 0, 0, 0, 16, 219, 77, 0, 0}, []byte{0, 0, 0, 0, 0, 16, 219, 78, 0, 0}, -1},
		// Different lengths compare as numbers.
		{[]byte{0, 0, 0, 0, 0, 0, 0, 9}, []byte{0, 0, 0, 0, 0, 16, 219, 77, 0, 0}, -1},
		{[]byte{0, 0, 5}, []byte{5}, 0},
	} {
		if got := compareReplayIDs(tc.a, tc.b); got != tc.want {
			t.Errorf("compareReplayIDs(%x, %x) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}
