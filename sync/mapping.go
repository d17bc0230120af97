package sync

import (
	"fmt"
	"slices"
	"strings"

	"github.com/sfsync/sfsync"
)

// Converter converts one field value between systems. It must be pure; an
// error rejects the change as permanent (the value cannot be represented).
type Converter func(v any) (any, error)

// Field maps one Salesforce field to one external field.
type Field struct {
	// Salesforce is the canonical name: the flat REST name ("MailingStreet"),
	// never the compound CDC name ("MailingAddress.Street").
	Salesforce string
	// External is the external system's field name.
	External string
	// ToExternal and ToSalesforce convert values; nil copies them.
	ToExternal   Converter
	ToSalesforce Converter
}

// Mapping is the declarative translation of one Salesforce object to an
// external entity. Changes move through the engine in the canonical shape:
// Salesforce object and flat field names. External changes are translated to
// it on arrival and writes to the external system are translated back.
type Mapping struct {
	// Object is the Salesforce object ("Contact").
	Object string
	// External is the external entity name ("person"); empty means the same
	// as Object.
	External string
	// System restricts the mapping to one external system; empty applies it
	// to every external system.
	System sfsync.System
	Fields []Field
	// LinkField names the Salesforce field (an external id field) that holds
	// the external system's id of a record. When set, Salesforce changes
	// reach the external system under that id, so a record created on
	// either side stays one record on both; records without a value keep
	// their Salesforce id. Configure the Salesforce sink to upsert by the
	// same field, and give the engine WithLinkReader so that updates, which
	// do not carry the field, can look it up.
	LinkField string
	// Strict rejects changes carrying fields the mapping does not name.
	// Otherwise such fields are dropped.
	Strict bool

	bySF  map[string]*Field
	byExt map[string]*Field
}

func (m *Mapping) index() {
	m.bySF = make(map[string]*Field, len(m.Fields))
	m.byExt = make(map[string]*Field, len(m.Fields))
	for i := range m.Fields {
		f := &m.Fields[i]
		m.bySF[f.Salesforce] = f
		m.byExt[f.External] = f
	}
}

func (m *Mapping) externalName() string {
	if m.External == "" {
		return m.Object
	}
	return m.External
}

// addressParts are the components of Salesforce Address compounds; their
// flat name is the compound's prefix plus the component (MailingAddress.Street
// → MailingStreet). Name components (Name.FirstName) flatten to themselves.
var addressParts = map[string]bool{
	"Street": true, "City": true, "State": true, "PostalCode": true, "Country": true,
	"StateCode": true, "CountryCode": true, "Latitude": true, "Longitude": true, "GeocodeAccuracy": true,
}

// FlatName returns the REST name of a CDC field name: compound components
// such as "BillingAddress.City" become "BillingCity", "Name.LastName" becomes
// "LastName", a Location component "Site__c.Latitude__s" becomes
// "Site__Latitude__s"; names without a dot are returned unchanged.
func FlatName(name string) string {
	parent, part, ok := strings.Cut(name, ".")
	if !ok {
		return name
	}
	switch {
	case parent == "Name":
		return part
	case strings.HasSuffix(parent, "Address") && addressParts[part]:
		return strings.TrimSuffix(parent, "Address") + part
	case strings.HasSuffix(parent, "__c") && strings.HasSuffix(part, "__s"):
		return strings.TrimSuffix(parent, "c") + part
	}
	return parent + part
}

// canonicalFields flattens compound names of a Salesforce change.
func flattenSalesforce(c *sfsync.Change) {
	var renamed map[string]any
	for k, v := range c.Fields {
		if strings.Contains(k, ".") {
			if renamed == nil {
				renamed = make(map[string]any, len(c.Fields))
				for k2, v2 := range c.Fields {
					if !strings.Contains(k2, ".") {
						renamed[k2] = v2
					}
				}
			}
			renamed[FlatName(k)] = v
		}
	}
	if renamed != nil {
		c.Fields = renamed
	}
	c.Nulled = flatNames(c.Nulled)
	c.Reread = flatNames(c.Reread)
}

// flatNames returns names with FlatName applied: names itself when no name
// changes, else a new slice, since names may be shared with the change as
// it was received.
func flatNames(names []string) []string {
	for i, n := range names {
		if flat := FlatName(n); flat != n {
			out := slices.Clone(names)
			for j := i; j < len(out); j++ {
				out[j] = FlatName(out[j])
			}
			return out
		}
	}
	return names
}

// toCanonical translates an external change to Salesforce names.
func (m *Mapping) toCanonical(c *sfsync.Change) error {
	c.Object = m.Object
	fields := make(map[string]any, len(c.Fields))
	for name, v := range c.Fields {
		f, ok := m.byExt[name]
		if !ok {
			if m.Strict {
				return fmt.Errorf("%w: field %q of %s is not in the mapping of %s", sfsync.ErrInvalid, name, m.externalName(), m.Object)
			}
			continue
		}
		if f.ToSalesforce != nil {
			cv, err := f.ToSalesforce(v)
			if err != nil {
				return fmt.Errorf("%w: converting %s.%s to %s.%s: %v", sfsync.ErrInvalid, m.externalName(), name, m.Object, f.Salesforce, err)
			}
			v = cv
		}
		fields[f.Salesforce] = v
	}
	c.Fields = fields
	var err error
	if c.Nulled, err = m.renameList(c.Nulled, m.byExt, func(f *Field) string { return f.Salesforce }); err != nil {
		return err
	}
	c.Reread, err = m.renameList(c.Reread, m.byExt, func(f *Field) string { return f.Salesforce })
	return err
}

// checkSalesforce applies the mapping's field set to a Salesforce change.
func (m *Mapping) checkSalesforce(c *sfsync.Change) error {
	// The mapped fields go to a map of their own: c.Fields may be shared
	// with the change as it was received, and a change event usually
	// carries more fields than are mapped.
	mapped := 0
	for name := range c.Fields {
		if _, ok := m.bySF[name]; ok {
			mapped++
		} else if m.Strict {
			return fmt.Errorf("%w: field %q of %s is not in its mapping", sfsync.ErrInvalid, name, m.Object)
		}
	}
	if mapped < len(c.Fields) {
		fields := make(map[string]any, mapped)
		for name, v := range c.Fields {
			if _, ok := m.bySF[name]; ok {
				fields[name] = v
			}
		}
		c.Fields = fields
	}
	var err error
	if c.Nulled, err = m.renameList(c.Nulled, m.bySF, func(f *Field) string { return f.Salesforce }); err != nil {
		return err
	}
	c.Reread, err = m.renameList(c.Reread, m.bySF, func(f *Field) string { return f.Salesforce })
	return err
}

func (m *Mapping) renameList(names []string, idx map[string]*Field, to func(*Field) string) ([]string, error) {
	out := names[:0:0]
	for _, n := range names {
		f, ok := idx[n]
		if !ok {
			if m.Strict {
				return nil, fmt.Errorf("%w: field %q is not in the mapping of %s", sfsync.ErrInvalid, n, m.Object)
			}
			continue
		}
		out = append(out, to(f))
	}
	return out, nil
}

// toExternal translates a canonical change to the external system's names.
func (m *Mapping) toExternal(c sfsync.Change) (sfsync.Change, error) {
	c.Object = m.externalName()
	// A change whose every field keeps its name and value shares its map
	// (the stages after this one replace a map rather than change it).
	if len(c.Fields) == 0 || !m.keepsAll(c.Fields) {
		fields := make(map[string]any, len(c.Fields))
		for name, v := range c.Fields {
			f, ok := m.bySF[name]
			if !ok {
				continue
			}
			if f.ToExternal != nil {
				cv, err := f.ToExternal(v)
				if err != nil {
					return c, fmt.Errorf("%w: converting %s.%s to %s.%s: %v", sfsync.ErrInvalid, m.Object, name, m.externalName(), f.External, err)
				}
				v = cv
			}
			fields[f.External] = v
		}
		c.Fields = fields
	}
	c.Nulled, _ = m.renameList(c.Nulled, m.bySF, func(f *Field) string { return f.External })
	c.Reread, _ = m.renameList(c.Reread, m.bySF, func(f *Field) string { return f.External })
	return c, nil
}

// keepsAll reports whether every field of fields is mapped under the same
// name on both sides without a converter, so that translating them would
// copy the map as it is.
func (m *Mapping) keepsAll(fields map[string]any) bool {
	for name := range fields {
		if f, ok := m.bySF[name]; !ok || f.External != name || f.ToExternal != nil {
			return false
		}
	}
	return true
}

// recordToCanonical translates a record read from the external system.
func (m *Mapping) recordToCanonical(r sfsync.Record) (sfsync.Record, error) {
	r.Object = m.Object
	fields := make(map[string]any, len(r.Fields))
	for name, v := range r.Fields {
		f, ok := m.byExt[name]
		if !ok {
			continue
		}
		if f.ToSalesforce != nil && v != nil {
			cv, err := f.ToSalesforce(v)
			if err != nil {
				return r, fmt.Errorf("converting stored %s.%s: %w", m.externalName(), name, err)
			}
			v = cv
		}
		fields[f.Salesforce] = v
	}
	r.Fields = fields
	toSF := func(name string) (string, bool) {
		f, ok := m.byExt[name]
		if !ok {
			return "", false
		}
		return f.Salesforce, true
	}
	r.FieldVersions = renameKeys(r.FieldVersions, toSF)
	r.LastWriter = renameKeys(r.LastWriter, toSF)
	return r, nil
}

// renameKeys returns m with its keys renamed by rename, leaving out those
// it has no name for; nil stays nil.
func renameKeys[V any](m map[string]V, rename func(string) (string, bool)) map[string]V {
	if m == nil {
		return nil
	}
	out := make(map[string]V, len(m))
	for name, v := range m {
		if to, ok := rename(name); ok {
			out[to] = v
		}
	}
	return out
}

// mappings indexes mappings by Salesforce object and by external entity.
type mappings struct {
	bySF  map[string]*Mapping
	byExt map[string][]*Mapping
}

func newMappings(ms []*Mapping) (mappings, error) {
	idx := mappings{bySF: map[string]*Mapping{}, byExt: map[string][]*Mapping{}}
	for _, m := range ms {
		if m.Object == "" {
			return idx, fmt.Errorf("sync: a mapping has no Salesforce object name")
		}
		if _, dup := idx.bySF[m.Object]; dup {
			return idx, fmt.Errorf("sync: two mappings for Salesforce object %s; merge them", m.Object)
		}
		m.index()
		idx.bySF[m.Object] = m
		idx.byExt[m.externalName()] = append(idx.byExt[m.externalName()], m)
	}
	return idx, nil
}

func (ms mappings) forExternal(sys sfsync.System, entity string) *Mapping {
	for _, m := range ms.byExt[entity] {
		if m.System == "" || m.System == sys {
			return m
		}
	}
	return nil
}
