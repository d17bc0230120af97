package pubsub

import (
	"errors"
	"fmt"
	"math"

	"github.com/sfsync/sfsync/internal/bounded"
)

// Decoding is bounded by the bytes that arrive: goavro pre-allocates an
// array's or map's capacity from the item count the payload claims (up to
// goavro.MaxBlockCount, 2^31), so ten hostile bytes could make it allocate
// gigabytes. Rather than lowering goavro's package globals, which belong
// to the host application as much as to us, every payload is walked
// against its writer schema first, without allocating, and rejected when
// it claims more than its bytes can hold.
const (
	// maxSchemaJSON bounds a writer schema from GetSchema. Salesforce's
	// largest objects (some 800 fields) have schemas of a few hundred KiB.
	maxSchemaJSON = 8 << 20
	// maxSchemaDepth bounds the JSON nesting of a writer schema. A CDC
	// schema nests about ten levels (record, fields, field, union,
	// compound record, its fields, ...).
	maxSchemaDepth = 64
	// maxValueDepth bounds how deeply values nest in a payload. Only a
	// recursive schema lets values nest without end, and goavro decodes
	// each level on the stack.
	maxValueDepth = 64
	// valuesPerByte and valuesFixed bound the number of values goavro
	// builds for a payload: a CDC value costs at least a byte except the
	// records and union branches it sits in, and fields of type null.
	valuesPerByte = 8
	valuesFixed   = 4096
	// maxBitmapEntries bounds the entries of a changedFields, nulledFields
	// or diffFields array: one top-level entry and one per compound field
	// are all Salesforce sends.
	maxBitmapEntries = 1024
	// maxBitmapHexDigits bounds the hex digits of one bitmap entry, 16,384
	// fields: Salesforce objects have at most about 800.
	maxBitmapHexDigits = 4096
)

// errPayloadBound is matched (errors.Is) by payloads that claim more than
// they hold; it matches [bounded.ErrTooLarge] as well.
var errPayloadBound = fmt.Errorf("pubsub: Avro payload out of bounds: %w", bounded.ErrTooLarge)

var errShortPayload = errors.New("payload ends inside a value")

// checkSchemaJSON rejects a writer schema too large or too deeply nested
// to be compiled within bounds. Such a schema never compiles, so the
// error is for the event to be dead-lettered, not retried.
func checkSchemaJSON(js string) error {
	if err := bounded.Size("schema JSON", len(js), maxSchemaJSON); err != nil {
		return err
	}
	return bounded.JSONDepth([]byte(js), maxSchemaDepth)
}

// checkPayload walks payload as an encoding of t without allocating, and
// fails when a length or an item count it claims cannot fit in the bytes
// that remain, when values nest deeper than maxValueDepth, or when it
// would make goavro build more than valuesPerByte values per byte. A
// payload that passes allocates, through goavro, at most a constant times
// its size. Errors that only goavro detects (a union index out of range,
// an enum symbol) are left to goavro, which reports them as it decodes.
func checkPayload(t *avroType, payload []byte) error {
	w := payloadWalk{buf: payload, values: valuesPerByte*len(payload) + valuesFixed}
	if err := w.value(t, 0); err != nil {
		return fmt.Errorf("%w: at byte %d: %w", errPayloadBound, w.pos, err)
	}
	return nil
}

type payloadWalk struct {
	buf    []byte
	pos    int
	values int // values goavro may still build
}

func (w *payloadWalk) left() int { return len(w.buf) - w.pos }

// varint reads a zig-zag varint as goavro does (any number of bytes; the
// excess bits are lost).
func (w *payloadWalk) varint() (int64, error) {
	var v uint64
	var shift uint
	for w.pos < len(w.buf) {
		b := w.buf[w.pos]
		w.pos++
		if shift < 64 {
			v |= uint64(b&0x7f) << shift
		}
		if b&0x80 == 0 {
			return int64(v>>1) ^ -int64(v&1), nil
		}
		shift += 7
	}
	return 0, errShortPayload
}

func (w *payloadWalk) skip(n int64) error {
	if n < 0 || n > int64(w.left()) {
		return fmt.Errorf("claims %d bytes where %d remain", n, w.left())
	}
	w.pos += int(n)
	return nil
}

func (w *payloadWalk) value(t *avroType, depth int) error {
	if depth > maxValueDepth {
		return fmt.Errorf("values nest deeper than %d levels", maxValueDepth)
	}
	if w.values--; w.values < 0 {
		return errors.New("more values than its size allows")
	}
	switch t.kind {
	case "null":
	case "boolean":
		return w.skip(1)
	case "float":
		return w.skip(4)
	case "double":
		return w.skip(8)
	case "int", "long", "enum":
		_, err := w.varint()
		return err
	case "bytes", "string":
		n, err := w.varint()
		if err != nil {
			return err
		}
		return w.skip(n)
	case "fixed":
		return w.skip(int64(t.size))
	case "union":
		i, err := w.varint()
		if err != nil {
			return err
		}
		if i < 0 || i >= int64(len(t.branches)) {
			return fmt.Errorf("union branch %d of %d", i, len(t.branches))
		}
		return w.value(t.branches[i], depth+1)
	case "record":
		for _, f := range t.fields {
			if err := w.value(f.typ, depth+1); err != nil {
				return err
			}
		}
	case "array", "map":
		return w.blocks(t, depth)
	default:
		return fmt.Errorf("unknown Avro type %q", t.kind)
	}
	return nil
}

// key walks a map key, a string.
func (w *payloadWalk) key() error {
	if w.values--; w.values < 0 {
		return errors.New("more values than its size allows")
	}
	n, err := w.varint()
	if err != nil {
		return err
	}
	return w.skip(n)
}

// blocks walks the blocks of an array or map. goavro allocates a block's
// claimed count up front, so the count must fit in the bytes that remain
// (every item a payload really holds takes at least one byte, but for
// items of type null, which no Salesforce schema has).
func (w *payloadWalk) blocks(t *avroType, depth int) error {
	for {
		n, err := w.varint()
		if err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		if n < 0 {
			if n == math.MinInt64 {
				return errors.New("block count out of range")
			}
			n = -n
			size, err := w.varint()
			if err != nil {
				return err
			}
			if size < 0 || size > int64(w.left()) {
				return fmt.Errorf("a block claims %d bytes where %d remain", size, w.left())
			}
		}
		if n > int64(w.left()) {
			return fmt.Errorf("a block claims %d items where %d bytes remain", n, w.left())
		}
		for range n {
			if t.kind == "map" {
				if err := w.key(); err != nil {
					return err
				}
			}
			if err := w.value(t.items, depth+1); err != nil {
				return err
			}
		}
	}
}
