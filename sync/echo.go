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

// FieldFingerprint identifies one field value the engine wrote to a system.
// It is "<place>.<value>" (see [sfsync.FingerprintPlace]): the place names
// system, object, record and field; the first change of that field the
// system reports after our write consumes it, and is the write's echo when
// it carries the same value. Numbers compare by value whatever their Go
// type, times by instant. The empty field names the record itself, whose
// values are the operations "\x00create", "\x00delete" and "\x00undelete".
func FieldFingerprint(sys sfsync.System, object, id, field string, value any) string {
	place := sha256.Sum256(fmt.Appendf(nil, "%s\x00%s\x00%s\x00%s", sys, object, id, field))
	val := sha256.Sum256([]byte(normalValue(value)))
	return base64.RawURLEncoding.EncodeToString(place[:15]) + "." + base64.RawURLEncoding.EncodeToString(val[:12])
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

// writeFingerprints lists the fingerprints of a change written to sys, or
// reported by sys.
func writeFingerprints(sys sfsync.System, c *sfsync.Change, ignored map[string]bool) []string {
	var fps []string
	for _, p := range fingerprintsOf(sys, c, ignored) {
		fps = append(fps, p.fp)
	}
	return fps
}

// placedPrint is a fingerprint with the field it is for (fieldAny for the
// record's create or undelete, fieldDeleted for its delete).
type placedPrint struct {
	field, fp string
}

// fingerprintsOf lists one fingerprint per field a change sets, and one for
// the record when it creates, deletes or undeletes it (so that a create with
// no mapped field is recognised too).
func fingerprintsOf(sys sfsync.System, c *sfsync.Change, ignored map[string]bool) []placedPrint {
	var fps []placedPrint
	switch c.Op {
	case sfsync.OpCreate, sfsync.OpUndelete:
		fps = append(fps, placedPrint{fieldAny, FieldFingerprint(sys, c.Object, c.RecordID, "", "\x00"+string(c.Op))})
	case sfsync.OpDelete:
		return []placedPrint{{fieldDeleted, FieldFingerprint(sys, c.Object, c.RecordID, "", "\x00"+string(c.Op))}}
	}
	for name, v := range c.Fields {
		if !ignored[name] {
			fps = append(fps, placedPrint{name, FieldFingerprint(sys, c.Object, c.RecordID, name, v)})
		}
	}
	for _, name := range c.Nulled {
		if _, set := c.Fields[name]; !set && !ignored[name] {
			fps = append(fps, placedPrint{name, FieldFingerprint(sys, c.Object, c.RecordID, name, nil)})
		}
	}
	return fps
}
