package salesforcetest

import (
	"compress/gzip"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sfsync/sfsync/internal/cdcschema"
)

// results serves one page of a completed job's CSV.
func (q *req) results(id string) {
	if a := q.r.Header.Get("Accept"); a != "" && !strings.Contains(a, "text/csv") && !strings.Contains(a, "*/*") {
		writeErr(q.w, 406, "NOT_ACCEPTABLE", "Results are only available as text/csv: send Accept: text/csv")
		return
	}
	o := q.o
	o.mu.Lock()
	j := q.jobLocked(id)
	if j == nil {
		o.mu.Unlock()
		return
	}
	j.resultRequests++
	fail := func(status int, code, msg string) {
		o.mu.Unlock()
		writeErr(q.w, status, code, msg)
	}
	switch {
	case j.state != JobComplete:
		fail(412, "JOB_NOT_COMPLETE", "can only download query results of successfully completed bulk job with status: JOB_COMPLETE. Current status: "+
			map[string]string{JobInProgress: "IN_PROGRESS", JobFailed: "FAILED", JobAborted: "ABORTED"}[j.state])
		return
	case j.ver != q.ver:
		fail(409, "INVALIDJOB", fmt.Sprintf("Results must be retrieved with the API version of the job (%s), not %s", j.ver, q.ver))
		return
	}
	qs := q.r.URL.Query()
	from := 0
	if loc := qs.Get("locator"); loc != "" {
		off, ok := j.locators[loc]
		if !ok {
			off, ok = o.seededOffsetLocked(j, loc)
		}
		if !ok {
			fail(400, "API_ERROR", "Invalid locator value: "+loc)
			return
		}
		from = off
	}
	size := DefaultBulkPageSize
	if m := qs.Get("maxRecords"); m != "" {
		n, err := strconv.Atoi(m)
		if err != nil || n < 1 {
			fail(400, "API_ERROR", "maxRecords must be a positive integer: "+m)
			return
		}
		size = n
	}
	if o.cfg.bulkPageCap > 0 {
		size = min(size, o.cfg.bulkPageCap)
	}
	rows := len(j.offs) - 1
	to := min(rows, from+size)
	next := "null"
	if to < rows {
		if next = j.byOffset[to]; next == "" {
			next = o.locatorLocked(j, to)
			j.byOffset[to], j.locators[next] = next, to
		}
	}
	header, data := j.header, j.data[j.offs[from]:j.offs[to]]
	breakAt := -1
	if len(o.bulkBreak) > 0 {
		breakAt, o.bulkBreak = o.bulkBreak[0], o.bulkBreak[1:]
	}
	var breakOff int
	if breakAt >= 0 {
		// Half way into the record after breakAt, so the CSV is cut
		// inside a value.
		k := min(from+breakAt, to)
		breakOff = j.offs[k] - j.offs[from] + (j.offs[min(k+1, to)]-j.offs[k])/2
	}
	o.mu.Unlock()

	h := q.w.Header()
	h.Set("Content-Type", "text/csv; charset=UTF-8")
	h.Set("Sforce-Locator", next)
	h.Set("Sforce-NumberOfRecords", strconv.Itoa(to-from))
	var w interface {
		Write([]byte) (int, error)
	} = q.w
	var zw *gzip.Writer
	if strings.Contains(q.r.Header.Get("Accept-Encoding"), "gzip") {
		h.Set("Content-Encoding", "gzip")
		zw, _ = gzip.NewWriterLevel(q.w, gzip.BestSpeed)
		w = zw
	}
	q.w.WriteHeader(200)
	_, _ = w.Write(header)
	if breakAt >= 0 {
		_, _ = w.Write(data[:breakOff])
		if zw != nil {
			_ = zw.Flush()
		}
		if f, ok := q.w.(http.Flusher); ok {
			f.Flush()
		}
		// Drops the connection: the client sees the body end early.
		panic(http.ErrAbortHandler)
	}
	_, _ = w.Write(data)
	if zw != nil {
		_ = zw.Close()
	}
}

func randLocator() string {
	// Opaque, as Salesforce's are: clients must not build them.
	return strings.ToUpper(randHex(2)) + randHex(10)
}

// appendCSVQuoted appends s quoted, with inner quotes doubled.
func appendCSVQuoted(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' {
			b = append(b, '"')
		}
		b = append(b, s[i])
	}
	return append(b, '"')
}

// appendCSVValue renders a stored value as Bulk CSV: null as an empty
// unquoted value, everything else quoted; booleans true/false, dates
// 2006-01-02, datetimes 2006-01-02T15:04:05.000Z.
func appendCSVValue(b []byte, f *fieldDef, v any) []byte {
	switch x := v.(type) {
	case nil:
		return b
	case string:
		return appendCSVQuoted(b, x)
	case bool:
		return appendCSVQuoted(b, strconv.FormatBool(x))
	case int64:
		return appendCSVQuoted(b, strconv.FormatInt(x, 10))
	case float64:
		return appendCSVQuoted(b, strconv.FormatFloat(x, 'f', -1, 64))
	case time.Time:
		if f.Kind == cdcschema.Date {
			return appendCSVQuoted(b, x.UTC().Format("2006-01-02"))
		}
		return appendCSVQuoted(b, x.UTC().Format("2006-01-02T15:04:05.000Z"))
	}
	return appendCSVQuoted(b, fmt.Sprint(v))
}
