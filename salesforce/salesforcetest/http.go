package salesforcetest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
)

// apiError is one element of a REST error array.
type apiError struct {
	Message   string   `json:"message"`
	ErrorCode string   `json:"errorCode"`
	Fields    []string `json:"fields"`
}

// req is one /services/data request being served.
type req struct {
	w      http.ResponseWriter
	r      *http.Request
	o      *Org
	ver    string  // "62.0"
	verNum float64 // 62
	user   string
	client string
	rest   string // path after the version, e.g. "/sobjects/Account"
}

func (q *req) origin() string {
	s := "com/salesforce/api/rest/" + q.ver
	if q.client != "" {
		s += ";client=" + q.client
	}
	return s
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func writeErr(w http.ResponseWriter, status int, code, msg string, fields ...string) {
	if fields == nil {
		fields = []string{}
	}
	writeJSON(w, status, []apiError{{Message: msg, ErrorCode: code, Fields: fields}})
}

func writeDMLErr(w http.ResponseWriter, e *dmlError) {
	writeErr(w, statusOr(e.Status, 400), e.Code, e.Message, e.Fields...)
}

var versionRe = regexp.MustCompile(`^/services/data/v(\d+\.\d+)(/.*)?$`)

// ServeHTTP implements http.Handler.
func (o *Org) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	switch {
	case strings.HasPrefix(p, "/services/oauth2/"):
		o.mu.Lock()
		f := o.takeFaultLocked(r, true)
		if f == nil {
			f = o.takeFaultLocked(r, false)
		}
		o.mu.Unlock()
		if f != nil {
			if f.Block != nil {
				<-f.Block
			}
			switch {
			case f.Status == 0:
			case f.Code == "":
				writeFault(w, f)
				return
			default:
				oauthErr(w, f.Status, f.Code, faultMessage(f.Code, f.Message, ""))
				return
			}
		}
		o.serveOAuth(w, r)
	case p == "/services/data" || p == "/services/data/":
		var out []map[string]string
		for _, v := range []string{"58.0", "59.0", "60.0", "61.0", "62.0", "63.0", "64.0", "65.0"} {
			out = append(out, map[string]string{"label": "Fake", "url": "/services/data/v" + v, "version": v})
		}
		writeJSON(w, 200, out)
	case strings.HasPrefix(p, "/services/data/"):
		o.serveData(w, r)
	case strings.HasPrefix(p, "/id/"):
		o.userinfo(w, r)
	default:
		writeErr(w, 404, "NOT_FOUND", "The requested resource does not exist")
	}
}

func writeFault(w http.ResponseWriter, f *Fault) {
	if f.Code == "" {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(f.Status)
		fmt.Fprintf(w, "<html><head><title>%d %s</title></head><body><h1>%d %s</h1></body></html>\n",
			f.Status, http.StatusText(f.Status), f.Status, http.StatusText(f.Status))
		return
	}
	writeErr(w, f.Status, f.Code, faultMessage(f.Code, f.Message, ""))
}

func (o *Org) bearerUser(r *http.Request) (string, bool) {
	auth := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok {
		tok, ok = strings.CutPrefix(auth, "OAuth ")
	}
	if !ok {
		return "", false
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	u, ok := o.tokens[strings.TrimSpace(tok)]
	return u, ok
}

func callOption(h, key string) string {
	for _, part := range strings.FieldsFunc(h, func(r rune) bool { return r == ';' || r == ',' }) {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if ok && strings.EqualFold(strings.TrimSpace(k), key) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func (o *Org) serveData(w http.ResponseWriter, r *http.Request) {
	m := versionRe.FindStringSubmatch(r.URL.Path)
	if m == nil {
		writeErr(w, 404, "NOT_FOUND", "The requested resource does not exist")
		return
	}
	user, ok := o.bearerUser(r)
	if !ok {
		writeErr(w, 401, "INVALID_SESSION_ID", "Session expired or invalid")
		return
	}
	o.mu.Lock()
	if f := o.takeFaultLocked(r, true); f != nil {
		o.mu.Unlock()
		if f.Block != nil {
			<-f.Block
		}
		writeFault(w, f)
		return
	}
	if o.inflight >= o.cfg.concurrency {
		w.Header().Set("Sforce-Limit-Info", fmt.Sprintf("api-usage=%d/%d", o.used, o.max))
		o.mu.Unlock()
		writeErr(w, 403, "REQUEST_LIMIT_EXCEEDED", "ConcurrentRequests (Concurrent API Requests) Limit exceeded.")
		return
	}
	if o.used >= o.max {
		w.Header().Set("Sforce-Limit-Info", fmt.Sprintf("api-usage=%d/%d", o.used, o.max))
		o.mu.Unlock()
		writeErr(w, 403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
		return
	}
	o.used++
	o.inflight++
	o.cond.Broadcast()
	w.Header().Set("Sforce-Limit-Info", fmt.Sprintf("api-usage=%d/%d", o.used, o.max))
	f := o.takeFaultLocked(r, false)
	o.mu.Unlock()
	defer func() {
		o.mu.Lock()
		o.inflight--
		o.cond.Broadcast()
		o.mu.Unlock()
	}()
	if f != nil {
		if f.Block != nil {
			<-f.Block
		}
		if f.Status != 0 {
			writeFault(w, f)
			return
		}
	}
	verNum, _ := strconv.ParseFloat(m[1], 64)
	q := &req{w: w, r: r, o: o, ver: m[1], verNum: verNum, user: user, rest: m[2],
		client: callOption(r.Header.Get("Sforce-Call-Options"), "client")}
	q.route()
}

func (q *req) methodNotAllowed(allowed string) {
	q.w.Header().Set("Allow", allowed)
	writeErr(q.w, 405, "METHOD_NOT_ALLOWED", fmt.Sprintf("HTTP Method '%s' not allowed. Allowed are %s", q.r.Method, allowed))
}

func (q *req) notFound() { writeErr(q.w, 404, "NOT_FOUND", "The requested resource does not exist") }

func (q *req) route() {
	segs := strings.Split(strings.Trim(q.rest, "/"), "/")
	if len(segs) == 1 && segs[0] == "" {
		segs = nil
	}
	if len(segs) == 0 {
		base := "/services/data/v" + q.ver
		writeJSON(q.w, 200, map[string]string{"sobjects": base + "/sobjects", "query": base + "/query",
			"queryAll": base + "/queryAll", "limits": base + "/limits", "composite": base + "/composite"})
		return
	}
	switch segs[0] {
	case "limits":
		if len(segs) != 1 {
			q.notFound()
			return
		}
		q.limits()
	case "query", "queryAll":
		q.query(segs[0] == "queryAll", segs[1:])
	case "sobjects":
		q.sobjects(segs[1:])
	case "jobs":
		q.jobs(segs[1:])
	case "tooling":
		q.tooling(segs[1:])
	case "composite":
		if len(segs) >= 2 && segs[1] == "sobjects" {
			q.collections(segs[2:])
			return
		}
		q.notFound()
	default:
		q.notFound()
	}
}

func (q *req) limits() {
	if q.r.Method != http.MethodGet {
		q.methodNotAllowed("GET,HEAD")
		return
	}
	o := q.o
	o.mu.Lock()
	used, limit, jobs := o.used, o.max, o.bulkCreated
	o.mu.Unlock()
	lim := func(m, rem int) map[string]int { return map[string]int{"Max": m, "Remaining": rem} }
	writeJSON(q.w, 200, map[string]any{
		"DailyApiRequests":              lim(limit, max(0, limit-used)),
		"DailyBulkApiBatches":           lim(15000, 15000),
		"DailyBulkV2QueryJobs":          lim(10000, max(0, 10000-jobs)),
		"DailyBulkV2QueryFileStorageMB": lim(976562, 976562),
		"DailyAsyncApexExecutions":      lim(250000, 250000),
		"DataStorageMB":                 lim(5, 5),
		"ConcurrentSyncApexLimit":       lim(o.cfg.concurrency, o.cfg.concurrency),
	})
}

// decodeBody reads a JSON body with numbers kept as json.Number.
func (q *req) decodeBody(v any) bool {
	b, err := io.ReadAll(q.r.Body)
	if err == nil {
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		err = dec.Decode(v)
	}
	if err != nil {
		writeErr(q.w, 400, "JSON_PARSER_ERROR", "The request body is not valid JSON: "+err.Error())
		return false
	}
	return true
}

// object resolves an object name from the URL (404 NOT_FOUND if unknown).
func (q *req) object(name string) *objectDef {
	q.o.mu.Lock()
	d := q.o.objects[strings.ToLower(name)]
	q.o.mu.Unlock()
	if d == nil {
		writeErr(q.w, 404, "NOT_FOUND", "The requested resource does not exist")
	}
	return d
}

func (q *req) recordURL(d *objectDef, id string) string {
	return "/services/data/v" + q.ver + "/sobjects/" + d.Name + "/" + id
}

// orderedObject is a JSON object that keeps its key order.
type orderedObject []kv

type kv struct {
	k string
	v any
}

// MarshalJSON implements json.Marshaler.
func (m orderedObject) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, e := range m {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(e.k)
		v, err := json.Marshal(e.v)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// renderRecord renders r with the given fields (all when nil).
func (q *req) renderRecord(r *record, fields []*fieldDef) orderedObject {
	if fields == nil {
		fields = r.obj.fields
	}
	out := orderedObject{{"attributes", map[string]string{"type": r.obj.Name, "url": q.recordURL(r.obj, r.id)}}}
	for _, f := range fields {
		out = append(out, kv{f.Name, render(f, r.value(f))})
	}
	return out
}

// parseFields resolves a comma-separated field list.
func parseFields(d *objectDef, list string) ([]*fieldDef, *dmlError) {
	var out []*fieldDef
	for _, n := range strings.Split(list, ",") {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		f := d.byLower[strings.ToLower(n)]
		if f == nil {
			return nil, errInvalidField(d, n)
		}
		out = append(out, f)
	}
	return out, nil
}
