package pubsub

import (
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"strings"
)

// ErrBadBitmap is matched (errors.Is) by every error of [DecodeFieldBitmap]
// about the entries themselves, as opposed to the schema.
var ErrBadBitmap = errors.New("pubsub: bad field bitmap")

// DecodeFieldBitmap expands the bitmap entries of a CDC event header's
// changedFields, nulledFields or diffFields into field names, against the
// event's own writer schema (schemaJSON, the Avro schema of the event's
// schema id: never a newer one, since positions shift when fields are
// added).
//
// An entry "0x<hex>" is the bitmap of top-level fields: bit i (the least
// significant bit is 0) names schema field i. An entry "<i>-0x<hex>" is the
// bitmap of the components of compound field i, such as an address, and
// yields dotted names ("BillingAddress.Street"). Hex digits may be of any
// case and length, up to 4,096 digits, and the top-level entry may be
// absent; more than 1,024 entries or longer entries are rejected, as no
// object has that many fields. Names come in entry order, then bit order.
//
// A compound field may be flagged both ways: its bit in the top-level entry
// and an entry of its own (Salesforce sends Contact's Name so when only
// LastName changed). The entry of its own says which components it names,
// so the compound's top-level name is then left out; a compound named only
// by its top-level bit stays whole.
//
// An index outside the schema, a component bitmap for a field that is not
// compound, or a malformed entry is an error matching [ErrBadBitmap]: a
// wrong name would silently apply a change to the wrong field.
func DecodeFieldBitmap(schemaJSON string, entries []string) ([]string, error) {
	if err := checkSchemaJSON(schemaJSON); err != nil {
		return nil, fmt.Errorf("pubsub: schema: %w", err)
	}
	s, err := parseEventSchema(schemaJSON)
	if err != nil {
		return nil, err
	}
	return s.decodeBitmap(entries, nil)
}

// decodeBitmap appends the field names entries stand for to names.
func (s *eventSchema) decodeBitmap(entries []string, names []string) ([]string, error) {
	if len(entries) > maxBitmapEntries {
		return nil, fmt.Errorf("%w: %d entries, more than the %d accepted", ErrBadBitmap, len(entries), maxBitmapEntries)
	}
	from := len(names)
	var detailed []string // compounds with an entry of their own
	for _, e := range entries {
		var err error
		if hex, ok := cutHexPrefix(e); ok {
			if len(hex) <= maxBitmapHexDigits {
				names = slices.Grow(names, setBits(hex))
			}
			err = forEachBit(hex, func(i int) error {
				if i >= len(s.fields) {
					return fmt.Errorf("%w: entry %q sets bit %d but the schema %s has %d fields; decode with the event's own schema id", ErrBadBitmap, e, i, s.name, len(s.fields))
				}
				names = append(names, s.fields[i].name)
				return nil
			})
		} else {
			var parent string
			parent, names, err = s.decodeCompound(e, names)
			detailed = append(detailed, parent)
		}
		if err != nil {
			return nil, err
		}
	}
	if len(detailed) == 0 {
		return names, nil
	}
	// The component entry decides: a top-level bit beside it would say
	// every component changed, and the unchanged ones, null in an UPDATE,
	// would be taken for cleared.
	kept := names[:from]
	for _, n := range names[from:] {
		if !slices.Contains(detailed, n) {
			kept = append(kept, n)
		}
	}
	return kept, nil
}

// decodeCompound appends the component names of entry e to names and
// returns the compound's name.
func (s *eventSchema) decodeCompound(e string, names []string) (string, []string, error) {
	idx, rest, ok := strings.Cut(e, "-")
	hex, hasHex := cutHexPrefix(rest)
	if !ok || !hasHex || idx == "" || len(idx) > 6 {
		return "", nil, fmt.Errorf("%w: entry %q is neither \"0x<hex>\" nor \"<index>-0x<hex>\"", ErrBadBitmap, e)
	}
	parent := 0
	for _, c := range idx {
		if c < '0' || c > '9' {
			return "", nil, fmt.Errorf("%w: entry %q has a non-decimal field index", ErrBadBitmap, e)
		}
		parent = parent*10 + int(c-'0')
	}
	if parent >= len(s.fields) {
		return "", nil, fmt.Errorf("%w: entry %q names field %d but the schema %s has %d fields; decode with the event's own schema id", ErrBadBitmap, e, parent, s.name, len(s.fields))
	}
	pf := s.fields[parent]
	if pf.record == nil {
		return "", nil, fmt.Errorf("%w: entry %q names components of %s, which is not a compound field", ErrBadBitmap, e, pf.name)
	}
	err := forEachBit(hex, func(i int) error {
		if i >= len(pf.record.fields) {
			return fmt.Errorf("%w: entry %q sets bit %d but %s has %d components", ErrBadBitmap, e, i, pf.name, len(pf.record.fields))
		}
		names = append(names, pf.name+"."+pf.record.fields[i].name)
		return nil
	})
	return pf.name, names, err
}

func cutHexPrefix(s string) (string, bool) {
	if len(s) >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') {
		return s[2:], true
	}
	return "", false
}

// setBits counts the bits set in the hexadecimal number hex, ignoring what
// is not a hex digit (forEachBit reports that): room for the names.
func setBits(hex string) int {
	n := 0
	for i := range len(hex) {
		if d, ok := hexDigit(hex[i]); ok {
			n += bits.OnesCount8(d)
		}
	}
	return n
}

// forEachBit calls f with the index of every set bit of the big-endian
// hexadecimal number hex, lowest first.
func forEachBit(hex string, f func(int) error) error {
	if hex == "" {
		return fmt.Errorf("%w: no hex digits after 0x", ErrBadBitmap)
	}
	if len(hex) > maxBitmapHexDigits {
		return fmt.Errorf("%w: %d hex digits, more than the %d accepted", ErrBadBitmap, len(hex), maxBitmapHexDigits)
	}
	for pos := len(hex) - 1; pos >= 0; pos-- {
		d, ok := hexDigit(hex[pos])
		if !ok {
			return fmt.Errorf("%w: %q is not a hex digit in %q", ErrBadBitmap, hex[pos], hex)
		}
		base := (len(hex) - 1 - pos) * 4
		for b := 0; b < 4; b++ {
			if d&(1<<b) != 0 {
				if err := f(base + b); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func hexDigit(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
