package sync

import (
	"fmt"
	"math"
	"slices"
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
	// Checked in map order, described in field order: almost every change
	// has nothing to report, and then nothing is sorted or built.
	var badFields []string
	for name, v := range c.Fields {
		if unwritable(v) != "" {
			badFields = append(badFields, name)
		}
	}
	slices.Sort(badFields)
	var bad []string
	for _, name := range badFields {
		bad = append(bad, "field "+name+" "+unwritable(c.Fields[name]))
	}
	if why := unwritable(c.RecordID); why != "" {
		bad = append(bad, "record id "+why)
	}
	if why := unwritable(c.Key); why != "" {
		bad = append(bad, "key "+why)
	}
	return bad
}

// unwritable says why no system can store v, or "" when one can.
func unwritable(v any) string {
	switch x := v.(type) {
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Sprintf("is %v", x)
		}
	case float32:
		if f := float64(x); math.IsNaN(f) || math.IsInf(f, 0) {
			return fmt.Sprintf("is %v", x)
		}
	case string:
		switch {
		case !utf8.ValidString(x):
			return fmt.Sprintf("is not valid UTF-8 (%q)", clip(x))
		case strings.IndexByte(x, 0) >= 0:
			return fmt.Sprintf("holds a NUL byte (%q)", clip(x))
		case len(x) > maxValueBytes:
			return fmt.Sprintf("is %d bytes, more than %d", len(x), maxValueBytes)
		}
	}
	return ""
}

// clip shortens a value for an error message.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
