package salesforcetest

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sfsync/sfsync/internal/cdcschema"
)

// dmlError is a record-level failure.
type dmlError struct {
	Status  int
	Code    string
	Message string
	Fields  []string
	// injected marks an error from a Fault: it keeps the code the test
	// asked for.
	injected bool
}

func (e *dmlError) Error() string { return e.Code + ": " + e.Message }

func errInvalidField(d *objectDef, name string) *dmlError {
	return &dmlError{Status: 400, Code: "INVALID_FIELD",
		Message: fmt.Sprintf("No such column '%s' on sobject of type %s", name, d.Name)}
}

func errNotFound() *dmlError {
	return &dmlError{Status: 404, Code: "NOT_FOUND", Message: "The requested resource does not exist"}
}

func errDeleted() *dmlError {
	return &dmlError{Status: 404, Code: "ENTITY_IS_DELETED", Message: "entity is deleted"}
}

type fieldVal struct {
	f *fieldDef
	v any
}

// input is a resolved write body.
type input struct {
	vals     []fieldVal
	readOnly []string
}

func (in input) get(name string) (any, bool) {
	for _, fv := range in.vals {
		if fv.f.Name == name {
			return fv.v, true
		}
	}
	return nil, false
}

// resolveInput maps body keys (case-insensitive) to fields and coerces the
// values. Unknown fields and undecodable values fail the whole request.
func resolveInput(d *objectDef, body map[string]any) (input, *dmlError) {
	var in input
	keys := make([]string, 0, len(body))
	for k := range body {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if k == "attributes" {
			continue
		}
		f := d.byLower[strings.ToLower(k)]
		if f == nil {
			return input{}, errInvalidField(d, k)
		}
		if f.ReadOnly {
			in.readOnly = append(in.readOnly, f.Name)
			continue
		}
		v, err := coerce(f, body[k])
		if err != nil {
			return input{}, &dmlError{Status: 400, Code: "JSON_PARSER_ERROR",
				Message: fmt.Sprintf("Cannot deserialize instance of %s from value %v or request may be missing a required field", kindName(f.Kind), body[k])}
		}
		in.vals = append(in.vals, fieldVal{f, v})
	}
	return in, nil
}

func kindName(k cdcschema.Kind) string {
	switch k {
	case cdcschema.Boolean:
		return "boolean"
	case cdcschema.Int:
		return "int"
	case cdcschema.Double:
		return "double"
	case cdcschema.DateTime:
		return "datetime"
	case cdcschema.Date:
		return "date"
	}
	return "string"
}

// change is a pending CDC event.
type change struct {
	obj     *objectDef
	typ     string
	ids     []string
	changed []string
	nulled  []string
	values  map[string]any
}

type undo struct {
	id   string
	prev *record // nil: the record was created
}

// txn is one Salesforce transaction (one API request or UI action). The
// caller holds o.mu for its whole life.
type txn struct {
	o      *Org
	user   string
	origin string
	now    time.Time
	undo   []undo
	events []*change
	writes int
	// quiet drops the change events of creates as they happen: Load's
	// records are data the org already held, not changes.
	quiet bool
}

func (o *Org) beginLocked(user, origin string) *txn {
	return &txn{o: o, user: user, origin: origin, now: o.now()}
}

// savepoint returns a marker for rollbackTo.
func (t *txn) savepoint() (int, int, int) { return len(t.undo), len(t.events), t.writes }

func (t *txn) rollbackTo(u, e, w int) {
	for i := len(t.undo) - 1; i >= u; i-- {
		x := t.undo[i]
		if x.prev == nil {
			delete(t.o.records, x.id)
		} else {
			t.o.records[x.id] = x.prev
		}
	}
	t.undo, t.events, t.writes = t.undo[:u], t.events[:e], w
}

func (t *txn) rollback() { t.rollbackTo(0, 0, 0) }

func (t *txn) validate(r *record) *dmlError {
	for _, f := range r.obj.fields {
		if f.Required && r.vals[f.Name] == nil {
			return &dmlError{Status: 400, Code: "REQUIRED_FIELD_MISSING",
				Message: fmt.Sprintf("Required fields are missing: [%s]", f.Name), Fields: []string{f.Name}}
		}
	}
	for _, rule := range t.o.rules[r.obj.Name] {
		if msg, field, ok := rule(r.view()); !ok {
			var fields []string
			if field != "" {
				fields = []string{field}
			}
			return &dmlError{Status: 400, Code: "FIELD_CUSTOM_VALIDATION_EXCEPTION", Message: msg, Fields: fields}
		}
	}
	return nil
}

func readOnlyErr(names []string) *dmlError {
	return &dmlError{Status: 400, Code: "INVALID_FIELD_FOR_INSERT_UPDATE",
		Message: fmt.Sprintf("Unable to create/update fields: %s. Please check the security settings of this field and verify that it is read/write for your user profile or permission set.",
			strings.Join(names, ", ")), Fields: names}
}

func (t *txn) create(d *objectDef, in input) (string, *dmlError) {
	if len(in.readOnly) > 0 {
		return "", readOnlyErr(in.readOnly)
	}
	id := t.o.newIDLocked(d.Prefix)
	r := &record{obj: d, id: id, vals: map[string]any{}, seq: t.o.nextID}
	for _, fv := range in.vals {
		r.vals[fv.f.Name] = fv.v
	}
	r.vals["Id"] = id
	r.vals["IsDeleted"] = false
	for _, n := range []string{"CreatedDate", "LastModifiedDate", "SystemModstamp"} {
		r.vals[n] = t.now
	}
	r.vals["CreatedById"], r.vals["LastModifiedById"] = t.user, t.user
	if _, ok := d.byLower["ownerid"]; ok && r.vals["OwnerId"] == nil {
		r.vals["OwnerId"] = t.user
	}
	if err := t.validate(r); err != nil {
		return "", err
	}
	t.o.records[id] = r
	t.undo = append(t.undo, undo{id: id})
	t.writes++
	if !t.quiet {
		t.events = append(t.events, fullChange(r, "CREATE"))
	}
	return id, nil
}

func fullChange(r *record, typ string) *change {
	ch := &change{obj: r.obj, typ: typ, ids: []string{r.id}, values: map[string]any{}}
	for _, f := range r.obj.fields {
		if v := r.vals[f.Name]; f.CDC != "" && v != nil {
			ch.values[f.CDC] = avroValue(f, v)
		}
	}
	return ch
}

// live returns the record for DML: NOT_FOUND, ENTITY_IS_DELETED or an
// injected record fault.
func (t *txn) live(id string) (*record, *dmlError) {
	r := t.o.records[id]
	if r == nil {
		return nil, errNotFound()
	}
	if r.deleted {
		return nil, errDeleted()
	}
	if err := t.o.takeRecordFaultLocked(id); err != nil {
		return nil, err
	}
	return r, nil
}

// update applies in to record id; check may veto (precondition).
func (t *txn) update(id string, in input, check func(*record) *dmlError) *dmlError {
	old, err := t.live(id)
	if err != nil {
		return err
	}
	if check != nil {
		if err := check(old); err != nil {
			return err
		}
	}
	if len(in.readOnly) > 0 {
		return readOnlyErr(in.readOnly)
	}
	r := old.clone()
	ch := &change{obj: r.obj, typ: "UPDATE", ids: []string{id}, values: map[string]any{}}
	for _, fv := range in.vals {
		if sameValue(r.vals[fv.f.Name], fv.v) {
			continue
		}
		r.vals[fv.f.Name] = fv.v
		if fv.f.CDC == "" {
			continue
		}
		ch.changed = append(ch.changed, fv.f.CDC)
		if fv.v == nil {
			ch.nulled = append(ch.nulled, fv.f.CDC)
		} else {
			ch.values[fv.f.CDC] = avroValue(fv.f, fv.v)
		}
	}
	r.vals["LastModifiedDate"], r.vals["SystemModstamp"] = t.now, t.now
	ch.changed = append(ch.changed, "LastModifiedDate")
	ch.values["LastModifiedDate"] = t.now.UnixMilli()
	if r.vals["LastModifiedById"] != t.user {
		r.vals["LastModifiedById"] = t.user
		ch.changed = append(ch.changed, "LastModifiedById")
		ch.values["LastModifiedById"] = t.user
	}
	if err := t.validate(r); err != nil {
		return err
	}
	ch.changed = schemaOrder(r.obj, ch.changed)
	ch.nulled = schemaOrder(r.obj, ch.nulled)
	t.o.records[id] = r
	t.undo = append(t.undo, undo{id: id, prev: old})
	t.writes++
	t.events = append(t.events, ch)
	return nil
}

// schemaOrder sorts CDC names by their position in the schema.
func schemaOrder(d *objectDef, names []string) []string {
	pos := func(n string) int {
		for i, f := range d.fields {
			if f.CDC == n {
				return i
			}
		}
		return len(d.fields)
	}
	slices.SortStableFunc(names, func(a, b string) int { return pos(a) - pos(b) })
	return names
}

func (t *txn) delete(id string) *dmlError {
	old, err := t.live(id)
	if err != nil {
		return err
	}
	r := old.clone()
	r.deleted, r.deletedAt = true, t.now
	r.vals["IsDeleted"] = true
	r.vals["LastModifiedDate"], r.vals["SystemModstamp"], r.vals["LastModifiedById"] = t.now, t.now, t.user
	t.o.records[id] = r
	t.undo = append(t.undo, undo{id: id, prev: old})
	t.writes++
	t.events = append(t.events, &change{obj: r.obj, typ: "DELETE", ids: []string{id}, values: map[string]any{}})
	return nil
}

func (t *txn) undelete(id string) *dmlError {
	old := t.o.records[id]
	if old == nil {
		return errNotFound()
	}
	if !old.deleted {
		return &dmlError{Status: 400, Code: "UNDELETE_FAILED", Message: "Entity is not in the recycle bin"}
	}
	r := old.clone()
	r.deleted, r.deletedAt = false, time.Time{}
	r.vals["IsDeleted"] = false
	r.vals["LastModifiedDate"], r.vals["SystemModstamp"], r.vals["LastModifiedById"] = t.now, t.now, t.user
	t.o.records[id] = r
	t.undo = append(t.undo, undo{id: id, prev: old})
	t.writes++
	t.events = append(t.events, fullChange(r, "UNDELETE"))
	return nil
}

// commit emits the transaction's change events; api says whether the
// writes count for Writes.
func (t *txn) commit(api bool) {
	if api {
		t.o.writes += t.writes
	}
	t.o.emitLocked(mergeChanges(t.events), t.user, t.origin, t.now)
}

// ---- UI-side helpers ----

func (o *Org) uiTxn(object string, f func(t *txn, d *objectDef) *dmlError) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	d := o.objects[strings.ToLower(object)]
	if d == nil {
		return fmt.Errorf("salesforcetest: unknown object %q", object)
	}
	t := o.beginLocked(uiUserID, UIOrigin)
	if err := f(t, d); err != nil {
		t.rollback()
		return err
	}
	t.commit(false)
	return nil
}

func (o *Org) recordOf(d *objectDef, id string) (string, *dmlError) {
	full, ok := normID(id)
	if !ok || !strings.HasPrefix(full, d.Prefix) {
		return "", &dmlError{Status: 400, Code: "MALFORMED_ID", Message: fmt.Sprintf("%s ID: id value of incorrect type: %s", d.Name, id), Fields: []string{"Id"}}
	}
	return full, nil
}

// Insert creates a record as the UI user (emitting a CDC CREATE) and
// returns its id. Values may be Go values (string, bool, numbers,
// time.Time) or REST strings. It panics on an invalid record.
func (o *Org) Insert(object string, fields map[string]any) (id string) {
	err := o.uiTxn(object, func(t *txn, d *objectDef) *dmlError {
		in, err := resolveInput(d, fields)
		if err != nil {
			return err
		}
		id, err = t.create(d, in)
		return err
	})
	if err != nil {
		panic(fmt.Sprintf("salesforcetest: Insert %s: %v", object, err))
	}
	return id
}

// EditAsUser updates a record as the UI user (changeOrigin UIOrigin,
// commitUser UIUserID).
func (o *Org) EditAsUser(object, id string, fields map[string]any) error {
	_, err := o.ChangeAsUser(object, id, fields)
	return err
}

// ChangeAsUser is [Org.EditAsUser] that also says which of fields changed
// value: only those are in the CDC UPDATE the edit emits, as in
// Salesforce, where setting a field to the value it holds changes nothing
// but LastModifiedDate.
func (o *Org) ChangeAsUser(object, id string, fields map[string]any) (changed []string, err error) {
	err = o.uiTxn(object, func(t *txn, d *objectDef) *dmlError {
		full, err := o.recordOf(d, id)
		if err != nil {
			return err
		}
		in, err := resolveInput(d, fields)
		if err != nil {
			return err
		}
		if old, ok := o.records[full]; ok {
			for _, fv := range in.vals {
				if !sameValue(old.vals[fv.f.Name], fv.v) {
					changed = append(changed, fv.f.Name)
				}
			}
		}
		return t.update(full, in, nil)
	})
	if err != nil {
		return nil, err
	}
	return changed, nil
}

// DeleteAsUser soft-deletes a record as the UI user.
func (o *Org) DeleteAsUser(object, id string) error {
	return o.uiTxn(object, func(t *txn, d *objectDef) *dmlError {
		full, err := o.recordOf(d, id)
		if err != nil {
			return err
		}
		return t.delete(full)
	})
}

// UndeleteAsUser restores a soft-deleted record as the UI user (CDC UNDELETE).
func (o *Org) UndeleteAsUser(object, id string) error {
	return o.uiTxn(object, func(t *txn, d *objectDef) *dmlError {
		full, err := o.recordOf(d, id)
		if err != nil {
			return err
		}
		return t.undelete(full)
	})
}

// Record returns the REST view of a live record: datetimes and dates as
// REST strings, Int fields as int64, Double as float64.
func (o *Org) Record(object, id string) (fields map[string]any, ok bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	full, valid := normID(id)
	r := o.records[full]
	if !valid || r == nil || r.deleted || !strings.EqualFold(r.obj.Name, object) {
		return nil, false
	}
	return r.view(), true
}

// Records returns the REST views of object's live records in creation order.
func (o *Org) Records(object string) []map[string]any {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []map[string]any
	for _, r := range o.sortedLocked(object, false) {
		out = append(out, r.view())
	}
	return out
}

// sortedLocked returns object's records in creation order.
func (o *Org) sortedLocked(object string, withDeleted bool) []*record {
	var out []*record
	for _, r := range o.records {
		if strings.EqualFold(r.obj.Name, object) && (withDeleted || !r.deleted) {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b *record) int { return int(a.seq - b.seq) })
	return out
}

func statusOr(s, def int) int {
	if s == 0 {
		return def
	}
	return s
}
