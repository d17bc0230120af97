package salesforce

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/internal/bounded"
)

// Progress is how far a reader of a job's results has come.
type Progress struct {
	JobID  string
	Object string
	// Next is the locator to resume from with [Client.QueryResultPages]:
	// "" once the last page has been read.
	Next string
	// Pages is the number of pages this reader has read.
	Pages int
	// Records is the number of records read, counting [WithRecordsRead].
	Records int64
	// Total is the job's number of records, or -1 when unknown.
	Total int64
}

// ResultPage is one page of a query job's results. Its records are
// streamed from the response: read them with Rows before asking the pages
// iterator for the next page, which closes this one.
type ResultPage struct {
	JobID string
	// Locator is the locator the page was fetched with; "" for the first.
	Locator string
	// Next is the locator of the next page (the Sforce-Locator header), ""
	// after the last page. Once the page's records are handled, Next is
	// where a resumed reader continues.
	Next string
	// NumberOfRecords is the page's record count from the
	// Sforce-NumberOfRecords header, or -1 when it was absent.
	NumberOfRecords int

	ctx  context.Context
	c    *Client
	job  QueryJob
	cfg  *bulkConfig
	desc *ObjectDescribe
	body io.ReadCloser
	// fetched: the page was fetched before, so a new fetch must agree
	// with the first.
	fetched bool
	used    bool
	gone    bool // the pages iterator has moved past the page
	read    int  // records parsed
	err     error
	whole   bool // every record was parsed
}

// QueryResultPages reads the results of a completed job page by page,
// starting at locator ("" for the first page, or a page's Next to resume
// where an earlier reader stopped: locators stay valid while the job
// exists). Each page is one API call of at most [WithMaxRecords] records
// and is parsed while it is read, so memory stays bounded by one record,
// not one page or the result set. Values are typed from the object's
// describe ([Client.Describe]): booleans as bool, int fields as int64,
// double, currency and percent as float64, dates and datetimes as
// time.Time in UTC, everything else as string; an empty value is nil.
//
// A page that fails with a retryable error, before or while its records
// are read, is fetched again (see [WithPageRetries]), skipping the
// records already yielded. A job that no longer exists yields
// [ErrJobNotFound]. An error is yielded once and ends the sequence.
// job needs its ID; when its Object is empty the job is read first (one
// more call).
func (c *Client) QueryResultPages(ctx context.Context, job QueryJob, locator string, opts ...BulkOption) iter.Seq2[*ResultPage, error] {
	return func(yield func(*ResultPage, error) bool) {
		cfg := newBulkConfig(opts)
		if job.ID == "" {
			yield(nil, invalidf("bulk query results: empty job id"))
			return
		}
		if job.Object == "" {
			j, err := c.QueryJob(ctx, job.ID)
			if err != nil {
				yield(nil, err)
				return
			}
			job = j
		}
		if err := terminalError(job); err != nil {
			yield(nil, err)
			return
		}
		desc, err := c.Describe(ctx, job.Object)
		if err != nil {
			yield(nil, fmt.Errorf("salesforce: typing the results of bulk query job %s: %w", job.ID, err))
			return
		}
		prog := Progress{JobID: job.ID, Object: job.Object, Next: locator, Records: cfg.recordsRead, Total: -1}
		if job.State == JobComplete {
			prog.Total = job.NumberRecordsProcessed
		}
		if locator == "null" {
			// A persisted last Sforce-Locator: nothing is left.
			return
		}
		var p *ResultPage
		defer func() {
			// Also when the consumer panics: the body holds a connection.
			if p != nil {
				p.close()
			}
		}()
		for {
			p = &ResultPage{JobID: job.ID, Locator: locator, ctx: ctx, c: c, job: job, cfg: &cfg, desc: desc}
			if err := p.fetch(); err != nil {
				yield(nil, err)
				return
			}
			more := yield(p, nil)
			p.close()
			p.gone = true
			if !more || p.err != nil {
				return
			}
			prog.Pages++
			if p.whole || p.NumberOfRecords < 0 {
				prog.Records += int64(p.read)
			} else {
				prog.Records += int64(p.NumberOfRecords)
			}
			prog.Next = p.Next
			if cfg.progress != nil {
				cfg.progress(prog)
			}
			if p.Next == "" {
				return
			}
			locator = p.Next
		}
	}
}

// QueryResults yields the records of every page from locator on, as
// [Client.QueryResultPages] reads them.
func (c *Client) QueryResults(ctx context.Context, job QueryJob, locator string, opts ...BulkOption) iter.Seq2[Row, error] {
	return func(yield func(Row, error) bool) {
		for page, err := range c.QueryResultPages(ctx, job, locator, opts...) {
			if err != nil {
				yield(Row{}, err)
				return
			}
			for row, err := range page.Rows() {
				if !yield(row, err) || err != nil {
					return
				}
			}
		}
	}
}

// BulkQuery runs soql as one Bulk API 2.0 query job and yields its
// records: it creates the job, waits for it, reads every page and deletes
// the job (aborting it first when the caller stops early or ctx ends).
// Over N records it costs 1 + polls + ⌈N / maxRecords⌉ + 1 API calls;
// REST queryAll costs ⌈N / 2000⌉.
func (c *Client) BulkQuery(ctx context.Context, op BulkOperation, soql string, opts ...BulkOption) iter.Seq2[Row, error] {
	return func(yield func(Row, error) bool) {
		cfg := newBulkConfig(opts)
		job, err := c.CreateQueryJob(ctx, op, soql, opts...)
		if err != nil {
			yield(Row{}, err)
			return
		}
		if cfg.onJob != nil {
			cfg.onJob(job)
		}
		defer func() { c.cleanupJob(ctx, job) }()
		done, err := c.WaitQueryJob(ctx, job.ID, opts...)
		if done.ID != "" {
			job = done
		}
		if err != nil {
			yield(Row{}, err)
			return
		}
		for row, err := range c.QueryResults(ctx, job, "", opts...) {
			if !yield(row, err) || err != nil {
				return
			}
		}
	}
}

// resultsError marks an error after which the page is worth fetching
// again: a broken or truncated body.
type resultsError struct{ err error }

func (e *resultsError) Error() string { return e.err.Error() }
func (e *resultsError) Unwrap() error { return e.err }

// fetch GETs the page, retrying retryable failures.
func (p *ResultPage) fetch() error {
	q := url.Values{"maxRecords": {strconv.Itoa(p.cfg.maxRecords)}}
	if p.Locator != "" {
		q.Set("locator", p.Locator)
	}
	r := request{method: http.MethodGet, path: jobPath(p.JobID) + "/results", query: q,
		header: http.Header{"Accept": {"text/csv"}}, stream: true}
	bo := p.backoff()
	for attempt := 0; ; attempt++ {
		resp, err := p.c.do(p.ctx, r)
		var next string
		if err == nil {
			next = resp.header.Get("Sforce-Locator")
			switch next {
			case "null":
				next = ""
			case "":
				// Only "null" ends the results: a page without a
				// locator is not the last one, it is broken.
				resp.stream.Close()
				err = sfsync.Retryable(fmt.Errorf("salesforce: bulk query job %s: page %q has no Sforce-Locator header", p.JobID, p.Locator))
			}
		}
		if err == nil {
			n := -1
			if v, err := strconv.Atoi(resp.header.Get("Sforce-NumberOfRecords")); err == nil {
				n = v
			}
			if p.fetched && (next != p.Next || n != p.NumberOfRecords) {
				resp.stream.Close()
				return sfsync.Retryable(fmt.Errorf("salesforce: bulk query job %s: page %q changed when fetched again (locator %q, %d records; was %q, %d)",
					p.JobID, p.Locator, next, n, p.Next, p.NumberOfRecords))
			}
			p.Next, p.NumberOfRecords, p.body, p.fetched = next, n, resp.stream, true
			return nil
		}
		err = jobError(p.JobID, fmt.Sprintf("reading page %q of", p.Locator), err)
		if k := sfsync.KindOf(err); attempt >= p.cfg.pageRetries || p.ctx.Err() != nil ||
			k != sfsync.KindRetryable && k != sfsync.KindUnknown {
			return err
		}
		if werr := p.wait(bo); werr != nil {
			return err
		}
	}
}

func (p *ResultPage) backoff() backoff.BackOff {
	return backoff.NewExponentialBackOff(backoff.WithInitialInterval(p.cfg.pollInitial),
		backoff.WithMaxInterval(p.cfg.pollMax), backoff.WithMaxElapsedTime(0))
}

func (p *ResultPage) wait(bo backoff.BackOff) error {
	t := time.NewTimer(bo.NextBackOff())
	defer t.Stop()
	select {
	case <-p.ctx.Done():
		return p.ctx.Err()
	case <-t.C:
		return nil
	}
}

func (p *ResultPage) close() {
	if p.body != nil {
		p.body.Close()
		p.body = nil
	}
}

// Rows yields the page's records, once. A failure is yielded once, with a
// zero Row, and ends the sequence and the pages iterator.
func (p *ResultPage) Rows() iter.Seq2[Row, error] {
	return func(yield func(Row, error) bool) {
		if p.used || p.gone {
			yield(Row{}, invalidf("bulk query job %s: the records of page %q were already read, or the page was left: read them inside the pages loop", p.JobID, p.Locator))
			return
		}
		p.used = true
		bo := p.backoff()
		for attempt := 0; ; attempt++ {
			if p.body == nil {
				if err := p.fetch(); err != nil {
					p.err = err
					yield(Row{}, err)
					return
				}
			}
			stopped, err := p.parse(yield)
			p.close()
			if stopped {
				return
			}
			if err == nil {
				p.whole = true
				return
			}
			var re *resultsError
			if !errors.As(err, &re) || attempt >= p.cfg.pageRetries || p.ctx.Err() != nil || p.wait(bo) != nil {
				p.err = err
				yield(Row{}, err)
				return
			}
			p.c.cfg.logger.DebugContext(p.ctx, "salesforce: fetching a bulk results page again", "job", p.JobID, "locator", p.Locator, "skip", p.read, "error", err)
		}
	}
}

// parse reads the page's CSV, yielding the records after the p.read
// already yielded. It reports whether the consumer stopped.
func (p *ResultPage) parse(yield func(Row, error) bool) (stopped bool, err error) {
	skip := p.read
	rd := newCSVReader(p.body, p.job.ColumnDelimiter)
	what := func() string { return fmt.Sprintf("bulk query job %s, page %q", p.JobID, p.Locator) }
	header, err := rd.Read()
	if err == io.EOF {
		if p.NumberOfRecords > 0 {
			return false, &resultsError{sfsync.Retryable(fmt.Errorf("salesforce: %s: empty body, %d records announced", what(), p.NumberOfRecords))}
		}
		return false, nil
	}
	if errors.Is(err, bounded.ErrTooLarge) {
		return false, sfsync.Permanent(fmt.Errorf("salesforce: %s: the header is out of bounds (no Salesforce object has such columns): %w", what(), err))
	}
	if err != nil {
		return false, &resultsError{sfsync.Retryable(fmt.Errorf("salesforce: %s: reading the header: %w", what(), err))}
	}
	cols := newColumns(p.desc, header)
	rd.FieldsPerRecord = len(header)
	n := 0
	for {
		rec, err := rd.Read()
		if err == io.EOF {
			break
		}
		if errors.Is(err, bounded.ErrTooLarge) {
			return false, sfsync.Permanent(fmt.Errorf("salesforce: %s: record %d is out of bounds, so the page cannot be read (query fewer or shorter fields): %w", what(), n+1, err))
		}
		if err != nil {
			return false, &resultsError{sfsync.Retryable(fmt.Errorf("salesforce: %s: reading record %d: %w", what(), n+1, err))}
		}
		n++
		if n <= skip {
			continue
		}
		vals, err := cols.convert(rec)
		if err != nil {
			// The describe no longer fits the data (an admin changed
			// the field's type): the next reader describes again.
			p.c.InvalidateDescribe(p.job.Object)
			return false, sfsync.Retryable(fmt.Errorf("salesforce: %s, record %d: %w (the object's describe is refreshed on the next try)", what(), n, err))
		}
		p.read = n
		if !yield(Row{cols: cols, vals: vals}, nil) {
			return true, nil
		}
	}
	if p.NumberOfRecords >= 0 && n != p.NumberOfRecords {
		return false, &resultsError{sfsync.Retryable(fmt.Errorf("salesforce: %s: %d records, the Sforce-NumberOfRecords header announced %d (truncated)", what(), n, p.NumberOfRecords))}
	}
	return false, nil
}
