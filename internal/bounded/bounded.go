// Package bounded holds the checks that keep decoding outside data bounded
// by the bytes that arrive: a decoder runs them before anything is
// allocated from what the data claims, so N bytes cost at most a small
// multiple of N in memory and time, whatever they say about themselves.
package bounded

import (
	"errors"
	"fmt"
)

// ErrTooLarge is matched (errors.Is) by every error of this package: the
// data claims or holds more than its decoder accepts. Such data never
// decodes, however often it is retried.
var ErrTooLarge = errors.New("input exceeds its decoding bound")

// JSONDepth reports an error matching [ErrTooLarge] when the JSON text data
// nests objects and arrays deeper than max. It scans without allocating
// and in one pass, so it runs before json.Unmarshal builds anything: the
// standard library stops only at a depth of 10,000, and every level it
// builds costs an allocation. It checks nesting only; malformed JSON is
// left to the decoder that follows.
func JSONDepth(data []byte, max int) error {
	depth := 0
	inString, escaped := false, false
	for i, c := range data {
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '{', '[':
			depth++
			if depth > max {
				return fmt.Errorf("%w: JSON nests deeper than %d levels (at byte %d)", ErrTooLarge, max, i)
			}
		case '}', ']':
			depth--
		}
	}
	return nil
}

// Size reports an error matching [ErrTooLarge] when n, the length of what
// is to be decoded as what, is above max.
func Size(what string, n, max int) error {
	if n > max {
		return fmt.Errorf("%w: %s is %d bytes, more than the %d accepted", ErrTooLarge, what, n, max)
	}
	return nil
}
