package sync

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/sfsync/sfsync"
)

// FieldFingerprint identifies one field value the engine wrote to a system:
// when that system later reports a change whose every field matches a
// remembered fingerprint, the change is the echo of the engine's own write.
// Numbers compare by value whatever their Go type, times by instant.
func FieldFingerprint(sys sfsync.System, object, id, field string, value any) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%s\x00%s", sys, object, id, field, normalValue(value))
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:18])
}

func normalValue(v any) string {
	switch x := v.(type) {
	case nil:
		return "\x00null"
	case string:
		return "s" + x
	case bool:
		return "b" + strconv.FormatBool(x)
	case int:
		return numeric(float64(x))
	case int32:
		return numeric(float64(x))
	case int64:
		return numeric(float64(x))
	case float32:
		return numeric(float64(x))
	case float64:
		return numeric(x)
	case time.Time:
		return "t" + x.UTC().Format(time.RFC3339Nano)
	case fmt.Stringer:
		return "s" + x.String()
	}
	return fmt.Sprintf("v%v", v)
}

func numeric(f float64) string {
	if math.Trunc(f) == f && math.Abs(f) < 1e15 {
		return "n" + strconv.FormatInt(int64(f), 10)
	}
	return "n" + strconv.FormatFloat(f, 'g', -1, 64)
}

// sameValue compares values as fingerprints do.
func sameValue(a, b any) bool { return normalValue(a) == normalValue(b) }

// writeFingerprints lists the fingerprints of a change written to sys.
func writeFingerprints(sys sfsync.System, c *sfsync.Change, ignored map[string]bool) []string {
	var fps []string
	for name, v := range c.Fields {
		if !ignored[name] {
			fps = append(fps, FieldFingerprint(sys, c.Object, c.RecordID, name, v))
		}
	}
	for _, name := range c.Nulled {
		if _, set := c.Fields[name]; !set && !ignored[name] {
			fps = append(fps, FieldFingerprint(sys, c.Object, c.RecordID, name, nil))
		}
	}
	return fps
}
