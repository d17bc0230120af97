package pubsub

import (
	"encoding/json"
	"fmt"
	"strings"
)

// eventSchema is what decoding needs of an event's Avro writer schema: the
// top-level fields in order (bitmap positions index them) and, for each
// field, how goavro represents its value.
type eventSchema struct {
	name   string // full name of the top-level record
	fields []schemaField
	byName map[string]int
}

// schemaField is one field of a record.
type schemaField struct {
	name string
	// union is true when the field's type is a union, which goavro wraps as
	// map[string]any{branchName: value}.
	union bool
	// record is the record branch of the field (the field's own type when
	// it is a record, the record branch of a union otherwise), or nil.
	record *recordType
	// switchable is true for a union of a string and a record, such as
	// Account.Name: a null value may stand for either.
	switchable bool
}

// recordType is a named Avro record.
type recordType struct {
	fullName string
	fields   []schemaField
}

// parseEventSchema reads the parts of an Avro record schema that decoding
// needs. It resolves named types by full and short name, so compound types
// defined once and referenced later ("ShippingAddress": ["null","Address"])
// are found.
func parseEventSchema(schemaJSON string) (*eventSchema, error) {
	var raw any
	if err := json.Unmarshal([]byte(schemaJSON), &raw); err != nil {
		return nil, fmt.Errorf("pubsub: schema is not JSON: %w", err)
	}
	p := schemaParser{named: map[string]*recordType{}}
	rec, err := p.record(raw, "")
	if err != nil {
		return nil, err
	}
	if rec == nil {
		return nil, fmt.Errorf("pubsub: schema is not an Avro record")
	}
	s := &eventSchema{name: rec.fullName, fields: rec.fields, byName: make(map[string]int, len(rec.fields))}
	for i, f := range rec.fields {
		s.byName[f.name] = i
	}
	return s, nil
}

type schemaParser struct {
	named map[string]*recordType
}

var avroPrimitives = map[string]bool{
	"null": true, "boolean": true, "int": true, "long": true, "float": true,
	"double": true, "bytes": true, "string": true,
}

func fullName(name, namespace string) string {
	if strings.Contains(name, ".") || namespace == "" {
		return name
	}
	return namespace + "." + name
}

// record returns the record type t describes or names, or nil when t is
// another type.
func (p *schemaParser) record(t any, namespace string) (*recordType, error) {
	switch t := t.(type) {
	case string:
		if avroPrimitives[t] {
			return nil, nil
		}
		if r, ok := p.named[fullName(t, namespace)]; ok {
			return r, nil
		}
		if r, ok := p.named[t]; ok {
			return r, nil
		}
		// An enum, fixed or unknown name: not a compound.
		return nil, nil
	case map[string]any:
		typ, _ := t["type"].(string)
		switch typ {
		case "record", "error":
		case "enum", "fixed", "array", "map":
			return nil, nil
		default:
			// {"type": "string"} and similar wrappers.
			return p.record(t["type"], namespace)
		}
		name, _ := t["name"].(string)
		if name == "" {
			return nil, fmt.Errorf("pubsub: schema has a record without a name")
		}
		if ns, ok := t["namespace"].(string); ok && !strings.Contains(name, ".") {
			namespace = ns
		}
		full := fullName(name, namespace)
		if i := strings.LastIndex(full, "."); i >= 0 {
			namespace = full[:i]
		}
		rec := &recordType{fullName: full}
		// Register before the fields so a recursive reference resolves.
		p.named[full] = rec
		p.named[name] = rec
		rawFields, _ := t["fields"].([]any)
		for _, rf := range rawFields {
			fm, ok := rf.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("pubsub: schema record %s has a malformed field", full)
			}
			fname, _ := fm["name"].(string)
			if fname == "" {
				return nil, fmt.Errorf("pubsub: schema record %s has a field without a name", full)
			}
			f := schemaField{name: fname}
			var err error
			if branches, ok := fm["type"].([]any); ok {
				f.union = true
				for _, b := range branches {
					if b == "string" {
						f.switchable = true
					}
					r, err := p.record(b, namespace)
					if err != nil {
						return nil, err
					}
					if r != nil {
						f.record = r
					}
				}
			} else if f.record, err = p.record(fm["type"], namespace); err != nil {
				return nil, err
			}
			f.switchable = f.switchable && f.record != nil
			rec.fields = append(rec.fields, f)
		}
		return rec, nil
	case []any:
		return nil, fmt.Errorf("pubsub: schema's top level is a union, not a record")
	}
	return nil, nil
}
