package salesforce

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/sfsync/sfsync"
)

// FieldType is a field's type as describe reports it: "id", "string",
// "boolean", "int", "double", "currency", "percent", "date", "datetime",
// "time", "reference", "picklist", "email", "textarea", "address", ...
type FieldType string

// FieldDescribe is one field of an [ObjectDescribe].
type FieldDescribe struct {
	Name              string    `json:"name"`
	Label             string    `json:"label"`
	Type              FieldType `json:"type"`
	SOAPType          string    `json:"soapType"`
	Createable        bool      `json:"createable"`
	Updateable        bool      `json:"updateable"`
	Nillable          bool      `json:"nillable"`
	Calculated        bool      `json:"calculated"`
	ExternalID        bool      `json:"externalId"`
	IDLookup          bool      `json:"idLookup"`
	Custom            bool      `json:"custom"`
	Length            int       `json:"length"`
	Precision         int       `json:"precision"`
	Scale             int       `json:"scale"`
	ReferenceTo       []string  `json:"referenceTo"`
	RelationshipName  string    `json:"relationshipName"`
	CompoundFieldName string    `json:"compoundFieldName"`
}

// Writable reports whether the API accepts the field in a create or an
// update.
func (f *FieldDescribe) Writable() bool { return f.Createable || f.Updateable }

// Kind is the kind of Go value the field's values have.
func (f *FieldDescribe) Kind() ValueKind {
	switch strings.ToLower(string(f.Type)) {
	case "boolean":
		return ValueBool
	case "int", "long":
		return ValueInt
	case "double", "currency", "percent":
		return ValueNumber
	case "date":
		return ValueDate
	case "datetime":
		return ValueDateTime
	case "address", "location", "base64", "anytype", "complexvalue":
		// Compound and binary values have no single scalar kind.
		return ValueAny
	}
	return ValueString
}

// ObjectDescribe is the answer of sObject describe for one object. It is
// shared by every caller of [Client.Describe]: do not modify it.
type ObjectDescribe struct {
	Name          string          `json:"name"`
	Label         string          `json:"label"`
	KeyPrefix     string          `json:"keyPrefix"`
	Custom        bool            `json:"custom"`
	Createable    bool            `json:"createable"`
	Updateable    bool            `json:"updateable"`
	Deletable     bool            `json:"deletable"`
	Queryable     bool            `json:"queryable"`
	Replicateable bool            `json:"replicateable"`
	Fields        []FieldDescribe `json:"fields"`
	// Fetched is when the describe was read.
	Fetched time.Time `json:"-"`

	byName map[string]int
}

func (d *ObjectDescribe) index() {
	d.byName = make(map[string]int, len(d.Fields))
	for i, f := range d.Fields {
		d.byName[strings.ToLower(f.Name)] = i
	}
}

// Field returns the field called name (case-insensitive, as the API
// treats field names).
func (d *ObjectDescribe) Field(name string) (*FieldDescribe, bool) {
	i, ok := d.byName[strings.ToLower(name)]
	if !ok {
		return nil, false
	}
	return &d.Fields[i], true
}

// ValueKind is the kind of a value on either side of a field mapping.
type ValueKind int

// The value kinds. ValueAny skips the type check of [FieldUse].
const (
	ValueAny ValueKind = iota
	ValueString
	ValueBool
	ValueInt
	ValueNumber
	ValueDate
	ValueDateTime
)

var valueKindNames = [...]string{"any", "string", "boolean", "integer", "number", "date", "datetime"}

func (k ValueKind) String() string {
	if int(k) >= 0 && int(k) < len(valueKindNames) {
		return valueKindNames[k]
	}
	return fmt.Sprintf("ValueKind(%d)", int(k))
}

// converts reports whether every value of kind from has a faithful value
// of kind to: anything formats as a string, an integer is a number and a
// date is a datetime (midnight UTC); nothing else converts without loss or
// guessing (a string may hold anything, a number may have decimals, a
// datetime has a time of day).
func converts(from, to ValueKind) bool {
	return from == ValueAny || to == ValueAny || from == to || to == ValueString ||
		from == ValueInt && to == ValueNumber || from == ValueDate && to == ValueDateTime
}

// FieldUse is one Salesforce field of a mapping, as [ObjectDescribe.Check]
// checks it.
type FieldUse struct {
	Name string
	// Write says that the field is a write target: values are written to
	// Salesforce. Otherwise it is only read.
	Write bool
	// Kind is the kind of the values on the other side: those written to
	// the field, or those the other side expects when it is read.
	// ValueAny skips the type check.
	Kind ValueKind
}

// FieldProblem is what is wrong with a [FieldUse].
type FieldProblem int

// The problems [ObjectDescribe.Check] reports.
const (
	FieldUnknown FieldProblem = iota + 1
	FieldReadOnly
	FieldTypeMismatch
)

// FieldError is a field that does not fit an object's describe. Its kind
// is permanent: the mapping must change (or the field be created or made
// writable for the integration user) before it can work.
type FieldError struct {
	Object  string
	Field   string
	Problem FieldProblem
	// Type is the field's Salesforce type and Use the mapping's use of it
	// (for FieldTypeMismatch and FieldReadOnly).
	Type FieldType
	Use  FieldUse
}

func (e *FieldError) Error() string {
	switch e.Problem {
	case FieldUnknown:
		return fmt.Sprintf("salesforce: %s.%s: no such field (check the spelling, the __c suffix of custom fields and the field-level security of the integration user)", e.Object, e.Field)
	case FieldReadOnly:
		return fmt.Sprintf("salesforce: %s.%s: the %s field is read-only for the integration user and cannot be a write target (map it one way, from Salesforce, or make it editable)", e.Object, e.Field, e.Type)
	case FieldTypeMismatch:
		if e.Use.Write {
			return fmt.Sprintf("salesforce: %s.%s: %s values cannot be written to a %s field without loss (convert them in the mapping)", e.Object, e.Field, e.Use.Kind, e.Type)
		}
		return fmt.Sprintf("salesforce: %s.%s: the %s field's values cannot become %s values without loss (convert them in the mapping)", e.Object, e.Field, e.Type, e.Use.Kind)
	}
	return fmt.Sprintf("salesforce: %s.%s: unusable field", e.Object, e.Field)
}

// Kind implements [sfsync.Classifier]: a field that does not fit is a
// configuration error.
func (e *FieldError) Kind() sfsync.Kind { return sfsync.KindPermanent }

// Is matches [sfsync.ErrInvalid].
func (e *FieldError) Is(target error) bool { return target == sfsync.ErrInvalid }

// Check checks a mapping's fields against the describe: every field must
// exist, write targets must be writable, and values must convert between
// the field's type and the other side's kind. It returns nil or the
// joined *[FieldError]s, each naming its field; errors.As finds the first.
func (d *ObjectDescribe) Check(uses ...FieldUse) error {
	var errs []error
	for _, u := range uses {
		f, ok := d.Field(u.Name)
		switch {
		case !ok:
			errs = append(errs, &FieldError{Object: d.Name, Field: u.Name, Problem: FieldUnknown, Use: u})
		case u.Write && !f.Writable():
			errs = append(errs, &FieldError{Object: d.Name, Field: f.Name, Problem: FieldReadOnly, Type: f.Type, Use: u})
		case u.Write && !converts(u.Kind, f.Kind()), !u.Write && !converts(f.Kind(), u.Kind):
			errs = append(errs, &FieldError{Object: d.Name, Field: f.Name, Problem: FieldTypeMismatch, Type: f.Type, Use: u})
		}
	}
	return errors.Join(errs...)
}

// describeCache holds one describe per object, fetched once and again when
// it is marked stale.
type describeCache struct {
	mu      sync.Mutex
	entries map[string]*describeEntry // by lower-case object name
	group   singleflight.Group
}

type describeEntry struct {
	d        *ObjectDescribe
	schemaID string
	stale    bool
	// gen counts invalidations, so that a fetch that started before one
	// does not mark its (possibly older) answer current.
	gen int
}

func (dc *describeCache) entry(key string) *describeEntry {
	if dc.entries == nil {
		dc.entries = map[string]*describeEntry{}
	}
	e := dc.entries[key]
	if e == nil {
		e = &describeEntry{}
		dc.entries[key] = e
	}
	return e
}

// Describe returns object's describe (GET /sobjects/{object}/describe),
// from the client's cache when it has a current one: one API call per
// object until [Client.RefreshDescribe], [Client.InvalidateDescribe] or a
// new schema id ([Client.ObserveSchema]) makes it stale. Concurrent calls
// for one object share one request.
func (c *Client) Describe(ctx context.Context, object string) (*ObjectDescribe, error) {
	key := strings.ToLower(object)
	c.describes.mu.Lock()
	if e := c.describes.entries[key]; e != nil && e.d != nil && !e.stale {
		d := e.d
		c.describes.mu.Unlock()
		return d, nil
	}
	c.describes.mu.Unlock()
	return c.RefreshDescribe(ctx, object)
}

// RefreshDescribe reads object's describe from Salesforce and caches it.
func (c *Client) RefreshDescribe(ctx context.Context, object string) (*ObjectDescribe, error) {
	if err := checkObject(object); err != nil {
		return nil, err
	}
	key := strings.ToLower(object)
	v, err, _ := c.describes.group.Do(key, func() (any, error) {
		c.describes.mu.Lock()
		gen := c.describes.entry(key).gen
		c.describes.mu.Unlock()
		d := new(ObjectDescribe)
		if err := c.getJSON(ctx, sobjectPath(object, "describe"), nil, d); err != nil {
			return nil, fmt.Errorf("salesforce: describing %s: %w", object, err)
		}
		d.index()
		d.Fetched = time.Now()
		c.describes.mu.Lock()
		e := c.describes.entry(key)
		e.d, e.stale = d, e.gen != gen
		c.describes.mu.Unlock()
		return d, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*ObjectDescribe), nil
}

// InvalidateDescribe makes the next [Client.Describe] of object read it
// again.
func (c *Client) InvalidateDescribe(object string) {
	c.describes.mu.Lock()
	e := c.describes.entry(strings.ToLower(object))
	e.stale = true
	e.gen++
	c.describes.mu.Unlock()
}

// ObserveSchema tells the client the CDC schema id of an event of object.
// An id other than the last one seen for object means the object's fields
// may have changed (an admin added or changed one), so the cached describe
// is marked stale and the next [Client.Describe] reads it again; the call
// itself makes no request, so it is cheap enough for every event. It
// reports whether the id was new.
func (c *Client) ObserveSchema(object, schemaID string) bool {
	c.describes.mu.Lock()
	defer c.describes.mu.Unlock()
	e := c.describes.entry(strings.ToLower(object))
	if e.schemaID == schemaID {
		return false
	}
	// The first id seen is new too: the cached describe may predate it.
	e.schemaID, e.stale = schemaID, true
	e.gen++
	return true
}
