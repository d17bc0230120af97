// Package cdcschema builds Salesforce Change Data Capture Avro schemas and
// encodes events in them, exactly as the event bus shapes them: the
// ChangeEventHeader first, every record field an optional union with null
// first, compound fields as named records defined once and referenced by
// name afterwards, and the changedFields/nulledFields/diffFields bitmaps.
//
// The fake org emits events with it, and decoding tests use it to build
// realistic schemas.
package cdcschema

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/linkedin/goavro/v2"
)

// Namespace is the namespace of every CDC schema and its named types.
const Namespace = "com.sforce.eventbus"

// Kind is a field's Salesforce type, as far as its Avro shape goes.
type Kind int

// The field kinds.
const (
	String     Kind = iota // text, picklist, phone, url, email, id, reference
	Boolean                // checkbox
	Int                    // integer
	Double                 // number, currency, percent
	DateTime               // epoch milliseconds
	Date                   // epoch milliseconds at 00:00 UTC
	Address                // compound: Street, City, State, PostalCode, Country, StateCode, CountryCode, Latitude, Longitude, GeocodeAccuracy
	PersonName             // compound: Salutation, FirstName, LastName, MiddleName, Suffix
	// SwitchableName is Account.Name: a string for business accounts, a
	// person name for person accounts (a three-way union).
	SwitchableName
	Location // compound: Latitude, Longitude
)

// Components returns the component names of a compound kind, in schema
// order, or nil.
func (k Kind) Components() []string {
	switch k {
	case Address:
		return []string{"Street", "City", "State", "PostalCode", "Country", "StateCode", "CountryCode", "Latitude", "Longitude", "GeocodeAccuracy"}
	case PersonName, SwitchableName:
		return []string{"Salutation", "FirstName", "LastName", "MiddleName", "Suffix"}
	case Location:
		return []string{"Latitude", "Longitude"}
	}
	return nil
}

func (k Kind) typeName() string {
	switch k {
	case Address:
		return "Address"
	case PersonName:
		return "PersonName"
	case SwitchableName:
		return "Switchable_PersonName"
	case Location:
		return "Location"
	}
	return ""
}

func (k Kind) avroPrimitive() string {
	switch k {
	case Boolean:
		return "boolean"
	case Int:
		return "int"
	case Double:
		return "double"
	case DateTime, Date:
		return "long"
	}
	return "string"
}

func componentPrimitive(name string) string {
	if name == "Latitude" || name == "Longitude" {
		return "double"
	}
	return "string"
}

// Field is one record field of an object.
type Field struct {
	Name string
	Kind Kind
}

// Schema is the CDC schema of one object.
type Schema struct {
	Object string
	// Fields are the record fields after the header, in schema order:
	// bitmap position i+1 is Fields[i].
	Fields []Field
	// JSON is the Avro schema text.
	JSON  string
	codec *goavro.Codec
	index map[string]int // top-level position by field name
}

// New builds the CDC schema of object with fields in the given order.
func New(object string, fields ...Field) (*Schema, error) {
	s := &Schema{Object: object, Fields: fields, index: map[string]int{"ChangeEventHeader": 0}}
	defined := map[string]bool{}
	avroFields := []any{header()}
	for i, f := range fields {
		if _, dup := s.index[f.Name]; dup || f.Name == "" {
			return nil, fmt.Errorf("cdcschema: %s field %q is empty or repeated", object, f.Name)
		}
		s.index[f.Name] = i + 1
		var typ any
		switch f.Kind {
		case Address, PersonName, SwitchableName, Location:
			var rec any = f.Kind.typeName()
			if !defined[f.Kind.typeName()] {
				defined[f.Kind.typeName()] = true
				var comps []any
				for _, c := range f.Kind.Components() {
					comps = append(comps, map[string]any{"name": c, "type": []any{"null", componentPrimitive(c)}, "default": nil})
				}
				rec = map[string]any{"type": "record", "name": f.Kind.typeName(), "fields": comps}
			}
			if f.Kind == SwitchableName {
				typ = []any{"null", "string", rec}
			} else {
				typ = []any{"null", rec}
			}
		default:
			typ = []any{"null", f.Kind.avroPrimitive()}
		}
		avroFields = append(avroFields, map[string]any{"name": f.Name, "type": typ, "doc": "Data:" + f.Name, "default": nil})
	}
	name := object + "ChangeEvent"
	if base, ok := strings.CutSuffix(object, "__c"); ok {
		name = base + "__ChangeEvent"
	}
	b, err := json.Marshal(map[string]any{"type": "record", "name": name, "namespace": Namespace, "fields": avroFields})
	if err != nil {
		return nil, err
	}
	s.JSON = string(b)
	if s.codec, err = goavro.NewCodec(s.JSON); err != nil {
		return nil, fmt.Errorf("cdcschema: %s schema does not compile: %w", object, err)
	}
	return s, nil
}

func header() map[string]any {
	arr := map[string]any{"type": "array", "items": "string"}
	return map[string]any{"name": "ChangeEventHeader", "doc": "Data:ComplexValueType", "type": map[string]any{
		"type": "record", "name": "ChangeEventHeader", "fields": []any{
			map[string]any{"name": "entityName", "type": "string"},
			map[string]any{"name": "recordIds", "type": arr},
			map[string]any{"name": "changeType", "type": map[string]any{"type": "enum", "name": "ChangeType", "symbols": []any{
				"CREATE", "UPDATE", "DELETE", "UNDELETE", "GAP_CREATE", "GAP_UPDATE", "GAP_DELETE", "GAP_UNDELETE", "GAP_OVERFLOW", "SNAPSHOT"}}},
			map[string]any{"name": "changeOrigin", "type": "string"},
			map[string]any{"name": "transactionKey", "type": "string"},
			map[string]any{"name": "sequenceNumber", "type": "int"},
			map[string]any{"name": "commitTimestamp", "type": "long"},
			map[string]any{"name": "commitNumber", "type": "long"},
			map[string]any{"name": "commitUser", "type": "string"},
			map[string]any{"name": "nulledFields", "type": arr},
			map[string]any{"name": "diffFields", "type": arr},
			map[string]any{"name": "changedFields", "type": arr},
		}}}
}

// Bitmap encodes field names as Salesforce does: one "0x<HEX>" entry for
// top-level fields (omitted when only compound components are named) and
// one "<index>-0x<HEX>" entry per compound field with named components
// ("BillingAddress.Street"). Unknown names are an error.
func (s *Schema) Bitmap(names []string) ([]string, error) {
	var top []int
	compound := map[int][]int{}
	var order []int
	for _, n := range names {
		parent, comp, dotted := strings.Cut(n, ".")
		i, ok := s.index[parent]
		if !ok {
			return nil, fmt.Errorf("cdcschema: %s has no field %q", s.Object, parent)
		}
		if !dotted {
			top = append(top, i)
			continue
		}
		ci := -1
		if i > 0 {
			for j, c := range s.Fields[i-1].Kind.Components() {
				if c == comp {
					ci = j
				}
			}
		}
		if ci < 0 {
			return nil, fmt.Errorf("cdcschema: %s.%s has no component %q", s.Object, parent, comp)
		}
		if _, seen := compound[i]; !seen {
			order = append(order, i)
		}
		compound[i] = append(compound[i], ci)
	}
	var out []string
	if len(top) > 0 {
		out = append(out, "0x"+hexBits(top))
	}
	for _, i := range order {
		out = append(out, fmt.Sprintf("%d-0x%s", i, hexBits(compound[i])))
	}
	return out, nil
}

// hexBits formats the set of bit positions as upper-case hex of whole
// bytes without leading zero bytes, as Salesforce does ("0x01", "0x400800").
func hexBits(bits []int) string {
	top := 0
	for _, b := range bits {
		top = max(top, b)
	}
	digits := make([]byte, (top/8+1)*2)
	for _, b := range bits {
		digits[len(digits)-1-b/4] |= 1 << (b % 4)
	}
	for i, d := range digits {
		digits[i] = "0123456789ABCDEF"[d]
	}
	return string(digits)
}

// Header is a change event header.
type Header struct {
	EntityName     string
	RecordIDs      []string
	ChangeType     string
	ChangeOrigin   string
	TransactionKey string
	// SequenceNumber is the change's place in its transaction, from 1.
	SequenceNumber  int32
	CommitTimestamp int64
	// CommitNumber is the transaction's system change number: every event
	// of one transaction carries the same, and a later commit a larger
	// one. Salesforce always sends one, so encoding requires it;
	// [Transactions] hands them out.
	CommitNumber int64
	CommitUser   string
	// Field names; Encode turns them into bitmaps.
	ChangedFields, NulledFields, DiffFields []string
}

// Native returns the event in goavro's native form. values holds top-level
// fields by name and compound components by dotted name; a compound field
// may also be given whole as a map of components. Account names (the
// three-way union) given as a string take the string branch.
func (s *Schema) Native(h Header, values map[string]any) (map[string]any, error) {
	if h.CommitNumber <= 0 {
		return nil, fmt.Errorf("cdcschema: %s %s event has no commit number; Salesforce numbers every commit: take one from Transactions.Next", s.Object, h.ChangeType)
	}
	changed, err := s.Bitmap(h.ChangedFields)
	if err != nil {
		return nil, err
	}
	nulled, err := s.Bitmap(h.NulledFields)
	if err != nil {
		return nil, err
	}
	diff, err := s.Bitmap(h.DiffFields)
	if err != nil {
		return nil, err
	}
	if h.EntityName == "" {
		h.EntityName = s.Object
	}
	rec := map[string]any{"ChangeEventHeader": map[string]any{
		"entityName": h.EntityName, "recordIds": strs(h.RecordIDs), "changeType": h.ChangeType,
		"changeOrigin": h.ChangeOrigin, "transactionKey": h.TransactionKey, "sequenceNumber": h.SequenceNumber,
		"commitTimestamp": h.CommitTimestamp, "commitNumber": h.CommitNumber, "commitUser": h.CommitUser,
		"nulledFields": strs(nulled), "diffFields": strs(diff), "changedFields": strs(changed),
	}}
	comps := map[string]map[string]any{}
	for name, v := range values {
		parent, comp, dotted := strings.Cut(name, ".")
		if _, ok := s.index[parent]; !ok || parent == "ChangeEventHeader" {
			return nil, fmt.Errorf("cdcschema: %s has no field %q", s.Object, parent)
		}
		if dotted {
			if comps[parent] == nil {
				comps[parent] = map[string]any{}
			}
			comps[parent][comp] = v
		} else if m, ok := v.(map[string]any); ok {
			if comps[parent] == nil {
				comps[parent] = map[string]any{}
			}
			for k, cv := range m {
				comps[parent][k] = cv
			}
		} else {
			rec[parent] = v
		}
	}
	for _, f := range s.Fields {
		v, set := rec[f.Name]
		c := comps[f.Name]
		switch {
		case c != nil:
			inner := map[string]any{}
			for _, cn := range f.Kind.Components() {
				if cv, ok := c[cn]; ok && cv != nil {
					inner[cn] = goavro.Union(componentPrimitive(cn), cv)
				} else {
					inner[cn] = nil
				}
			}
			rec[f.Name] = goavro.Union(Namespace+"."+f.Kind.typeName(), inner)
		case !set || v == nil:
			rec[f.Name] = nil
		case f.Kind == SwitchableName:
			rec[f.Name] = goavro.Union("string", v)
		default:
			rec[f.Name] = goavro.Union(f.Kind.avroPrimitive(), v)
		}
	}
	return rec, nil
}

// Encode returns the Avro binary payload of the event.
func (s *Schema) Encode(h Header, values map[string]any) ([]byte, error) {
	rec, err := s.Native(h, values)
	if err != nil {
		return nil, err
	}
	b, err := s.codec.BinaryFromNative(nil, rec)
	if err != nil {
		return nil, fmt.Errorf("cdcschema: encode %s event: %w", s.Object, err)
	}
	return b, nil
}

func strs(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}
