package salesforcetest

import (
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/sfsync/sfsync/internal/cdcschema"
)

func (q *req) sobjects(segs []string) {
	if len(segs) == 0 {
		if q.r.Method != http.MethodGet {
			q.methodNotAllowed("GET,HEAD")
			return
		}
		q.o.mu.Lock()
		var list []map[string]any
		for _, name := range []string{"Account", "Contact", "Employee__c"} {
			list = append(list, q.basicInfo(q.o.objects[strings.ToLower(name)]))
		}
		q.o.mu.Unlock()
		writeJSON(q.w, 200, map[string]any{"encoding": "UTF-8", "maxBatchSize": 200, "sobjects": list})
		return
	}
	d := q.object(segs[0])
	if d == nil {
		return
	}
	switch {
	case len(segs) == 1:
		switch q.r.Method {
		case http.MethodGet:
			q.o.mu.Lock()
			info := q.basicInfo(d)
			q.o.mu.Unlock()
			writeJSON(q.w, 200, map[string]any{"objectDescribe": info, "recentItems": []any{}})
		case http.MethodPost:
			q.create(d)
		default:
			q.methodNotAllowed("GET,HEAD,POST")
		}
	case len(segs) == 2 && segs[1] == "describe":
		q.describe(d)
	case len(segs) == 2 && (segs[1] == "updated" || segs[1] == "deleted"):
		if q.r.Method != http.MethodGet {
			q.methodNotAllowed("GET,HEAD")
			return
		}
		q.replication(d, segs[1] == "deleted")
	case len(segs) == 2:
		q.row(d, segs[1])
	case len(segs) == 3:
		q.byExternalID(d, segs[1], segs[2])
	default:
		q.notFound()
	}
}

func (q *req) basicInfo(d *objectDef) map[string]any {
	base := "/services/data/v" + q.ver + "/sobjects/" + d.Name
	return map[string]any{"name": d.Name, "label": strings.TrimSuffix(d.Name, "__c"), "keyPrefix": d.Prefix,
		"custom": strings.HasSuffix(d.Name, "__c"), "createable": true, "updateable": true, "deletable": true,
		"queryable": true, "replicateable": true,
		"urls": map[string]string{"sobject": base, "describe": base + "/describe", "rowTemplate": base + "/{ID}"}}
}

func fieldType(f *fieldDef) string {
	switch {
	case f.Name == "Id":
		return "id"
	case strings.HasSuffix(f.Name, "Id") && f.Kind == cdcschema.String:
		return "reference"
	}
	return kindName(f.Kind)
}

func (q *req) describe(d *objectDef) {
	if q.r.Method != http.MethodGet {
		q.methodNotAllowed("GET,HEAD")
		return
	}
	q.o.mu.Lock()
	info := q.basicInfo(d)
	var fields []map[string]any
	for _, f := range d.fields {
		writable := !f.ReadOnly && f.computed == nil
		fields = append(fields, map[string]any{"name": f.Name, "label": f.Name, "type": fieldType(f),
			"createable": writable, "updateable": writable, "nillable": !f.Required && f.Name != "Id",
			"externalId": f.ExtID, "idLookup": f.ExtID || f.Name == "Id", "custom": strings.HasSuffix(f.Name, "__c")})
	}
	q.o.mu.Unlock()
	info["fields"] = fields
	writeJSON(q.w, 200, info)
}

func (q *req) create(d *objectDef) {
	var body map[string]any
	if !q.decodeBody(&body) {
		return
	}
	o := q.o
	o.mu.Lock()
	in, derr := resolveInput(d, body)
	if derr != nil {
		o.mu.Unlock()
		writeDMLErr(q.w, derr)
		return
	}
	t := o.beginLocked(q.user, q.origin())
	id, derr := t.create(d, in)
	if derr != nil {
		t.rollback()
		o.mu.Unlock()
		writeDMLErr(q.w, derr)
		return
	}
	t.commit(true)
	o.mu.Unlock()
	writeJSON(q.w, 201, orderedObject{{"id", id}, {"success", true}, {"errors", []any{}}})
}

func etag(r *record) string {
	b, _ := json.Marshal(r.view())
	sum := sha1.Sum(b)
	return `"` + base64.StdEncoding.EncodeToString(sum[:]) + `"`
}

func etagMatches(header, tag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimSuffix(strings.TrimSuffix(t, `"`), "-gzip")+`"` == tag || t == tag {
			return true
		}
	}
	return false
}

// lookupLocked returns a live record or writes the error.
func (q *req) lookupLocked(d *objectDef, rawID string) (*record, *dmlError) {
	id, derr := q.o.recordOf(d, rawID)
	if derr != nil {
		return nil, derr
	}
	r := q.o.records[id]
	if r == nil {
		return nil, errNotFound()
	}
	if r.deleted {
		return nil, errDeleted()
	}
	return r, nil
}

func (q *req) row(d *objectDef, rawID string) {
	switch q.r.Method {
	case http.MethodGet, http.MethodHead:
		q.getRow(d, rawID)
	case http.MethodPatch:
		q.patchRow(d, rawID)
	case http.MethodDelete:
		o := q.o
		o.mu.Lock()
		id, derr := o.recordOf(d, rawID)
		if derr == nil {
			t := o.beginLocked(q.user, q.origin())
			if derr = t.delete(id); derr == nil {
				t.commit(true)
			}
		}
		o.mu.Unlock()
		if derr != nil {
			writeDMLErr(q.w, derr)
			return
		}
		q.w.WriteHeader(http.StatusNoContent)
	default:
		q.methodNotAllowed("GET,PATCH,DELETE,HEAD")
	}
}

func (q *req) getRow(d *objectDef, rawID string) {
	o := q.o
	o.mu.Lock()
	defer o.mu.Unlock()
	r, derr := q.lookupLocked(d, rawID)
	if derr != nil {
		writeDMLErr(q.w, derr)
		return
	}
	var fields []*fieldDef
	if list := q.r.URL.Query().Get("fields"); list != "" {
		if fields, derr = parseFields(d, list); derr != nil {
			writeDMLErr(q.w, derr)
			return
		}
	}
	q.writeRow(r, fields)
}

// writeRow writes a record with Last-Modified (and ETag for Account),
// honouring If-Modified-Since and If-None-Match.
func (q *req) writeRow(r *record, fields []*fieldDef) {
	lmd, _ := r.vals["LastModifiedDate"].(time.Time)
	h := q.w.Header()
	h.Set("Last-Modified", lmd.UTC().Format(http.TimeFormat))
	if r.obj.Name == "Account" {
		tag := etag(r)
		h.Set("ETag", tag)
		if inm := q.r.Header.Get("If-None-Match"); inm != "" && etagMatches(inm, tag) {
			q.w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	if ims := q.r.Header.Get("If-Modified-Since"); ims != "" {
		if t, err := http.ParseTime(ims); err == nil && !lmd.Truncate(time.Second).After(t) {
			q.w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	writeJSON(q.w, 200, q.renderRecord(r, fields))
}

// preconditions builds the conditional-request check of a PATCH; ok is
// false when the headers are invalid (the error is written).
func (q *req) preconditions() (func(*record) *dmlError, bool) {
	var ius time.Time
	if v := q.r.Header.Get("If-Unmodified-Since"); v != "" {
		t, err := http.ParseTime(v)
		if err != nil {
			writeErr(q.w, 400, "INVALID_HEADER_TYPE", "Invalid If-Unmodified-Since header: "+v)
			return nil, false
		}
		ius = t
	}
	im, inm := q.r.Header.Get("If-Match"), q.r.Header.Get("If-None-Match")
	return func(r *record) *dmlError {
		lmd, _ := r.vals["LastModifiedDate"].(time.Time)
		if !ius.IsZero() && lmd.Truncate(time.Second).After(ius) {
			return &dmlError{Status: 412, Code: "PRECONDITION_FAILED",
				Message: "The requested resource has been modified since " + ius.UTC().Format(http.TimeFormat)}
		}
		if r.obj.Name == "Account" {
			tag := etag(r)
			if (im != "" && !etagMatches(im, tag)) || (inm != "" && etagMatches(inm, tag)) {
				return &dmlError{Status: 412, Code: "PRECONDITION_FAILED", Message: "The requested resource's ETag does not satisfy the precondition"}
			}
		}
		return nil
	}, true
}

func (q *req) patchRow(d *objectDef, rawID string) {
	var body map[string]any
	if !q.decodeBody(&body) {
		return
	}
	check, ok := q.preconditions()
	if !ok {
		return
	}
	o := q.o
	o.mu.Lock()
	id, derr := o.recordOf(d, rawID)
	if derr != nil {
		o.mu.Unlock()
		writeDMLErr(q.w, derr)
		return
	}
	for k, v := range body {
		if strings.EqualFold(k, "Id") {
			if s, _ := v.(string); s != "" {
				if full, _ := normID(s); full == id {
					delete(body, k)
				}
			}
		}
	}
	in, derr := resolveInput(d, body)
	if derr == nil {
		t := o.beginLocked(q.user, q.origin())
		if derr = t.update(id, in, check); derr == nil {
			t.commit(true)
		}
	}
	o.mu.Unlock()
	if derr != nil {
		writeDMLErr(q.w, derr)
		return
	}
	q.w.WriteHeader(http.StatusNoContent)
}

// extMatchesLocked returns the live records of d whose field f equals value.
func (o *Org) extMatchesLocked(d *objectDef, f *fieldDef, value string) []*record {
	var out []*record
	for _, r := range o.sortedLocked(d.Name, false) {
		if s, ok := r.vals[f.Name].(string); ok && strings.EqualFold(s, value) {
			out = append(out, r)
		}
	}
	return out
}

func (q *req) extField(d *objectDef, name string) *fieldDef {
	q.o.mu.Lock()
	f := d.byLower[strings.ToLower(name)]
	q.o.mu.Unlock()
	if f == nil || (!f.ExtID && f.Name != "Id") {
		writeErr(q.w, 404, "NOT_FOUND", "Provided external ID field does not exist or is not accessible: "+name)
		return nil
	}
	return f
}

func (q *req) multipleMatches(d *objectDef, rs []*record) {
	var urls []string
	for _, r := range rs {
		urls = append(urls, q.recordURL(d, r.id))
	}
	writeJSON(q.w, http.StatusMultipleChoices, urls)
}

func (q *req) byExternalID(d *objectDef, field, value string) {
	f := q.extField(d, field)
	if f == nil {
		return
	}
	if f.Name == "Id" {
		q.row(d, value)
		return
	}
	switch q.r.Method {
	case http.MethodGet, http.MethodHead, http.MethodDelete:
		o := q.o
		o.mu.Lock()
		defer o.mu.Unlock()
		rs := o.extMatchesLocked(d, f, value)
		switch {
		case len(rs) == 0:
			q.notFound()
		case len(rs) > 1:
			q.multipleMatches(d, rs)
		case q.r.Method == http.MethodDelete:
			t := o.beginLocked(q.user, q.origin())
			if derr := t.delete(rs[0].id); derr != nil {
				writeDMLErr(q.w, derr)
				return
			}
			t.commit(true)
			q.w.WriteHeader(http.StatusNoContent)
		default:
			var fields []*fieldDef
			if list := q.r.URL.Query().Get("fields"); list != "" {
				var derr *dmlError
				if fields, derr = parseFields(d, list); derr != nil {
					writeDMLErr(q.w, derr)
					return
				}
			}
			q.writeRow(rs[0], fields)
		}
	case http.MethodPatch, http.MethodPost:
		q.upsert(d, f, value)
	default:
		q.methodNotAllowed("GET,PATCH,DELETE,HEAD,POST")
	}
}

func (q *req) upsert(d *objectDef, f *fieldDef, value string) {
	var body map[string]any
	if !q.decodeBody(&body) {
		return
	}
	for k, v := range body {
		if strings.EqualFold(k, f.Name) {
			if s, _ := v.(string); s != value {
				writeErr(q.w, 400, "INVALID_FIELD", fmt.Sprintf("The value of %s in the request body does not match the value in the URL", f.Name), f.Name)
				return
			}
			delete(body, k)
		}
	}
	o := q.o
	o.mu.Lock()
	defer o.mu.Unlock()
	in, derr := resolveInput(d, body)
	if derr != nil {
		writeDMLErr(q.w, derr)
		return
	}
	rs := o.extMatchesLocked(d, f, value)
	if len(rs) > 1 {
		q.multipleMatches(d, rs)
		return
	}
	t := o.beginLocked(q.user, q.origin())
	if len(rs) == 0 {
		in.vals = append(slices.Clone(in.vals), fieldVal{f, value})
		id, derr := t.create(d, in)
		if derr != nil {
			writeDMLErr(q.w, derr)
			return
		}
		t.commit(true)
		res := orderedObject{{"id", id}, {"success", true}, {"errors", []any{}}}
		if q.verNum >= 46 {
			res = append(res, kv{"created", true})
		}
		writeJSON(q.w, 201, res)
		return
	}
	if derr := t.update(rs[0].id, in, nil); derr != nil {
		writeDMLErr(q.w, derr)
		return
	}
	t.commit(true)
	if q.verNum < 46 {
		q.w.WriteHeader(http.StatusNoContent)
		return
	}
	writeJSON(q.w, 200, orderedObject{{"id", rs[0].id}, {"success", true}, {"errors", []any{}}, {"created", false}})
}
