package pubsub

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"time"

	"github.com/linkedin/goavro/v2"
)

// encode turns plain field values into the record's Avro binary.
func (e *publishEncoder) encode(fields map[string]any) ([]byte, error) {
	native, err := e.record.wrap(fields)
	if err != nil {
		return nil, err
	}
	rec := native.(map[string]any)
	for _, f := range e.record.fields {
		if _, set := rec[f.name]; set || f.hasDefault {
			continue
		}
		switch {
		case f.name == "CreatedDate" && f.typ.kind == "long":
			rec[f.name] = time.Now().UnixMilli()
		case f.name == "CreatedById" && f.typ.kind == "string":
			rec[f.name] = ""
		}
	}
	return e.codec.BinaryFromNative(nil, rec)
}

// avroType is what encoding needs of an Avro type: its kind, the name a
// union branch of it goes by, and its parts.
type avroType struct {
	kind     string // primitive name, "record", "enum", "fixed", "array", "map" or "union"
	name     string // union branch name: the full name of a named type, else kind
	branches []*avroType
	fields   []avroField
	symbols  map[string]bool
	size     int
	items    *avroType // array items or map values
}

type avroField struct {
	name       string
	typ        *avroType
	hasDefault bool
}

func parseAvroType(schemaJSON string) (*avroType, error) {
	var raw any
	if err := json.Unmarshal([]byte(schemaJSON), &raw); err != nil {
		return nil, fmt.Errorf("schema is not JSON: %w", err)
	}
	p := avroParser{named: map[string]*avroType{}}
	return p.parse(raw, "")
}

type avroParser struct {
	named map[string]*avroType
}

func (p *avroParser) parse(t any, namespace string) (*avroType, error) {
	switch t := t.(type) {
	case string:
		if avroPrimitives[t] {
			return &avroType{kind: t, name: t}, nil
		}
		if n, ok := p.named[fullName(t, namespace)]; ok {
			return n, nil
		}
		if n, ok := p.named[t]; ok {
			return n, nil
		}
		return nil, fmt.Errorf("unknown type %q", t)
	case []any:
		u := &avroType{kind: "union", name: "union"}
		for _, b := range t {
			bt, err := p.parse(b, namespace)
			if err != nil {
				return nil, err
			}
			u.branches = append(u.branches, bt)
		}
		return u, nil
	case map[string]any:
		typ, _ := t["type"].(string)
		switch typ {
		case "record", "error", "enum", "fixed":
		case "array", "map":
			sub := t["items"]
			if typ == "map" {
				sub = t["values"]
			}
			it, err := p.parse(sub, namespace)
			if err != nil {
				return nil, err
			}
			return &avroType{kind: typ, name: typ, items: it}, nil
		default:
			return p.parse(t["type"], namespace)
		}
		name, _ := t["name"].(string)
		if name == "" {
			return nil, fmt.Errorf("a %s without a name", typ)
		}
		if ns, ok := t["namespace"].(string); ok && !strings.Contains(name, ".") {
			namespace = ns
		}
		full := fullName(name, namespace)
		if i := strings.LastIndex(full, "."); i >= 0 {
			namespace = full[:i]
		}
		n := &avroType{kind: typ, name: full}
		if typ == "error" {
			n.kind = "record"
		}
		p.named[full] = n
		if _, taken := p.named[name]; !taken {
			p.named[name] = n
		}
		switch typ {
		case "enum":
			syms, _ := t["symbols"].([]any)
			n.symbols = make(map[string]bool, len(syms))
			for _, s := range syms {
				if s, ok := s.(string); ok {
					n.symbols[s] = true
				}
			}
		case "fixed":
			size, _ := t["size"].(float64)
			n.size = int(size)
		default:
			rawFields, _ := t["fields"].([]any)
			for _, rf := range rawFields {
				fm, ok := rf.(map[string]any)
				if !ok {
					return nil, fmt.Errorf("record %s has a malformed field", full)
				}
				fname, _ := fm["name"].(string)
				ft, err := p.parse(fm["type"], namespace)
				if err != nil {
					return nil, fmt.Errorf("field %s.%s: %w", full, fname, err)
				}
				_, hasDefault := fm["default"]
				n.fields = append(n.fields, avroField{name: fname, typ: ft, hasDefault: hasDefault})
			}
		}
		return n, nil
	}
	return nil, fmt.Errorf("malformed type %v", t)
}

// wrap returns v in goavro's native form for t: union values wrapped in
// their branch, recursively.
func (t *avroType) wrap(v any) (any, error) {
	switch t.kind {
	case "union":
		if v == nil {
			for _, b := range t.branches {
				if b.kind == "null" {
					return nil, nil
				}
			}
			return nil, errors.New("null for a union without a null branch")
		}
		if m, ok := v.(map[string]any); ok && len(m) == 1 {
			for name, inner := range m {
				for _, b := range t.branches {
					if b.name == name {
						w, err := b.wrap(inner) // already in union form
						if err != nil {
							return nil, err
						}
						return goavro.Union(name, w), nil
					}
				}
			}
		}
		for _, b := range t.branches {
			if b.kind != "null" && b.fits(v) {
				w, err := b.wrap(v)
				if err != nil {
					return nil, err
				}
				return goavro.Union(b.name, w), nil
			}
		}
		names := make([]string, len(t.branches))
		for i, b := range t.branches {
			names[i] = b.name
		}
		return nil, fmt.Errorf("a %T value fits no branch of %v", v, names)
	case "record":
		m, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("a %T value for record %s", v, t.name)
		}
		out := make(map[string]any, len(m))
		known := make(map[string]bool, len(t.fields))
		for _, f := range t.fields {
			known[f.name] = true
			fv, set := m[f.name]
			if !set {
				continue
			}
			w, err := f.typ.wrap(fv)
			if err != nil {
				return nil, fmt.Errorf("field %s: %w", f.name, err)
			}
			out[f.name] = w
		}
		for name := range m {
			if !known[name] {
				return nil, fmt.Errorf("field %s is not in record %s", name, t.name)
			}
		}
		return out, nil
	case "array":
		arr, ok := v.([]any)
		if !ok {
			return v, nil
		}
		out := make([]any, len(arr))
		for i, e := range arr {
			w, err := t.items.wrap(e)
			if err != nil {
				return nil, fmt.Errorf("item %d: %w", i, err)
			}
			out[i] = w
		}
		return out, nil
	case "map":
		m, ok := v.(map[string]any)
		if !ok {
			return v, nil
		}
		out := make(map[string]any, len(m))
		for k, e := range m {
			w, err := t.items.wrap(e)
			if err != nil {
				return nil, fmt.Errorf("key %s: %w", k, err)
			}
			out[k] = w
		}
		return out, nil
	}
	return v, nil
}

// fits reports whether v can be encoded as t without conversion loss.
func (t *avroType) fits(v any) bool {
	rv := reflect.ValueOf(v)
	switch t.kind {
	case "null":
		return v == nil
	case "boolean":
		return rv.Kind() == reflect.Bool
	case "int":
		switch rv.Kind() {
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			return rv.Int() >= math.MinInt32 && rv.Int() <= math.MaxInt32
		case reflect.Uint8, reflect.Uint16:
			return true
		}
		return false
	case "long":
		switch rv.Kind() {
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint8, reflect.Uint16, reflect.Uint32:
			return true
		}
		return false
	case "float", "double":
		switch rv.Kind() {
		case reflect.Float32, reflect.Float64, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			return true
		}
		return false
	case "string":
		return rv.Kind() == reflect.String
	case "bytes":
		_, ok := v.([]byte)
		return ok
	case "fixed":
		b, ok := v.([]byte)
		return ok && len(b) == t.size
	case "enum":
		s, ok := v.(string)
		return ok && t.symbols[s]
	case "array":
		return rv.Kind() == reflect.Slice && rv.Type().Elem().Kind() != reflect.Uint8
	case "map":
		return rv.Kind() == reflect.Map && rv.Type().Key().Kind() == reflect.String
	case "record":
		_, ok := v.(map[string]any)
		return ok
	}
	return false
}
