package salesforcetest

import (
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/sfsync/sfsync"
)

// toolingQueryRe is the one Tooling API query the org answers: managed
// event subscriptions, all or one by Id or DeveloperName, as Pub/Sub
// clients look one up before subscribing (SELECT Id, DeveloperName,
// Metadata FROM ManagedEventSubscription WHERE DeveloperName='x' LIMIT 1).
var toolingQueryRe = regexp.MustCompile(`(?is)^\s*SELECT\s+(.+?)\s+FROM\s+(\w+)` +
	`(?:\s+WHERE\s+(\w+)\s*=\s*'([^']*)')?(?:\s+LIMIT\s+(\d+))?\s*$`)

// tooling serves /tooling/query for ManagedEventSubscription, the managed
// subscriptions registered on the org's Pub/Sub fake. The object is not
// queryable through /query, as on a real org.
func (q *req) tooling(segs []string) {
	if len(segs) != 1 || segs[0] != "query" {
		q.notFound()
		return
	}
	if q.r.Method != http.MethodGet {
		q.methodNotAllowed("GET,HEAD")
		return
	}
	soql := q.r.URL.Query().Get("q")
	m := toolingQueryRe.FindStringSubmatch(soql)
	if m == nil {
		writeErr(q.w, 400, "MALFORMED_QUERY", "unexpected token in the query; the fake org's Tooling API answers "+
			"SELECT <fields> FROM ManagedEventSubscription [WHERE Id|DeveloperName = '<value>'] [LIMIT n]")
		return
	}
	if !strings.EqualFold(m[2], "ManagedEventSubscription") {
		writeErr(q.w, 400, "INVALID_TYPE", fmt.Sprintf("sObject type '%s' is not supported.", m[2]))
		return
	}
	var fields []string
	for _, f := range strings.Split(m[1], ",") {
		f = strings.TrimSpace(f)
		switch strings.ToLower(f) {
		case "id", "developername", "masterlabel", "metadata":
			fields = append(fields, f)
		default:
			writeErr(q.w, 400, "INVALID_FIELD", fmt.Sprintf("No such column '%s' on entity 'ManagedEventSubscription'.", f))
			return
		}
	}
	where, value := strings.ToLower(m[3]), m[4]
	if where != "" && where != "id" && where != "developername" {
		writeErr(q.w, 400, "INVALID_FIELD", fmt.Sprintf("No such column '%s' on entity 'ManagedEventSubscription'.", m[3]))
		return
	}
	limit := -1
	if m[5] != "" {
		limit, _ = strconv.Atoi(m[5])
	}
	records := []map[string]any{}
	for _, sub := range q.o.ps.ManagedSubscriptions() {
		switch {
		case where == "id" && !sfsync.SameID(value, sub.ID),
			where == "developername" && value != sub.DeveloperName:
			continue
		}
		if limit >= 0 && len(records) >= limit {
			break
		}
		rec := map[string]any{"attributes": map[string]string{"type": "ManagedEventSubscription",
			"url": "/services/data/v" + q.ver + "/tooling/sobjects/ManagedEventSubscription/" + sub.ID}}
		for _, f := range fields {
			switch strings.ToLower(f) {
			case "id":
				rec[f] = sub.ID
			case "developername":
				rec[f] = sub.DeveloperName
			case "masterlabel":
				rec[f] = sub.DeveloperName
			case "metadata":
				// The fake resumes a subscription never committed from the
				// earliest retained event and always runs it.
				rec[f] = map[string]any{"label": sub.DeveloperName, "topicName": sub.Topic,
					"defaultReplay": "EARLIEST", "errorRecoveryReplay": "EARLIEST", "state": "RUN"}
			}
		}
		records = append(records, rec)
	}
	writeJSON(q.w, 200, map[string]any{"size": len(records), "totalSize": len(records), "done": true,
		"queryLocator": nil, "entityTypeName": "ManagedEventSubscription", "records": records})
}
