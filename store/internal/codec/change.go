package codec

import (
	"crypto/sha256"
	"encoding"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/internal/bounded"
)

// tag is the key that marks an encoded value in a change's JSON: an object
// holding it is never a plain map (a plain map that has the key is written
// in the entries form, which is tagged itself).
const tag = "$sfsync"

// The kinds of tagged values.
const (
	kindText        = "text"        // a string that is not valid UTF-8 or holds NUL: base64
	kindBytes       = "bytes"       // a []byte: base64
	kindFloat       = "float"       // NaN, +Inf or -Inf
	kindMap         = "map"         // a map with keys JSON cannot hold as they are: entries
	kindTime        = "time"        // a time JSON cannot write (year outside 0-9999)
	kindCut         = "cut"         // a value over the bounds: its length, hash and beginning
	kindUnencodable = "unencodable" // a value JSON cannot hold (channel, function, ...): its type and text
)

// maxDepth bounds nesting of field values, which also stops cycles.
const maxDepth = 64

// maxStoredDepth bounds the JSON nesting of a stored change: a map value
// is written three levels deep ({"$sfsync": "map", "entries": [[k, v]]}),
// and the change itself wraps its fields in two more.
const maxStoredDepth = 3*maxDepth + 8

// changeJSON is the stored shape of a change. Its names are those
// encoding/json gives sfsync.Change, so dead letters stored before this
// encoding still decode.
type changeJSON struct {
	Source   str
	Tenant   str
	Object   str
	RecordID str
	Op       str
	Fields   json.RawMessage
	Nulled   []str
	Reread   []str
	Version  versionJSON
	Origin   originJSON
	Key      str
	Position positionJSON
	Schema   str
	Raw      *rawJSON `json:",omitempty"`
	Snapshot bool     `json:",omitempty"`
}

type versionJSON struct {
	Time    timeJSON
	Commit  int64
	Seq     int64
	Counter int64
}

type originJSON struct{ ChangeOrigin, Client, User, Transaction str }

type positionJSON struct {
	Stream str
	Token  []byte
}

type rawJSON struct {
	Payload []byte
	Reason  str
}

// EncodeChange returns c as JSON. It never fails: values JSON cannot hold
// exactly are tagged so that [DecodeChange] restores them (non-finite
// floats, strings that are not UTF-8 or hold NUL, byte slices), and values
// over the bounds or of types JSON cannot hold are replaced by a
// description (see the package documentation).
func EncodeChange(c sfsync.Change) []byte {
	e := encoder{budget: ChangeLimit}
	j := changeJSON{
		Source: str(c.Source), Tenant: str(c.Tenant), Object: str(c.Object), RecordID: str(c.RecordID), Op: str(c.Op),
		Nulled: strs(c.Nulled), Reread: strs(c.Reread),
		Version:  versionJSON{Time: timeJSON(c.Version.Time), Commit: c.Version.Commit, Seq: c.Version.Seq, Counter: c.Version.Counter},
		Origin:   originJSON{str(c.Origin.ChangeOrigin), str(c.Origin.Client), str(c.Origin.User), str(c.Origin.Transaction)},
		Key:      str(c.Key),
		Position: positionJSON{Stream: str(c.Position.Stream), Token: c.Position.Token},
		Schema:   str(c.Schema),
		Snapshot: c.Snapshot,
	}
	if c.Raw != nil {
		j.Raw = &rawJSON{Payload: c.Raw.Payload, Reason: str(c.Raw.Reason)}
		if n := len(c.Raw.Payload); n > min(ValueLimit, e.budget) {
			keep := min(ValueLimit, e.budget)
			sum := sha256.Sum256(c.Raw.Payload)
			j.Raw.Payload = c.Raw.Payload[:keep]
			j.Raw.Reason += str(fmt.Sprintf(" [payload cut: first %d of %d bytes kept, sha256 %x]", keep, n, sum))
		}
		e.budget -= len(j.Raw.Payload)
	}
	var fields any
	if c.Fields != nil {
		fields = e.plain(c.Fields, 0)
	}
	// Every value is now of a type json writes without error.
	j.Fields, _ = json.Marshal(fields)
	b, err := json.Marshal(j)
	if err != nil {
		// Not reachable with the types above; kept total all the same.
		b, _ = json.Marshal(map[string]any{tag: kindUnencodable, "error": err.Error(), "key": str(c.Key)})
	}
	return b
}

// DecodeChange reverses [EncodeChange]. It also reads changes stored as
// plain encoding/json output. Numbers come back as float64; described
// values come back as the description, a map[string]any whose "$sfsync"
// entry says what it describes.
//
// A stored change is data from outside too (a database others can write,
// a file restored from elsewhere): one nested deeper than EncodeChange
// ever writes is an error matching [bounded.ErrTooLarge], found before
// anything is decoded.
func DecodeChange(b []byte) (sfsync.Change, error) {
	if err := bounded.JSONDepth(b, maxStoredDepth); err != nil {
		return sfsync.Change{}, fmt.Errorf("decode stored change: not written by this library: %w", err)
	}
	var j changeJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return sfsync.Change{}, fmt.Errorf("decode stored change: %w", err)
	}
	c := sfsync.Change{
		Source: sfsync.System(j.Source), Tenant: string(j.Tenant), Object: string(j.Object), RecordID: string(j.RecordID),
		Op: sfsync.Op(j.Op), Nulled: unstrs(j.Nulled), Reread: unstrs(j.Reread),
		Version: sfsync.Version{Time: time.Time(j.Version.Time), Commit: j.Version.Commit, Seq: j.Version.Seq, Counter: j.Version.Counter},
		Origin: sfsync.Origin{ChangeOrigin: string(j.Origin.ChangeOrigin), Client: string(j.Origin.Client),
			User: string(j.Origin.User), Transaction: string(j.Origin.Transaction)},
		Key:      string(j.Key),
		Position: sfsync.Position{Stream: string(j.Position.Stream), Token: j.Position.Token},
		Schema:   string(j.Schema),
		Snapshot: j.Snapshot,
	}
	if j.Raw != nil {
		c.Raw = &sfsync.RawEvent{Payload: j.Raw.Payload, Reason: string(j.Raw.Reason)}
	}
	if len(j.Fields) > 0 {
		var fields any
		if err := json.Unmarshal(j.Fields, &fields); err != nil {
			return sfsync.Change{}, fmt.Errorf("decode stored change fields: %w", err)
		}
		switch f := unplain(fields).(type) {
		case nil:
		case map[string]any:
			c.Fields = f
		default:
			return sfsync.Change{}, fmt.Errorf("decode stored change fields: got %T, want an object", f)
		}
	}
	return c, nil
}

// encoder turns field values into trees of what JSON holds exactly.
type encoder struct {
	budget int // bytes of strings and byte slices still to keep whole
}

// plain returns v as nil, bool, float64 (finite), an integer, json.Number,
// a clean string, []any or map[string]any, with tagged objects for the
// rest.
func (e *encoder) plain(v any, depth int) any {
	if depth > maxDepth {
		return map[string]any{tag: kindUnencodable, "type": fmt.Sprintf("%T", v), "value": "nested deeper than " + strconv.Itoa(maxDepth) + " levels"}
	}
	switch x := v.(type) {
	case nil, bool, json.Number,
		int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		return x
	case string:
		return e.str(x)
	case []byte:
		return e.bytes(x)
	case float64:
		return float(x)
	case float32:
		return float(float64(x))
	case map[string]any:
		return e.object(len(x), func(yield func(string, any)) {
			for k, v := range x {
				yield(k, v)
			}
		}, depth)
	case []any:
		out := make([]any, len(x))
		for i, v := range x {
			out[i] = e.plain(v, depth+1)
		}
		return out
	case json.Marshaler, encoding.TextMarshaler:
		return e.viaJSON(v, depth)
	}
	return e.reflect(reflect.ValueOf(v), depth)
}

// reflect handles the types plain has no case for: named and composite
// kinds by their underlying kind, anything else through encoding/json.
func (e *encoder) reflect(rv reflect.Value, depth int) any {
	switch rv.Kind() {
	case reflect.Pointer, reflect.Interface:
		if rv.IsNil() {
			return nil
		}
		return e.plain(rv.Elem().Interface(), depth+1)
	case reflect.Bool:
		return rv.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return rv.Int()
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return rv.Uint()
	case reflect.Float32, reflect.Float64:
		return float(rv.Float())
	case reflect.String:
		return e.str(rv.String())
	case reflect.Slice, reflect.Array:
		if rv.Kind() == reflect.Slice && rv.IsNil() {
			return nil
		}
		if rv.Type().Elem().Kind() == reflect.Uint8 {
			b := make([]byte, rv.Len())
			reflect.Copy(reflect.ValueOf(b), rv)
			return e.bytes(b)
		}
		out := make([]any, rv.Len())
		for i := range out {
			out[i] = e.plain(rv.Index(i).Interface(), depth+1)
		}
		return out
	case reflect.Map:
		if rv.Type().Key().Kind() == reflect.String {
			if rv.IsNil() {
				return nil
			}
			return e.object(rv.Len(), func(yield func(string, any)) {
				for it := rv.MapRange(); it.Next(); {
					yield(it.Key().String(), it.Value().Interface())
				}
			}, depth)
		}
	case reflect.Struct:
		return e.viaJSON(rv.Interface(), depth)
	}
	return unencodable(rv.Interface(), "JSON has no form for it")
}

// viaJSON stores v as encoding/json writes it (which is how it comes back),
// or describes it when encoding/json cannot.
func (e *encoder) viaJSON(v any, depth int) any {
	b, err := json.Marshal(v)
	if err != nil {
		return unencodable(v, err.Error())
	}
	var tree any
	if err := json.Unmarshal(b, &tree); err != nil {
		return unencodable(v, err.Error())
	}
	return e.plain(tree, depth+1)
}

// object writes a map as a JSON object, or in the tagged entries form when
// a key is the tag or is not clean text (JSON object keys are strings,
// encoding/json would replace invalid UTF-8 and jsonb refuses NUL).
func (e *encoder) object(n int, each func(yield func(string, any)), depth int) any {
	out := make(map[string]any, n)
	entries := false
	each(func(k string, v any) {
		out[k] = e.plain(v, depth+1)
		entries = entries || k == tag || !Clean(k)
	})
	if !entries {
		return out
	}
	list := make([]any, 0, len(out))
	for k, v := range out {
		list = append(list, []any{e.str(k), v})
	}
	return map[string]any{tag: kindMap, "entries": list}
}

func (e *encoder) str(s string) any {
	if len(s) > min(ValueLimit, e.budget) {
		return e.cut([]byte(s), true)
	}
	e.budget -= len(s)
	if Clean(s) {
		return s
	}
	return map[string]any{tag: kindText, "base64": base64.StdEncoding.EncodeToString([]byte(s))}
}

func (e *encoder) bytes(b []byte) any {
	if len(b) > min(ValueLimit, e.budget) {
		return e.cut(b, false)
	}
	e.budget -= len(b)
	return map[string]any{tag: kindBytes, "base64": base64.StdEncoding.EncodeToString(b)}
}

// cut describes a value over the bounds and keeps as much of its beginning
// as the budget allows.
func (e *encoder) cut(b []byte, text bool) any {
	keep := max(0, min(len(b), ValueLimit, e.budget))
	if text {
		for keep > 0 && keep < len(b) && !utf8.RuneStart(b[keep]) {
			keep--
		}
	}
	e.budget -= keep
	sum := sha256.Sum256(b)
	d := map[string]any{tag: kindCut, "bytes": len(b), "sha256": hex.EncodeToString(sum[:]), "kept": keep,
		"head": base64.StdEncoding.EncodeToString(b[:keep])}
	if text {
		d["type"] = "string"
	} else {
		d["type"] = "[]byte"
	}
	return d
}

func float(f float64) any {
	switch {
	case math.IsNaN(f):
		return map[string]any{tag: kindFloat, "value": "NaN"}
	case math.IsInf(f, 1):
		return map[string]any{tag: kindFloat, "value": "+Inf"}
	case math.IsInf(f, -1):
		return map[string]any{tag: kindFloat, "value": "-Inf"}
	}
	return f
}

func unencodable(v any, why string) any {
	return map[string]any{tag: kindUnencodable, "type": fmt.Sprintf("%T", v), "why": Text(why, 512),
		"value": Text(fmt.Sprintf("%v", v), 512)}
}

// unplain reverses plain. Descriptions (cut, unencodable) stay maps.
func unplain(v any) any {
	switch x := v.(type) {
	case []any:
		for i := range x {
			x[i] = unplain(x[i])
		}
		return x
	case map[string]any:
		kind, tagged := x[tag].(string)
		if !tagged {
			for k, v := range x {
				x[k] = unplain(v)
			}
			return x
		}
		switch kind {
		case kindText, kindBytes:
			if s, ok := x["base64"].(string); ok {
				if b, err := base64.StdEncoding.DecodeString(s); err == nil {
					if kind == kindText {
						return string(b)
					}
					return b
				}
			}
		case kindFloat:
			switch x["value"] {
			case "NaN":
				return math.NaN()
			case "+Inf":
				return math.Inf(1)
			case "-Inf":
				return math.Inf(-1)
			}
		case kindMap:
			if list, ok := x["entries"].([]any); ok {
				out := make(map[string]any, len(list))
				for _, kv := range list {
					if pair, ok := kv.([]any); ok && len(pair) == 2 {
						if k, ok := unplain(pair[0]).(string); ok {
							out[k] = unplain(pair[1])
						}
					}
				}
				return out
			}
		}
		return x
	}
	return v
}

// str is a string of a change that JSON holds as itself when it is clean,
// and tagged as base64 when it is not.
type str string

func (s str) MarshalJSON() ([]byte, error) {
	if Clean(string(s)) {
		return json.Marshal(string(s))
	}
	return json.Marshal(map[string]string{tag: kindText, "base64": base64.StdEncoding.EncodeToString([]byte(s))})
}

func (s *str) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '{' {
		var t struct {
			Kind   string `json:"$sfsync"`
			Base64 []byte `json:"base64"`
		}
		if err := json.Unmarshal(b, &t); err != nil {
			return err
		}
		*s = str(t.Base64)
		return nil
	}
	var v string
	err := json.Unmarshal(b, &v)
	*s = str(v)
	return err
}

func strs(ss []string) []str {
	if ss == nil {
		return nil
	}
	out := make([]str, len(ss))
	for i, s := range ss {
		out[i] = str(s)
	}
	return out
}

func unstrs(ss []str) []string {
	if ss == nil {
		return nil
	}
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = string(s)
	}
	return out
}

// timeJSON is a time as encoding/json writes it (RFC 3339, with its
// offset) when it can, else tagged as Unix seconds and nanoseconds.
type timeJSON time.Time

func (t timeJSON) MarshalJSON() ([]byte, error) {
	if b, err := time.Time(t).MarshalJSON(); err == nil {
		return b, nil
	}
	u := time.Time(t)
	return json.Marshal(map[string]any{tag: kindTime, "unix": u.Unix(), "nanos": u.Nanosecond()})
}

func (t *timeJSON) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '{' {
		var v struct {
			Unix  int64 `json:"unix"`
			Nanos int64 `json:"nanos"`
		}
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*t = timeJSON(time.Unix(v.Unix, v.Nanos).UTC())
		return nil
	}
	return (*time.Time)(t).UnmarshalJSON(b)
}
