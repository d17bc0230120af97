package sync

import (
	"fmt"
	"math"
	"strings"
	"unicode/utf8"

	"github.com/sfsync/sfsync"
)

// maxValueBytes bounds one text value. Salesforce's largest text field
// holds 131,072 characters; a value many times that is a defect upstream,
// and it would bloat every outcome and dead letter that carries it.
const maxValueBytes = 1 << 20

// unwritableValues describes the values of c that no sink or state store
// can take as they are: non-finite numbers (JSON has none), text that is not
// UTF-8 or holds NUL bytes (PostgreSQL text refuses both) and oversize
// text. Such a change is dead-lettered with this description instead of
// failing a write, or a state commit, on every retry.
func unwritableValues(c *sfsync.Change) []string {
	var bad []string
	check := func(where string, v any) {
		switch x := v.(type) {
		case float64:
			if math.IsNaN(x) || math.IsInf(x, 0) {
				bad = append(bad, fmt.Sprintf("%s is %v", where, x))
			}
		case float32:
			if f := float64(x); math.IsNaN(f) || math.IsInf(f, 0) {
				bad = append(bad, fmt.Sprintf("%s is %v", where, x))
			}
		case string:
			switch {
			case !utf8.ValidString(x):
				bad = append(bad, fmt.Sprintf("%s is not valid UTF-8 (%q)", where, clip(x)))
			case strings.IndexByte(x, 0) >= 0:
				bad = append(bad, fmt.Sprintf("%s holds a NUL byte (%q)", where, clip(x)))
			case len(x) > maxValueBytes:
				bad = append(bad, fmt.Sprintf("%s is %d bytes, more than %d", where, len(x), maxValueBytes))
			}
		}
	}
	for _, name := range sortedKeys(c.Fields) {
		check("field "+name, c.Fields[name])
	}
	check("record id", c.RecordID)
	check("key", c.Key)
	return bad
}

// clip shortens a value for an error message.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
