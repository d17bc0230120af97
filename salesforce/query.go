package salesforce

import (
	"context"
	"fmt"
	"iter"
	"net/url"
	"strings"
	"time"

	"github.com/sfsync/sfsync"
)

type queryPage struct {
	TotalSize      int              `json:"totalSize"`
	Done           bool             `json:"done"`
	NextRecordsURL string           `json:"nextRecordsUrl"`
	Records        []map[string]any `json:"records"`
}

// Query runs a SOQL query and yields its records, following nextRecordsUrl
// until the last page. An error is yielded once, with a nil record, and
// ends the sequence. Each page is one API call; use a context from
// [WithPriority] for background work.
func (c *Client) Query(ctx context.Context, soql string) iter.Seq2[map[string]any, error] {
	return c.query(ctx, "/query", soql)
}

// QueryAll is [Client.Query] including soft-deleted and archived records
// (filter IsDeleted = true for deletes; merged losers have MasterRecordId).
func (c *Client) QueryAll(ctx context.Context, soql string) iter.Seq2[map[string]any, error] {
	return c.query(ctx, "/queryAll", soql)
}

func (c *Client) query(ctx context.Context, path, soql string) iter.Seq2[map[string]any, error] {
	return func(yield func(map[string]any, error) bool) {
		q := url.Values{"q": {soql}}
		seen := map[string]bool{}
		for {
			var page queryPage
			if err := c.getJSON(ctx, path, q, &page); err != nil {
				yield(nil, err)
				return
			}
			for _, r := range page.Records {
				if !yield(r, nil) {
					return
				}
			}
			if page.Done || page.NextRecordsURL == "" {
				return
			}
			next, nq, err := nextPage(page.NextRecordsURL)
			if err == nil && seen[page.NextRecordsURL] {
				err = sfsync.Retryable(fmt.Errorf("salesforce: query: nextRecordsUrl %s repeats", next))
			}
			if err != nil {
				yield(nil, err)
				return
			}
			seen[page.NextRecordsURL] = true
			path, q = next, nq
		}
	}
}

// nextPage splits a nextRecordsUrl into a path on the instance and its
// query. Only the path is used, so a token never goes to another host.
func nextPage(next string) (string, url.Values, error) {
	u, err := url.Parse(next)
	if err != nil || !strings.HasPrefix(u.Path, "/services/") {
		return "", nil, sfsync.Retryable(fmt.Errorf("salesforce: query: unexpected nextRecordsUrl %q", next))
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return "", nil, sfsync.Retryable(fmt.Errorf("salesforce: query: unexpected nextRecordsUrl %q", next))
	}
	return u.EscapedPath(), q, nil
}

// Quote returns s as a SOQL string literal in single quotes, escaping
// backslash, both quotes, newline, carriage return, tab, backspace and
// form feed. (The LIKE wildcards % and _ are not escaped.)
func Quote(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('\'')
	for i := 0; i < len(s); i++ {
		switch ch := s[i]; ch {
		case '\\':
			b.WriteString(`\\`)
		case '\'':
			b.WriteString(`\'`)
		case '"':
			b.WriteString(`\"`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		default:
			b.WriteByte(ch)
		}
	}
	b.WriteByte('\'')
	return b.String()
}

// QuoteList returns ss as a parenthesised list of SOQL string literals for
// IN, such as ('a','b'). An empty ss gives "()", which SOQL rejects:
// callers skip the query instead.
func QuoteList(ss []string) string {
	var b strings.Builder
	b.WriteByte('(')
	for i, s := range ss {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(Quote(s))
	}
	b.WriteByte(')')
	return b.String()
}

// FormatDateTime formats t as an (unquoted) SOQL datetime literal in UTC,
// to the second: 2024-05-01T00:00:00Z.
func FormatDateTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

// ParseDateTime parses a datetime of the REST API, such as
// 2013-05-20T20:49:32.000+0000; RFC 3339 forms and plain dates are
// accepted too. The result is in UTC.
func ParseDateTime(s string) (time.Time, error) {
	for _, layout := range []string{"2006-01-02T15:04:05Z0700", time.RFC3339, "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("salesforce: bad datetime %q", s)
}

func parseOptionalDateTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	return ParseDateTime(s)
}

// windowQuery is the start/end query of getUpdated and getDeleted.
func windowQuery(object string, start, end time.Time) (url.Values, error) {
	if err := checkObject(object); err != nil {
		return nil, err
	}
	if !start.Before(end) {
		return nil, invalidf("%s: window start %s is not before end %s", object, start.Format(time.RFC3339), end.Format(time.RFC3339))
	}
	const layout = "2006-01-02T15:04:05-07:00"
	return url.Values{"start": {start.UTC().Format(layout)}, "end": {end.UTC().Format(layout)}}, nil
}

// Updated is the answer of getUpdated.
type Updated struct {
	IDs []string
	// LatestDateCovered is where the next window should start; it can be
	// before the requested end while long transactions are open.
	LatestDateCovered time.Time
}

// GetUpdated returns the ids of object's records created or updated
// between start and end (within the last 30 days; Salesforce truncates to
// the minute).
func (c *Client) GetUpdated(ctx context.Context, object string, start, end time.Time) (Updated, error) {
	q, err := windowQuery(object, start, end)
	if err != nil {
		return Updated{}, err
	}
	var body struct {
		IDs               []string `json:"ids"`
		LatestDateCovered string   `json:"latestDateCovered"`
	}
	if err := c.getJSON(ctx, sobjectPath(object, "updated")+"/", q, &body); err != nil {
		return Updated{}, err
	}
	latest, err := parseOptionalDateTime(body.LatestDateCovered)
	if err != nil {
		return Updated{}, sfsync.Retryable(fmt.Errorf("salesforce: getUpdated %s: %w", object, err))
	}
	return Updated{IDs: body.IDs, LatestDateCovered: latest}, nil
}

// Deleted is the answer of getDeleted.
type Deleted struct {
	Records []DeletedRecord
	// EarliestDateAvailable after the requested start means deletes may
	// have been missed: resync fully.
	EarliestDateAvailable time.Time
	LatestDateCovered     time.Time
}

// DeletedRecord is one delete reported by getDeleted.
type DeletedRecord struct {
	ID          string
	DeletedDate time.Time
}

// GetDeleted returns object's records deleted between start and end
// (within the last 15 days).
func (c *Client) GetDeleted(ctx context.Context, object string, start, end time.Time) (Deleted, error) {
	q, err := windowQuery(object, start, end)
	if err != nil {
		return Deleted{}, err
	}
	var body struct {
		DeletedRecords []struct {
			ID          string `json:"id"`
			DeletedDate string `json:"deletedDate"`
		} `json:"deletedRecords"`
		EarliestDateAvailable string `json:"earliestDateAvailable"`
		LatestDateCovered     string `json:"latestDateCovered"`
	}
	if err := c.getJSON(ctx, sobjectPath(object, "deleted")+"/", q, &body); err != nil {
		return Deleted{}, err
	}
	var d Deleted
	bad := func(err error) (Deleted, error) {
		return Deleted{}, sfsync.Retryable(fmt.Errorf("salesforce: getDeleted %s: %w", object, err))
	}
	if d.EarliestDateAvailable, err = parseOptionalDateTime(body.EarliestDateAvailable); err != nil {
		return bad(err)
	}
	if d.LatestDateCovered, err = parseOptionalDateTime(body.LatestDateCovered); err != nil {
		return bad(err)
	}
	for _, r := range body.DeletedRecords {
		t, err := parseOptionalDateTime(r.DeletedDate)
		if err != nil {
			return bad(err)
		}
		d.Records = append(d.Records, DeletedRecord{ID: r.ID, DeletedDate: t})
	}
	return d, nil
}

// Count runs a SELECT COUNT() query, such as "SELECT COUNT() FROM Contact
// WHERE SystemModstamp >= 2024-05-01T00:00:00Z", and returns its
// totalSize: one API call.
func (c *Client) Count(ctx context.Context, soql string) (int, error) {
	return c.count(ctx, "/query", soql)
}

// CountAll is [Client.Count] through queryAll: soft-deleted records count.
func (c *Client) CountAll(ctx context.Context, soql string) (int, error) {
	return c.count(ctx, "/queryAll", soql)
}

func (c *Client) count(ctx context.Context, path, soql string) (int, error) {
	var page queryPage
	if err := c.getJSON(ctx, path, url.Values{"q": {soql}}, &page); err != nil {
		return 0, fmt.Errorf("salesforce: counting records: %w", err)
	}
	return page.TotalSize, nil
}
