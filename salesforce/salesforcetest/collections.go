package salesforcetest

import (
	"fmt"
	"net/http"
	"strings"
)

// MaxCollectionRecords is the sObject Collections record limit.
const MaxCollectionRecords = 200

type collectionBody struct {
	AllOrNone bool             `json:"allOrNone"`
	Records   []map[string]any `json:"records"`
}

type itemError struct {
	StatusCode string   `json:"statusCode"`
	Message    string   `json:"message"`
	Fields     []string `json:"fields"`
}

// item is the result of one record of a collections request.
type item struct {
	id      any // string or nil
	ok      bool
	errs    []itemError
	created *bool
}

func (it item) json() orderedObject {
	errs := it.errs
	if errs == nil {
		errs = []itemError{}
	}
	out := orderedObject{{"id", it.id}, {"success", it.ok}, {"errors", errs}}
	if it.created != nil {
		out = append(out, kv{"created", *it.created})
	}
	return out
}

func failItem(id any, e *dmlError) item {
	code, msg := e.Code, e.Message
	if code == "NOT_FOUND" && !e.injected {
		// A collections call names a record id that does not exist as a
		// bad reference, not as a missing resource.
		code, msg = "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id"
	}
	fields := e.Fields
	if fields == nil {
		fields = []string{}
	}
	return item{id: id, errs: []itemError{{StatusCode: code, Message: msg, Fields: fields}}}
}

const rolledBackMsg = "Record rolled back because not all records were valid and the request was using AllOrNone header"

func (q *req) collections(segs []string) {
	switch {
	case len(segs) == 0:
		switch q.r.Method {
		case http.MethodPost, http.MethodPatch:
			q.collectionWrite(q.r.Method == http.MethodPost)
		case http.MethodDelete:
			q.collectionDelete()
		default:
			q.methodNotAllowed("POST,PATCH,DELETE")
		}
	case len(segs) == 1:
		if q.r.Method != http.MethodGet && q.r.Method != http.MethodPost {
			q.methodNotAllowed("GET,POST")
			return
		}
		q.collectionRetrieve(segs[0])
	case len(segs) == 2:
		if q.r.Method != http.MethodPatch {
			q.methodNotAllowed("PATCH")
			return
		}
		q.collectionUpsert(segs[0], segs[1])
	default:
		q.notFound()
	}
}

func tooMany(w http.ResponseWriter) {
	writeErr(w, 400, "EXCEEDED_ID_LIMIT", "record limit reached. cannot submit more than 200 records into this call")
}

// op is one prepared record operation.
type op struct {
	d   *objectDef
	id  string
	in  input
	err *dmlError
}

// prepareLocked resolves records; a request-level error is returned as such.
func (q *req) prepareLocked(body collectionBody, create bool) ([]op, *dmlError) {
	ops := make([]op, len(body.Records))
	for i, rec := range body.Records {
		attrs, _ := rec["attributes"].(map[string]any)
		typ, _ := attrs["type"].(string)
		if typ == "" {
			return nil, &dmlError{Status: 400, Code: "INVALID_TYPE", Message: "Must send a concrete entity type."}
		}
		d := q.o.objects[strings.ToLower(typ)]
		if d == nil {
			return nil, &dmlError{Status: 400, Code: "INVALID_TYPE", Message: fmt.Sprintf("sObject type '%s' is not supported.", typ)}
		}
		ops[i].d = d
		var rawID string
		fields := map[string]any{}
		for k, v := range rec {
			if strings.EqualFold(k, "Id") {
				rawID, _ = v.(string)
				continue
			}
			fields[k] = v
		}
		in, derr := resolveInput(d, fields)
		if derr != nil {
			return nil, derr
		}
		ops[i].in = in
		switch {
		case create && rawID != "":
			ops[i].err = &dmlError{Code: "INVALID_FIELD", Message: "Cannot specify Id in an insert call", Fields: []string{"Id"}}
		case !create && rawID == "":
			ops[i].err = &dmlError{Code: "MISSING_ARGUMENT", Message: "Id not specified in an update call", Fields: []string{}}
		case !create:
			ops[i].id = rawID
			full, derr := q.o.recordOf(d, rawID)
			if derr != nil {
				ops[i].err = derr
			} else {
				ops[i].id = full
			}
		}
	}
	return ops, nil
}

// runLocked applies ops in one transaction with allOrNone semantics and
// writes the per-record results.
func (q *req) runLocked(allOrNone, upsert bool, ops []op, apply func(t *txn, o op) (item, *dmlError)) {
	t := q.o.beginLocked(q.user, q.origin())
	items := make([]item, len(ops))
	failed := false
	for i, o := range ops {
		var id any
		if o.id != "" {
			id = o.id
		}
		if o.err != nil {
			items[i], failed = failItem(id, o.err), true
			continue
		}
		u, e, w := t.savepoint()
		it, derr := apply(t, o)
		if derr != nil {
			t.rollbackTo(u, e, w)
			items[i], failed = failItem(id, derr), true
			continue
		}
		items[i] = it
	}
	if allOrNone && failed {
		t.rollback()
		for i, it := range items {
			if it.ok {
				var id any
				if ops[i].id != "" {
					id = ops[i].id
				}
				items[i] = item{id: id, errs: []itemError{{StatusCode: "ALL_OR_NONE_OPERATION_ROLLED_BACK", Message: rolledBackMsg, Fields: []string{}}}}
			}
		}
	} else {
		t.commit(true)
	}
	out := make([]orderedObject, len(items))
	for i, it := range items {
		if upsert && it.created == nil {
			f := false
			it.created = &f
		}
		out[i] = it.json()
	}
	writeJSON(q.w, 200, out)
}

// readCollection reads a collections request body, refusing more than
// MaxCollectionRecords records as Salesforce does.
func (q *req) readCollection() (collectionBody, bool) {
	var body collectionBody
	if !q.decodeBody(&body) {
		return body, false
	}
	if len(body.Records) > MaxCollectionRecords {
		tooMany(q.w)
		return body, false
	}
	return body, true
}

func (q *req) collectionWrite(create bool) {
	body, ok := q.readCollection()
	if !ok {
		return
	}
	o := q.o
	o.mu.Lock()
	defer o.mu.Unlock()
	ops, derr := q.prepareLocked(body, create)
	if derr != nil {
		writeDMLErr(q.w, derr)
		return
	}
	q.runLocked(body.AllOrNone, false, ops, func(t *txn, op op) (item, *dmlError) {
		if create {
			id, derr := t.create(op.d, op.in)
			return item{id: id, ok: true}, derr
		}
		return item{id: op.id, ok: true}, t.update(op.id, op.in, nil)
	})
}

func (q *req) collectionDelete() {
	qs := q.r.URL.Query()
	var ids []string
	for _, s := range strings.Split(qs.Get("ids"), ",") {
		if s = strings.TrimSpace(s); s != "" {
			ids = append(ids, s)
		}
	}
	if len(ids) == 0 {
		writeErr(q.w, 400, "MISSING_ARGUMENT", "ids parameter is required")
		return
	}
	if len(ids) > MaxCollectionRecords {
		tooMany(q.w)
		return
	}
	o := q.o
	o.mu.Lock()
	defer o.mu.Unlock()
	ops := make([]op, len(ids))
	for i, raw := range ids {
		ops[i].id = raw
		full, ok := normID(raw)
		if !ok || o.objectForIDLocked(full) == nil {
			ops[i].err = &dmlError{Code: "MALFORMED_ID", Message: "malformed id " + raw, Fields: []string{}}
			continue
		}
		ops[i].id = full
	}
	q.runLocked(strings.EqualFold(qs.Get("allOrNone"), "true"), false, ops, func(t *txn, op op) (item, *dmlError) {
		return item{id: op.id, ok: true}, t.delete(op.id)
	})
}

func (q *req) collectionRetrieve(object string) {
	d := q.object(object)
	if d == nil {
		return
	}
	var ids []string
	var fieldList string
	if q.r.Method == http.MethodPost {
		var body struct {
			IDs    []string `json:"ids"`
			Fields []string `json:"fields"`
		}
		if !q.decodeBody(&body) {
			return
		}
		ids, fieldList = body.IDs, strings.Join(body.Fields, ",")
	} else {
		qs := q.r.URL.Query()
		for _, s := range strings.Split(qs.Get("ids"), ",") {
			if s = strings.TrimSpace(s); s != "" {
				ids = append(ids, s)
			}
		}
		fieldList = qs.Get("fields")
	}
	if len(ids) == 0 || strings.TrimSpace(fieldList) == "" {
		writeErr(q.w, 400, "MISSING_ARGUMENT", "ids and fields are required")
		return
	}
	if len(ids) > 2000 {
		writeErr(q.w, 400, "EXCEEDED_ID_LIMIT", "Too many ids: at most 2000 records can be retrieved")
		return
	}
	o := q.o
	o.mu.Lock()
	defer o.mu.Unlock()
	fields, derr := parseFields(d, fieldList)
	if derr != nil {
		writeDMLErr(q.w, derr)
		return
	}
	out := make([]any, len(ids))
	for i, raw := range ids {
		full, ok := normID(raw)
		if r := o.records[full]; ok && r != nil && !r.deleted && r.obj == d {
			out[i] = q.renderRecord(r, fields)
		}
	}
	writeJSON(q.w, 200, out)
}

func (q *req) collectionUpsert(object, field string) {
	d := q.object(object)
	if d == nil {
		return
	}
	f := q.extField(d, field)
	if f == nil {
		return
	}
	body, ok := q.readCollection()
	if !ok {
		return
	}
	o := q.o
	o.mu.Lock()
	defer o.mu.Unlock()
	ops, derr := q.prepareLocked(body, true)
	if derr != nil {
		writeDMLErr(q.w, derr)
		return
	}
	seen := map[string]bool{}
	for i := range ops {
		if ops[i].d != d {
			writeErr(q.w, 400, "INVALID_TYPE", "All records must be of type "+d.Name)
			return
		}
		if ops[i].err != nil {
			ops[i].err = readOnlyErr([]string{"Id"})
			continue
		}
		v, _ := ops[i].in.get(f.Name)
		s, _ := v.(string)
		switch {
		case s == "":
			ops[i].err = &dmlError{Code: "MISSING_ARGUMENT", Message: f.Name + " not specified", Fields: []string{f.Name}}
		case seen[strings.ToLower(s)]:
			ops[i].err = &dmlError{Code: "DUPLICATE_EXTERNAL_ID", Message: "Duplicate external id specified: " + s, Fields: []string{f.Name}}
		}
		seen[strings.ToLower(s)] = true
	}
	q.runLocked(body.AllOrNone, true, ops, func(t *txn, op op) (item, *dmlError) {
		v, _ := op.in.get(f.Name)
		value := v.(string)
		rs := o.extMatchesLocked(d, f, value)
		created := len(rs) == 0
		switch len(rs) {
		case 0:
			id, derr := t.create(d, op.in)
			return item{id: id, ok: true, created: &created}, derr
		case 1:
			return item{id: rs[0].id, ok: true, created: &created}, t.update(rs[0].id, op.in, nil)
		}
		var ids []string
		for _, r := range rs {
			ids = append(ids, r.id)
		}
		return item{}, &dmlError{Code: "DUPLICATE_EXTERNAL_ID",
			Message: fmt.Sprintf("%s: more than one record found for external id field: %v", f.Name, ids), Fields: []string{f.Name}}
	})
}
