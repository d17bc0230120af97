package salesforcetest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// DefaultBulkPageSize is the records of a Bulk results page when the
// request has no maxRecords.
const DefaultBulkPageSize = 10000

// The states of a Bulk API 2.0 query job.
const (
	JobUploadComplete = "UploadComplete"
	JobInProgress     = "InProgress"
	JobComplete       = "JobComplete"
	JobFailed         = "Failed"
	JobAborted        = "Aborted"
)

// BulkJob is a snapshot of a Bulk API 2.0 query job of the fake org.
type BulkJob struct {
	ID, Operation, Object, Query, State string
	// APIVersion ("62.0"), ColumnDelimiter and LineEnding are as created.
	APIVersion, ColumnDelimiter, LineEnding string
	// Records is the number of result records once complete.
	Records int
	// Polls counts the job-info requests; ResultRequests the results
	// requests (failed ones included).
	Polls, ResultRequests int
}

// bulkJob is a query job. Its results are rendered once, when it
// completes, as Salesforce snapshots them.
type bulkJob struct {
	id, op, object, query, user string
	ver                         string
	delimName, lineEnding       string
	delim                       byte
	created, modstamp           time.Time
	state                       string
	held                        bool
	due                         time.Time
	failWith                    string // end Failed with this message
	errMsg                      string
	header                      []byte
	data                        []byte // every row, each ended by the line ending
	offs                        []int  // row start offsets, plus len(data)
	locators                    map[string]int
	byOffset                    map[int]string
	processing                  time.Duration
	polls, resultRequests       int
}

func (j *bulkJob) terminal() bool {
	return j.state == JobComplete || j.state == JobFailed || j.state == JobAborted
}

func (j *bulkJob) snapshot() BulkJob {
	return BulkJob{ID: j.id, Operation: j.op, Object: j.object, Query: j.query, State: j.state,
		APIVersion: j.ver, ColumnDelimiter: j.delimName, LineEnding: j.lineEnding,
		Records: max(0, len(j.offs)-1), Polls: j.polls, ResultRequests: j.resultRequests}
}

// WithBulkJobDuration makes query jobs run for d on the org clock
// (WithClock) before they complete (default 0: complete when first
// looked at). Tests move the clock instead of sleeping.
func WithBulkJobDuration(d time.Duration) Option { return func(c *config) { c.bulkDuration = d } }

// WithBulkPageCap caps the records of every Bulk results page, whatever
// maxRecords asks for (default: no cap), as Salesforce's size limits do:
// clients must follow Sforce-Locator and never infer the end from a short
// page.
func WithBulkPageCap(n int) Option { return func(c *config) { c.bulkPageCap = n } }

// HoldBulkJobs makes the query jobs created while hold is on stay
// InProgress until CompleteBulkJob or FailBulkJob ends them.
func (o *Org) HoldBulkJobs(hold bool) {
	o.mu.Lock()
	o.bulkHold = hold
	o.mu.Unlock()
}

// FailNextBulkJobs makes the next n query jobs end Failed with message
// (the job's errorMessage) instead of completing.
func (o *Org) FailNextBulkJobs(n int, message string) {
	o.mu.Lock()
	for range n {
		o.bulkFailNext = append(o.bulkFailNext, message)
	}
	o.mu.Unlock()
}

// CompleteBulkJob runs a held job's query and completes it.
func (o *Org) CompleteBulkJob(id string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	j := o.bulkJobs[id]
	if j == nil || j.terminal() {
		return fmt.Errorf("salesforcetest: no running bulk job %q", id)
	}
	j.held, j.failWith = false, ""
	o.finishJobLocked(j)
	return nil
}

// FailBulkJob ends a running job Failed with message.
func (o *Org) FailBulkJob(id, message string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	j := o.bulkJobs[id]
	if j == nil || j.terminal() {
		return fmt.Errorf("salesforcetest: no running bulk job %q", id)
	}
	j.held, j.failWith = false, message
	o.finishJobLocked(j)
	return nil
}

// DeleteBulkJob removes a job in any state, as another user or the
// seven-day purge would: its info and results answer 404 NOT_FOUND.
func (o *Org) DeleteBulkJob(id string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	_, ok := o.bulkJobs[id]
	delete(o.bulkJobs, id)
	return ok
}

// BreakNextResultsPage makes the next Bulk results response stop after
// rows records and half of the next one, and then drop the connection.
func (o *Org) BreakNextResultsPage(rows int) {
	o.mu.Lock()
	o.bulkBreak = append(o.bulkBreak, rows)
	o.mu.Unlock()
}

// BulkJobs returns every query job that exists, oldest first.
func (o *Org) BulkJobs() []BulkJob {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []BulkJob
	for _, id := range o.bulkOrder {
		if j := o.bulkJobs[id]; j != nil {
			out = append(out, j.snapshot())
		}
	}
	return out
}

// WaitBulkJobs blocks until at least n query jobs have been created and
// returns the ids of all created so far, oldest first.
func (o *Org) WaitBulkJobs(n int) []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	for len(o.bulkOrder) < n {
		o.cond.Wait()
	}
	return slices.Clone(o.bulkOrder)
}

// WaitBulkPolls blocks until job id has been polled at least n times (or
// no longer exists).
func (o *Org) WaitBulkPolls(id string, n int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for {
		j := o.bulkJobs[id]
		if j == nil || j.polls >= n {
			return
		}
		o.cond.Wait()
	}
}

// advanceLocked moves a job on: picked up once anyone looks at it, then
// complete when its time has come, unless held.
func (o *Org) advanceLocked(j *bulkJob) {
	if j.terminal() {
		return
	}
	if j.state == JobUploadComplete {
		j.state = JobInProgress
	}
	if !j.held && !o.now().Before(j.due) {
		o.finishJobLocked(j)
	}
}

// finishJobLocked ends a job: Failed when asked to, else the query runs
// and its rows are rendered as CSV.
func (o *Org) finishJobLocked(j *bulkJob) {
	now := o.now()
	j.modstamp, j.processing = now, now.Sub(j.created)
	if j.failWith != "" {
		j.state, j.errMsg = JobFailed, j.failWith
		return
	}
	s, serr := o.parseSOQL(j.query)
	if serr != nil {
		j.state, j.errMsg = JobFailed, serr.code+": "+serr.msg
		return
	}
	rows := o.selectLocked(s, j.op == "queryAll")
	eol := "\n"
	if j.lineEnding == "CRLF" {
		eol = "\r\n"
	}
	var hdr []byte
	for i, f := range s.fields {
		if i > 0 {
			hdr = append(hdr, j.delim)
		}
		hdr = appendCSVQuoted(hdr, f.Name)
	}
	j.header = append(hdr, eol...)
	j.offs = make([]int, 0, len(rows)+1)
	for _, r := range rows {
		j.offs = append(j.offs, len(j.data))
		for i, f := range s.fields {
			if i > 0 {
				j.data = append(j.data, j.delim)
			}
			j.data = appendCSVValue(j.data, f, r.value(f))
		}
		j.data = append(j.data, eol...)
	}
	j.offs = append(j.offs, len(j.data))
	j.state = JobComplete
}

// selectLocked runs a parsed query's filter, order and limits.
func (o *Org) selectLocked(s *soql, all bool) []*record {
	var rows []*record
	for _, r := range o.sortedLocked(s.d.Name, all) {
		ok := true
		for _, c := range s.where {
			ok = ok && c.match(r)
		}
		if ok {
			rows = append(rows, r)
		}
	}
	if len(s.order) > 0 {
		slices.SortStableFunc(rows, s.less)
	}
	rows = rows[min(s.offset, len(rows)):]
	if s.limit >= 0 && len(rows) > s.limit {
		rows = rows[:s.limit]
	}
	return rows
}

// jobs serves /jobs/query[/{id}[/results]].
func (q *req) jobs(segs []string) {
	if len(segs) == 0 || segs[0] != "query" || q.verNum < 47 {
		q.notFound()
		return
	}
	switch segs = segs[1:]; {
	case len(segs) == 0 && q.r.Method == http.MethodPost:
		q.createJob()
	case len(segs) == 0 && q.r.Method == http.MethodGet:
		q.listJobs()
	case len(segs) == 0:
		q.methodNotAllowed("GET,HEAD,POST")
	case len(segs) == 1 && q.r.Method == http.MethodGet:
		q.jobInfo(segs[0])
	case len(segs) == 1 && q.r.Method == http.MethodPatch:
		q.abortJob(segs[0])
	case len(segs) == 1 && q.r.Method == http.MethodDelete:
		q.deleteJob(segs[0])
	case len(segs) == 1:
		q.methodNotAllowed("GET,HEAD,PATCH,DELETE")
	case len(segs) == 2 && segs[1] == "results" && q.r.Method == http.MethodGet:
		q.results(segs[0])
	case len(segs) == 2 && segs[1] == "results":
		q.methodNotAllowed("GET,HEAD")
	default:
		q.notFound()
	}
}

func (q *req) createJob() {
	var body struct {
		Operation, Query, ContentType, ColumnDelimiter, LineEnding string
	}
	if !q.decodeBody(&body) {
		return
	}
	bad := func(msg string) { writeErr(q.w, 400, "INVALIDJOB", msg) }
	if body.Operation != "query" && body.Operation != "queryAll" {
		bad(fmt.Sprintf("InvalidJob : Invalid operation: %q; query jobs take query or queryAll", body.Operation))
		return
	}
	if body.ContentType != "" && body.ContentType != "CSV" {
		bad("InvalidJob : Invalid contentType: " + body.ContentType)
		return
	}
	delimName := cmpOr(body.ColumnDelimiter, "COMMA")
	delim, ok := map[string]byte{"COMMA": ',', "BACKQUOTE": '`', "CARET": '^', "PIPE": '|', "SEMICOLON": ';', "TAB": '\t'}[delimName]
	if !ok {
		bad("InvalidJob : Invalid columnDelimiter: " + body.ColumnDelimiter)
		return
	}
	lineEnding := cmpOr(body.LineEnding, "LF")
	if lineEnding != "LF" && lineEnding != "CRLF" {
		bad("InvalidJob : Invalid lineEnding: " + body.LineEnding)
		return
	}
	if strings.TrimSpace(body.Query) == "" {
		bad("InvalidJob : Query is required")
		return
	}
	o := q.o
	o.mu.Lock()
	defer o.mu.Unlock()
	s, serr := o.parseSOQL(body.Query)
	switch {
	case serr != nil:
		bad(serr.code + ": " + serr.msg)
		return
	case s.count:
		writeErr(q.w, 400, "API_ERROR", "Implementation restriction: aggregate queries (COUNT()) are not supported by Bulk API 2.0 query jobs")
		return
	case s.offset > 0:
		writeErr(q.w, 400, "API_ERROR", "Implementation restriction: OFFSET is not supported by Bulk API 2.0 query jobs")
		return
	}
	if o.bulkCreated >= 10000 {
		writeErr(q.w, 400, "LIMIT_EXCEEDED", "Max bulk v2 query jobs (10000) per 24 hrs has been reached")
		return
	}
	now := o.now()
	j := &bulkJob{id: o.newIDLocked("750"), op: body.Operation, object: s.d.Name, query: body.Query, user: q.user,
		ver: q.ver, delimName: delimName, delim: delim, lineEnding: lineEnding, created: now, modstamp: now,
		state: JobUploadComplete, held: o.bulkHold, due: now.Add(o.cfg.bulkDuration),
		locators: map[string]int{}, byOffset: map[int]string{}}
	if len(o.bulkFailNext) > 0 {
		j.failWith, o.bulkFailNext = o.bulkFailNext[0], o.bulkFailNext[1:]
	}
	o.bulkJobs[j.id] = j
	o.bulkOrder = append(o.bulkOrder, j.id)
	o.bulkCreated++
	o.cond.Broadcast()
	writeJSON(q.w, 200, j.info(false))
}

// info renders the job as create (full == false) and job info answer it.
func (j *bulkJob) info(full bool) orderedObject {
	out := orderedObject{{"id", j.id}, {"operation", j.op}, {"object", j.object}, {"createdById", j.user},
		{"createdDate", j.created.Format(sfTime)}, {"systemModstamp", j.modstamp.Format(sfTime)}, {"state", j.state},
		{"concurrencyMode", "Parallel"}, {"contentType", "CSV"},
		// A JSON number as Salesforce writes it: 62.0, not 62.
		{"apiVersion", json.Number(j.ver)},
		{"lineEnding", j.lineEnding}, {"columnDelimiter", j.delimName}}
	if !full {
		return out
	}
	out = append(out, kv{"jobType", "V2Query"}, kv{"numberRecordsProcessed", max(0, len(j.offs)-1)}, kv{"retries", 0},
		kv{"totalProcessingTime", j.processing.Milliseconds()}, kv{"isPkChunkingSupported", true})
	if j.state == JobFailed {
		out = append(out, kv{"errorMessage", j.errMsg})
	}
	return out
}

// job looks a job up (404 NOT_FOUND when gone); the caller holds o.mu.
func (q *req) jobLocked(id string) *bulkJob {
	j := q.o.bulkJobs[id]
	if j == nil {
		q.notFound()
		return nil
	}
	q.o.advanceLocked(j)
	return j
}

func (q *req) jobInfo(id string) {
	o := q.o
	o.mu.Lock()
	defer o.mu.Unlock()
	if j := q.jobLocked(id); j != nil {
		j.polls++
		o.cond.Broadcast()
		writeJSON(q.w, 200, j.info(true))
	}
}

func (q *req) listJobs() {
	o := q.o
	o.mu.Lock()
	defer o.mu.Unlock()
	recs := []orderedObject{}
	for _, id := range o.bulkOrder {
		if j := o.bulkJobs[id]; j != nil {
			o.advanceLocked(j)
			recs = append(recs, append(j.info(false), kv{"jobType", "V2Query"}))
		}
	}
	writeJSON(q.w, 200, orderedObject{{"done", true}, {"records", recs}, {"nextRecordsUrl", nil}})
}

func (q *req) abortJob(id string) {
	var body struct{ State string }
	if !q.decodeBody(&body) {
		return
	}
	o := q.o
	o.mu.Lock()
	defer o.mu.Unlock()
	j := q.jobLocked(id)
	switch {
	case j == nil:
	case body.State != JobAborted:
		writeErr(q.w, 400, "INVALIDJOBSTATE", fmt.Sprintf("Invalid state: %q; query jobs can only be set to Aborted", body.State))
	case j.terminal():
		done := map[string]string{JobComplete: "Completed", JobFailed: "Failed", JobAborted: "Aborted"}[j.state]
		writeErr(q.w, 400, "INVALIDJOBSTATE", "Aborting already "+done+" Job not allowed")
	default:
		j.state, j.modstamp = JobAborted, o.now()
		writeJSON(q.w, 200, j.info(false))
	}
}

func (q *req) deleteJob(id string) {
	o := q.o
	o.mu.Lock()
	defer o.mu.Unlock()
	j := q.jobLocked(id)
	switch {
	case j == nil:
	case !j.terminal():
		writeErr(q.w, 400, "API_ERROR", "Error encountered when deleting the job because the job is not terminated")
	default:
		delete(o.bulkJobs, id)
		q.w.WriteHeader(http.StatusNoContent)
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
