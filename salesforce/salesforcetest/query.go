package salesforcetest

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// locator is an open query cursor.
type locator struct {
	id       string
	user     string
	rows     []orderedObject
	pageSize int
	lastUsed time.Time
}

const (
	maxLocators   = 10
	locatorIdle   = 15 * time.Minute
	maxReplicated = 600000
)

func (q *req) pageSize() int {
	n := q.o.cfg.pageSize
	if b := callOption(q.r.Header.Get("Sforce-Query-Options"), "batchSize"); b != "" {
		if v, err := strconv.Atoi(b); err == nil {
			n = min(n, max(200, min(v, 2000)))
		}
	}
	return max(1, n)
}

func (q *req) query(all bool, segs []string) {
	if q.r.Method != http.MethodGet {
		q.methodNotAllowed("GET,HEAD")
		return
	}
	switch len(segs) {
	case 0:
		q.runQuery(all)
	case 1:
		q.nextPage(segs[0])
	default:
		q.notFound()
	}
}

func (q *req) runQuery(all bool) {
	text := q.r.URL.Query().Get("q")
	if strings.TrimSpace(text) == "" {
		writeErr(q.w, 400, "MALFORMED_QUERY", "A query string must be provided")
		return
	}
	o := q.o
	o.mu.Lock()
	defer o.mu.Unlock()
	s, serr := o.parseSOQL(text)
	if serr != nil {
		writeErr(q.w, 400, serr.code, serr.msg)
		return
	}
	rows := o.selectLocked(s, all)
	if s.count {
		writeJSON(q.w, 200, orderedObject{{"totalSize", len(rows)}, {"done", true}, {"records", []orderedObject{}}})
		return
	}
	rendered := make([]orderedObject, len(rows))
	for i, r := range rows {
		rendered[i] = q.renderRecord(r, s.fields)
	}
	loc := &locator{user: q.user, rows: rendered, pageSize: q.pageSize(), lastUsed: o.now()}
	if len(rendered) > loc.pageSize {
		loc.id = o.newIDLocked("01g")
		o.locators[loc.id] = loc
		o.locOrder = append(o.locOrder, loc.id)
		var mine []string
		for _, id := range o.locOrder {
			if l := o.locators[id]; l != nil && l.user == q.user {
				mine = append(mine, id)
			}
		}
		if len(mine) > maxLocators {
			delete(o.locators, mine[0])
			o.locOrder = slices.DeleteFunc(o.locOrder, func(id string) bool { return id == mine[0] })
		}
	}
	q.writePage(loc, 0)
}

func (q *req) writePage(loc *locator, from int) {
	end := min(from+loc.pageSize, len(loc.rows))
	page := loc.rows[from:end]
	if page == nil {
		page = []orderedObject{}
	}
	res := orderedObject{{"totalSize", len(loc.rows)}, {"done", end >= len(loc.rows)}}
	if end < len(loc.rows) {
		res = append(res, kv{"nextRecordsUrl", fmt.Sprintf("/services/data/v%s/query/%s-%d", q.ver, loc.id, end)})
	}
	res = append(res, kv{"records", page})
	writeJSON(q.w, 200, res)
}

func (q *req) nextPage(seg string) {
	o := q.o
	o.mu.Lock()
	defer o.mu.Unlock()
	id, offStr, ok := strings.Cut(seg, "-")
	off, err := strconv.Atoi(offStr)
	loc := o.locators[id]
	now := o.now()
	if !ok || err != nil || loc == nil || loc.user != q.user || off < 0 || off > len(loc.rows) || now.Sub(loc.lastUsed) > locatorIdle {
		writeErr(q.w, 400, "INVALID_QUERY_LOCATOR", "invalid query locator")
		return
	}
	loc.lastUsed = now
	q.writePage(loc, off)
}

// replication serves getUpdated and getDeleted.
func (q *req) replication(d *objectDef, deleted bool) {
	qs := q.r.URL.Query()
	rawStart, rawEnd := qs.Get("start"), qs.Get("end")
	if rawStart == "" || rawEnd == "" {
		writeErr(q.w, 400, "MISSING_ARGUMENT", "start and end are required")
		return
	}
	start, err1 := parseSFTime(rawStart)
	end, err2 := parseSFTime(rawEnd)
	if err1 != nil || err2 != nil {
		writeErr(q.w, 400, "INVALID_REPLICATION_DATE", "Unable to parse start or end date")
		return
	}
	start, end = start.Truncate(time.Minute), end.Truncate(time.Minute)
	o := q.o
	o.mu.Lock()
	defer o.mu.Unlock()
	now := o.now()
	covered := end
	if nowMin := now.Truncate(time.Minute); covered.After(nowMin) {
		covered = nowMin
	}
	window, what := 30*24*time.Hour, "30"
	if deleted {
		window, what = 15*24*time.Hour, "15"
	}
	switch {
	case !start.Before(end):
		writeErr(q.w, 400, "INVALID_REPLICATION_DATE", "startDate must chronologically precede endDate by more than one minute")
		return
	case start.Before(now.Add(-window)):
		writeErr(q.w, 400, "INVALID_REPLICATION_DATE", "startDate cannot be more than "+what+" days ago")
		return
	}
	var ids []string
	var dels []orderedObject
	for _, r := range o.sortedLocked(d.Name, deleted) {
		if deleted {
			if r.deleted && !r.deletedAt.Before(start) && r.deletedAt.Before(covered) && !r.deletedAt.Before(o.purged) {
				dels = append(dels, orderedObject{{"id", r.id}, {"deletedDate", r.deletedAt.Format(sfTime)}})
			}
			continue
		}
		if sm, _ := r.vals["SystemModstamp"].(time.Time); !sm.Before(start) && sm.Before(covered) {
			ids = append(ids, r.id)
		}
	}
	if len(ids) > maxReplicated || len(dels) > maxReplicated {
		writeErr(q.w, 400, "EXCEEDED_ID_LIMIT", "Too many ids: narrow the replication window")
		return
	}
	if deleted {
		if dels == nil {
			dels = []orderedObject{}
		}
		writeJSON(q.w, 200, orderedObject{{"deletedRecords", dels},
			{"earliestDateAvailable", o.purged.Format(sfTime)}, {"latestDateCovered", covered.Format(sfTime)}})
		return
	}
	if ids == nil {
		ids = []string{}
	}
	writeJSON(q.w, 200, orderedObject{{"ids", ids}, {"latestDateCovered", covered.Format(sfTime)}})
}
