package salesforcetest

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/linkedin/goavro/v2"

	"github.com/sfsync/sfsync/internal/cdcschema"
)

// Datetime layout of REST responses.
const sfTime = "2006-01-02T15:04:05.000+0000"

// EmptyRecordID is the record id of overflow events.
const EmptyRecordID = "000000000000000AAA"

// TopicAll is the multi-entity change event channel.
const TopicAll = "/data/ChangeEvents"

type fieldDef struct {
	Name     string
	Kind     cdcschema.Kind // primitive kind of the REST value
	CDC      string         // CDC field or "Parent.Component"; "" when not in CDC
	ReadOnly bool
	Required bool
	ExtID    bool
	computed func(vals map[string]any) any
}

type objectDef struct {
	Name      string
	Prefix    string
	Topic     string
	cdcFields []cdcschema.Field
	schema    *cdcschema.Schema
	codec     *goavro.Codec
	schemaID  string
	fields    []*fieldDef
	byLower   map[string]*fieldDef
}

type record struct {
	obj       *objectDef
	id        string
	vals      map[string]any // REST field name -> stored value (time.Time for dates)
	deleted   bool
	deletedAt time.Time
	seq       int64
}

func (r *record) clone() *record {
	cp := *r
	cp.vals = make(map[string]any, len(r.vals))
	for k, v := range r.vals {
		cp.vals[k] = v
	}
	return &cp
}

func topicFor(object string) string {
	if base, ok := strings.CutSuffix(object, "__c"); ok {
		return "/data/" + base + "__ChangeEvent"
	}
	return "/data/" + object + "ChangeEvent"
}

func (o *Org) setupObjects() error {
	emp := cdcschema.EmployeeFields()
	if !slices.ContainsFunc(emp, func(f cdcschema.Field) bool { return f.Name == "External_Id__c" }) {
		emp = append(emp, cdcschema.Field{Name: "External_Id__c", Kind: cdcschema.String})
	}
	defs := []struct {
		name, prefix string
		fields       []cdcschema.Field
		required     []string
	}{
		{"Account", "001", cdcschema.AccountFields(), []string{"Name"}},
		{"Contact", "003", cdcschema.ContactFields(), []string{"LastName"}},
		{"Employee__c", "a01", emp, nil},
	}
	var first string
	for _, d := range defs {
		def := &objectDef{Name: d.name, Prefix: d.prefix, Topic: topicFor(d.name), cdcFields: d.fields}
		if err := def.rebuild(); err != nil {
			return err
		}
		for _, n := range d.required {
			def.byLower[strings.ToLower(n)].Required = true
		}
		id, err := o.ps.AddTopic(def.Topic, def.schema.JSON)
		if err != nil {
			return err
		}
		def.schemaID = id
		o.objects[strings.ToLower(d.name)] = def
		if first == "" {
			first = def.schema.JSON
		}
	}
	_, err := o.ps.AddTopic(TopicAll, first)
	return err
}

// rebuild derives the CDC schema and the REST fields from cdcFields,
// keeping flags of fields that already existed.
func (d *objectDef) rebuild() error {
	s, err := cdcschema.New(d.Name, d.cdcFields...)
	if err != nil {
		return err
	}
	codec, err := goavro.NewCodec(s.JSON)
	if err != nil {
		return err
	}
	old := d.byLower
	d.schema, d.codec = s, codec
	d.fields = []*fieldDef{{Name: "Id", Kind: cdcschema.String, ReadOnly: true},
		{Name: "IsDeleted", Kind: cdcschema.Boolean, ReadOnly: true}}
	for _, cf := range d.cdcFields {
		d.fields = append(d.fields, restFields(cf)...)
		if d.Name == "Contact" && cf.Kind == cdcschema.PersonName {
			d.fields = append(d.fields, &fieldDef{Name: "Name", Kind: cdcschema.String, ReadOnly: true, computed: contactName})
		}
	}
	d.fields = append(d.fields, &fieldDef{Name: "SystemModstamp", Kind: cdcschema.DateTime, ReadOnly: true})
	d.byLower = map[string]*fieldDef{}
	for _, f := range d.fields {
		switch f.Name {
		case "CreatedDate", "CreatedById", "LastModifiedDate", "LastModifiedById":
			f.ReadOnly = true
		case "External_Id__c":
			f.ExtID = true
		}
		if prev := old[strings.ToLower(f.Name)]; prev != nil {
			f.Required = prev.Required
		}
		d.byLower[strings.ToLower(f.Name)] = f
	}
	return nil
}

func contactName(v map[string]any) any {
	var parts []string
	for _, k := range []string{"Salutation", "FirstName", "MiddleName", "LastName", "Suffix"} {
		if s, ok := v[k].(string); ok && s != "" {
			parts = append(parts, s)
		}
	}
	if len(parts) == 0 {
		return nil
	}
	return strings.Join(parts, " ")
}

// restFields flattens a CDC field into REST fields.
func restFields(cf cdcschema.Field) []*fieldDef {
	comp := func(rest, c string) *fieldDef {
		k := cdcschema.String
		if c == "Latitude" || c == "Longitude" {
			k = cdcschema.Double
		}
		return &fieldDef{Name: rest, Kind: k, CDC: cf.Name + "." + c}
	}
	var out []*fieldDef
	switch cf.Kind {
	case cdcschema.Address:
		prefix := strings.TrimSuffix(cf.Name, "Address")
		for _, c := range cf.Kind.Components() {
			out = append(out, comp(prefix+c, c))
		}
	case cdcschema.PersonName:
		for _, c := range cf.Kind.Components() {
			out = append(out, comp(c, c))
		}
	case cdcschema.Location:
		for _, c := range cf.Kind.Components() {
			out = append(out, comp(cf.Name+"__"+c+"__s", c))
		}
	case cdcschema.SwitchableName:
		out = append(out, &fieldDef{Name: cf.Name, Kind: cdcschema.String, CDC: cf.Name})
	default:
		out = append(out, &fieldDef{Name: cf.Name, Kind: cf.Kind, CDC: cf.Name})
	}
	return out
}

// FieldKind is the type of a field [Org.AddField] adds, as the change
// event schema carries it.
type FieldKind int

// The field kinds.
const (
	KindString   FieldKind = iota + 1 // text, picklist, phone, url, email, id, reference
	KindBoolean                       // checkbox
	KindInt                           // integer
	KindDouble                        // number, currency, percent
	KindDateTime                      // epoch milliseconds
	KindDate                          // epoch milliseconds at 00:00 UTC
	// KindAddress is compound: Street, City, State, PostalCode, Country,
	// StateCode, CountryCode, Latitude, Longitude, GeocodeAccuracy.
	KindAddress
	// KindPersonName is compound: Salutation, FirstName, LastName,
	// MiddleName, Suffix.
	KindPersonName
	KindLocation // compound: Latitude, Longitude
)

// schemaKind maps k to the schema generator's kind. The zero FieldKind is
// not a kind, so that a forgotten argument is an error and not a string.
func (k FieldKind) schemaKind() (cdcschema.Kind, bool) {
	switch k {
	case KindString:
		return cdcschema.String, true
	case KindBoolean:
		return cdcschema.Boolean, true
	case KindInt:
		return cdcschema.Int, true
	case KindDouble:
		return cdcschema.Double, true
	case KindDateTime:
		return cdcschema.DateTime, true
	case KindDate:
		return cdcschema.Date, true
	case KindAddress:
		return cdcschema.Address, true
	case KindPersonName:
		return cdcschema.PersonName, true
	case KindLocation:
		return cdcschema.Location, true
	}
	return 0, false
}

// AddField adds a field to object, as an admin would: the CDC schema gets a
// new schema id on the object's topic and the REST API accepts the field
// (compound kinds add their flattened component fields).
func (o *Org) AddField(object, name string, fieldKind FieldKind) error {
	kind, ok := fieldKind.schemaKind()
	if !ok {
		return fmt.Errorf("salesforcetest: field %s.%s: unknown FieldKind %d; use one of the Kind constants", object, name, fieldKind)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	d := o.objects[strings.ToLower(object)]
	if d == nil {
		return fmt.Errorf("salesforcetest: unknown object %q", object)
	}
	if slices.ContainsFunc(d.cdcFields, func(f cdcschema.Field) bool { return strings.EqualFold(f.Name, name) }) {
		return fmt.Errorf("salesforcetest: %s already has field %q", d.Name, name)
	}
	prev := *d
	d.cdcFields = append(slices.Clone(d.cdcFields), cdcschema.Field{Name: name, Kind: kind})
	if err := d.rebuild(); err != nil {
		*d = prev
		return err
	}
	id, err := o.ps.SetSchema(d.Topic, d.schema.JSON)
	if err != nil {
		*d = prev
		return err
	}
	d.schemaID = id
	return nil
}

// SchemaID returns the current CDC schema id of object ("" if unknown).
func (o *Org) SchemaID(object string) string {
	o.mu.Lock()
	defer o.mu.Unlock()
	if d := o.objects[strings.ToLower(object)]; d != nil {
		return d.schemaID
	}
	return ""
}

// Topic returns the per-object change event channel of object, e.g.
// /data/AccountChangeEvent or /data/Employee__ChangeEvent.
func Topic(object string) string { return topicFor(object) }

// ---- ids ----

func idSuffix(id15 string) string {
	const tbl = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
	var out [3]byte
	for i := range 3 {
		flags := 0
		for j := range 5 {
			if c := id15[i*5+j]; c >= 'A' && c <= 'Z' {
				flags |= 1 << j
			}
		}
		out[i] = tbl[flags]
	}
	return string(out[:])
}

func (o *Org) newIDLocked(prefix string) string {
	o.nextID++
	base := prefix + fmt.Sprintf("%012d", o.nextID)
	return base + idSuffix(base)
}

// normID validates a 15- or 18-character id and returns the 18-char form.
func normID(id string) (string, bool) {
	if len(id) != 15 && len(id) != 18 {
		return "", false
	}
	for _, c := range id {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return "", false
		}
	}
	full := id[:15] + idSuffix(id[:15])
	if len(id) == 18 && !strings.EqualFold(id[15:], full[15:]) {
		return "", false
	}
	return full, true
}

// objectForID returns the object whose key prefix id carries.
func (o *Org) objectForIDLocked(id string) *objectDef {
	for _, d := range o.objects {
		if strings.HasPrefix(id, d.Prefix) {
			return d
		}
	}
	return nil
}

// ---- values ----

var errType = fmt.Errorf("wrong type")

// coerce converts a JSON or Go value to the stored form of f.
func coerce(f *fieldDef, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch f.Kind {
	case cdcschema.String:
		switch x := v.(type) {
		case string:
			return x, nil
		case json.Number:
			return x.String(), nil
		case bool:
			return strconv.FormatBool(x), nil
		case int, int32, int64, float64:
			return fmt.Sprint(x), nil
		}
	case cdcschema.Boolean:
		switch x := v.(type) {
		case bool:
			return x, nil
		case string:
			return strconv.ParseBool(x)
		}
	case cdcschema.Int:
		f, err := toFloat(v)
		if err != nil || f != math.Trunc(f) || math.Abs(f) > math.MaxInt32 {
			return nil, errType
		}
		return int64(f), nil
	case cdcschema.Double:
		return toFloat(v)
	case cdcschema.DateTime, cdcschema.Date:
		var t time.Time
		switch x := v.(type) {
		case time.Time:
			t = x
		case string:
			var err error
			if t, err = parseSFTime(x); err != nil {
				return nil, err
			}
		default:
			return nil, errType
		}
		t = t.UTC()
		if f.Kind == cdcschema.Date {
			return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC), nil
		}
		return t.Truncate(time.Millisecond), nil
	}
	return nil, errType
}

func toFloat(v any) (float64, error) {
	switch x := v.(type) {
	case json.Number:
		return x.Float64()
	case float64:
		return x, nil
	case float32:
		return float64(x), nil
	case int:
		return float64(x), nil
	case int32:
		return float64(x), nil
	case int64:
		return float64(x), nil
	case string:
		return strconv.ParseFloat(x, 64)
	}
	return 0, errType
}

var timeLayouts = []string{
	"2006-01-02T15:04:05.000-0700", "2006-01-02T15:04:05-0700", time.RFC3339Nano,
	"2006-01-02T15:04:05.000Z0700", "2006-01-02T15:04:05Z0700", "2006-01-02T15:04Z07:00", "2006-01-02",
}

func parseSFTime(s string) (time.Time, error) {
	s = strings.TrimSpace(strings.ReplaceAll(s, " ", "+"))
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("invalid datetime %q", s)
}

// render converts a stored value to its REST JSON form.
func render(f *fieldDef, v any) any {
	if t, ok := v.(time.Time); ok {
		if f.Kind == cdcschema.Date {
			return t.Format("2006-01-02")
		}
		return t.UTC().Format(sfTime)
	}
	return v
}

// avroValue converts a stored value to the goavro native value of its CDC field.
func avroValue(f *fieldDef, v any) any {
	switch x := v.(type) {
	case time.Time:
		return x.UnixMilli()
	case int64:
		return int32(x)
	}
	return v
}

func sameValue(a, b any) bool {
	if ta, ok := a.(time.Time); ok {
		tb, ok := b.(time.Time)
		return ok && ta.Equal(tb)
	}
	return a == b
}

// value returns a field's current value, computing derived ones.
func (r *record) value(f *fieldDef) any {
	if f.computed != nil {
		return f.computed(r.vals)
	}
	return r.vals[f.Name]
}

// view is the REST view of a record (as Record returns it).
func (r *record) view() map[string]any {
	m := make(map[string]any, len(r.obj.fields))
	for _, f := range r.obj.fields {
		m[f.Name] = render(f, r.value(f))
	}
	return m
}
