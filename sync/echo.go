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
	// Built in a stack buffer: the engine makes one per field it writes or
	// checks for an echo, and only the result needs the heap.
	var scratch [192]byte
	buf := append(scratch[:0], sys...)
	buf = append(buf, 0)
	buf = append(buf, object...)
	buf = append(buf, 0)
	buf = append(buf, id...)
	buf = append(buf, 0)
	buf = append(buf, field...)
	place := sha256.Sum256(buf)
	val := sha256.Sum256(appendNormalValue(scratch[:0], value))
	const placeLen, valLen = 20, 16 // base64 of 15 and of 12 bytes
	var out [placeLen + 1 + valLen]byte
	base64.RawURLEncoding.Encode(out[:placeLen], place[:15])
	out[placeLen] = '.'
	base64.RawURLEncoding.Encode(out[placeLen+1:], val[:12])
	return string(out[:])
}

// appendNormalValue appends the form of v that fingerprints and value
// comparisons use.
func appendNormalValue(buf []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(buf, "\x00null"...)
	case string:
		return append(append(buf, 's'), x...)
	case bool:
		return strconv.AppendBool(append(buf, 'b'), x)
	case int:
		return appendNumeric(buf, float64(x))
	case int32:
		return appendNumeric(buf, float64(x))
	case int64:
		return appendNumeric(buf, float64(x))
	case float32:
		return appendNumeric(buf, float64(x))
	case float64:
		return appendNumeric(buf, x)
	case time.Time:
		return x.UTC().AppendFormat(append(buf, 't'), time.RFC3339Nano)
	case fmt.Stringer:
		return append(append(buf, 's'), x.String()...)
	}
	return fmt.Appendf(buf, "v%v", v)
}

func appendNumeric(buf []byte, f float64) []byte {
	buf = append(buf, 'n')
	if math.Trunc(f) == f && math.Abs(f) < 1e15 {
		return strconv.AppendInt(buf, int64(f), 10)
	}
	return strconv.AppendFloat(buf, f, 'g', -1, 64)
}

// sameValue compares values as fingerprints do.
func sameValue(a, b any) bool {
	if x, ok := a.(string); ok {
		if y, ok := b.(string); ok {
			return x == y
		}
	}
	var bufA, bufB [64]byte
	return string(appendNormalValue(bufA[:0], a)) == string(appendNormalValue(bufB[:0], b))
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
	fps := make([]placedPrint, 0, 1+len(c.Fields)+len(c.Nulled))
	eachFingerprint(sys, c, ignored, func(field, fp string) { fps = append(fps, placedPrint{field, fp}) })
	return fps
}

// eachFingerprint calls f with each fingerprint of fingerprintsOf, and the
// field it is for, so that a caller that wants only the fingerprints
// collects them without a list of its own per change.
func eachFingerprint(sys sfsync.System, c *sfsync.Change, ignored map[string]bool, f func(field, fp string)) {
	switch c.Op {
	case sfsync.OpCreate, sfsync.OpUndelete:
		f(fieldAny, FieldFingerprint(sys, c.Object, c.RecordID, "", opValue(c.Op)))
	case sfsync.OpDelete:
		f(fieldDeleted, FieldFingerprint(sys, c.Object, c.RecordID, "", opValue(c.Op)))
		return
	}
	for name, v := range c.Fields {
		if !ignored[name] {
			f(name, FieldFingerprint(sys, c.Object, c.RecordID, name, v))
		}
	}
	for _, name := range c.Nulled {
		if _, set := c.Fields[name]; !set && !ignored[name] {
			f(name, FieldFingerprint(sys, c.Object, c.RecordID, name, nil))
		}
	}
}

// opValue is the value the record's own fingerprint carries for op:
// "\x00" and the operation.
func opValue(op sfsync.Op) string {
	switch op {
	case sfsync.OpCreate:
		return "\x00" + string(sfsync.OpCreate)
	case sfsync.OpDelete:
		return "\x00" + string(sfsync.OpDelete)
	case sfsync.OpUndelete:
		return "\x00" + string(sfsync.OpUndelete)
	}
	return "\x00" + string(op)
}
