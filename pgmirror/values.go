package pgmirror

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/sfsync/sfsync"
)

// toText renders a change's value as the text PostgreSQL casts to the
// column's type. Casting on the server keeps one code path for every type
// and lets the server refuse what does not fit (a data error, permanent
// for that change alone).
func toText(v any, typ Type) (string, error) {
	if typ == JSON {
		b, err := json.Marshal(v)
		if err != nil {
			return "", sfsync.Permanent(fmt.Errorf("value %v cannot be stored as JSON: %w", v, err))
		}
		return string(b), nil
	}
	switch x := v.(type) {
	case string:
		return x, nil
	case bool:
		return strconv.FormatBool(x), nil
	case int:
		return strconv.Itoa(x), nil
	case int32:
		return strconv.FormatInt(int64(x), 10), nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case float32:
		return floatText(float64(x))
	case float64:
		return floatText(x)
	case json.Number:
		return x.String(), nil
	case time.Time:
		if typ == Date {
			return x.Format(time.DateOnly), nil
		}
		return x.UTC().Format(time.RFC3339Nano), nil
	case []byte:
		return string(x), nil
	case fmt.Stringer:
		return x.String(), nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "", sfsync.Permanent(fmt.Errorf("value %v (%T) has no text form: %w", v, v, err))
	}
	return string(b), nil
}

func floatText(f float64) (string, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		// numeric takes NaN and ±Infinity, but no other system round-trips
		// them; the engine dead-letters such values before they get here.
		return strconv.FormatFloat(f, 'g', -1, 64), nil
	}
	return strconv.FormatFloat(f, 'f', -1, 64), nil
}

// fromJSON turns a column's value in to_jsonb form into the Go value the
// engine compares and writes to Salesforce: strings, float64, bool,
// time.Time for timestamps, "YYYY-MM-DD" strings for dates, and decoded
// JSON for jsonb.
func fromJSON(raw json.RawMessage, typ Type) (any, error) {
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, nil
	}
	switch typ {
	case Numeric:
		var n json.Number
		if err := json.Unmarshal(raw, &n); err != nil {
			return nil, err
		}
		return n.Float64()
	case Boolean:
		var b bool
		err := json.Unmarshal(raw, &b)
		return b, err
	case Timestamp:
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, err
		}
		return time.Parse(time.RFC3339Nano, s)
	case JSON:
		var v any
		d := json.NewDecoder(bytes.NewReader(raw))
		err := d.Decode(&v)
		return v, err
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		// A text column a user gave another type: keep its JSON text.
		return string(raw), nil
	}
	return s, nil
}

// stamp is one entry of a row's sfsync_versions: the version and writer
// of a field, or of the record under the empty name.
type stamp struct {
	Time    *time.Time `json:"t,omitempty"`
	Commit  int64      `json:"c,omitempty"`
	Seq     int64      `json:"s,omitempty"`
	Counter int64      `json:"n,omitempty"`
	Writer  string     `json:"w,omitempty"`
}

func stampOf(v sfsync.Version, writer sfsync.System) stamp {
	s := stamp{Commit: v.Commit, Seq: v.Seq, Counter: v.Counter, Writer: string(writer)}
	if !v.Time.IsZero() {
		t := v.Time.UTC()
		s.Time = &t
	}
	return s
}

func (s stamp) version() sfsync.Version {
	v := sfsync.Version{Commit: s.Commit, Seq: s.Seq, Counter: s.Counter}
	if s.Time != nil {
		v.Time = s.Time.UTC()
	}
	return v
}

// stamps returns the sfsync_versions entries a change writes: one per
// field it sets and one for the record.
func stamps(c *sfsync.Change, fields []string) ([]byte, error) {
	st := stampOf(c.Version, c.Source)
	out := make(map[string]stamp, len(fields)+1)
	for _, f := range fields {
		out[f] = st
	}
	out[""] = st
	return json.Marshal(out)
}

// record builds the engine's view of a row from its to_jsonb form.
func (t *table) record(id string, row map[string]json.RawMessage) (sfsync.Record, error) {
	r := sfsync.Record{Object: t.entity, ID: id, Exists: true, Fields: make(map[string]any, len(t.columns))}
	for _, c := range t.columns {
		v, err := fromJSON(row[c.name], c.typ)
		if err != nil {
			return r, fmt.Errorf("pgmirror: reading %s.%s of %s: %w", t.name, c.name, id, err)
		}
		r.Fields[c.name] = v
	}
	var deleted bool
	_ = json.Unmarshal(row["is_deleted"], &deleted)
	r.Deleted = deleted
	var vs map[string]stamp
	if raw := row["sfsync_versions"]; len(raw) > 0 {
		if err := json.Unmarshal(raw, &vs); err != nil {
			return r, fmt.Errorf("pgmirror: reading sfsync_versions of %s %s: %w; it holds what the mirror wrote, do not edit it", t.name, id, err)
		}
	}
	if len(vs) > 0 {
		r.FieldVersions = make(map[string]sfsync.Version, len(vs))
		r.LastWriter = make(map[string]sfsync.System, len(vs))
	}
	for name, s := range vs {
		v := s.version()
		if name != "" {
			r.FieldVersions[name] = v
		}
		if r.Version.Before(v) {
			r.Version = v
		}
		if s.Writer != "" {
			r.LastWriter[name] = sfsync.System(s.Writer)
		}
	}
	return r, nil
}
