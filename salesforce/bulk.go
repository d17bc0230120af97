package salesforce

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/sfsync/sfsync"
)

// BulkOperation is the operation of a Bulk API 2.0 query job.
type BulkOperation string

// The query job operations. BulkQueryAll includes soft-deleted and merged
// records (IsDeleted = true), as REST queryAll does.
const (
	BulkQuery    BulkOperation = "query"
	BulkQueryAll BulkOperation = "queryAll"
)

// JobState is the state of a query job.
type JobState string

// The states of a query job: UploadComplete (queued) → InProgress →
// JobComplete, Failed or Aborted.
const (
	JobUploadComplete JobState = "UploadComplete"
	JobInProgress     JobState = "InProgress"
	JobComplete       JobState = "JobComplete"
	JobFailed         JobState = "Failed"
	JobAborted        JobState = "Aborted"
)

// Terminal reports whether the job's state can no longer change.
func (s JobState) Terminal() bool { return s == JobComplete || s == JobFailed || s == JobAborted }

// Errors of query jobs, matched with errors.Is.
var (
	// ErrJobFailed: the job ended Failed (Salesforce gave up after its own
	// retries, or could not run the query). Its kind is retryable: a new
	// job may succeed; the error's message carries the job's errorMessage.
	ErrJobFailed = errors.New("salesforce: bulk query job failed")
	// ErrJobAborted: someone aborted the job. Its kind is permanent: start
	// a new job only when asked to.
	ErrJobAborted = errors.New("salesforce: bulk query job aborted")
	// ErrJobNotFound: the job does not exist (any more): deleted by
	// someone, or purged seven days after it completed. Its kind is
	// conflict: its locators are gone, so start a new job rather than
	// retrying this one. It also matches [sfsync.ErrNotFound].
	ErrJobNotFound = errors.New("salesforce: bulk query job not found")
)

// QueryJob is the information of a Bulk API 2.0 query job.
type QueryJob struct {
	ID              string
	Operation       BulkOperation
	Object          string
	State           JobState
	CreatedDate     time.Time
	SystemModstamp  time.Time
	APIVersion      string
	ColumnDelimiter string
	LineEnding      string
	// NumberRecordsProcessed is the number of result records once the job
	// is complete (0 before).
	NumberRecordsProcessed int64
	Retries                int
	TotalProcessingTime    time.Duration
	// ErrorMessage is why a Failed job failed, when Salesforce says.
	ErrorMessage string
}

type jobJSON struct {
	ID                     string          `json:"id"`
	Operation              string          `json:"operation"`
	Object                 string          `json:"object"`
	State                  string          `json:"state"`
	CreatedDate            string          `json:"createdDate"`
	SystemModstamp         string          `json:"systemModstamp"`
	APIVersion             json.RawMessage `json:"apiVersion"`
	ColumnDelimiter        string          `json:"columnDelimiter"`
	LineEnding             string          `json:"lineEnding"`
	NumberRecordsProcessed int64           `json:"numberRecordsProcessed"`
	Retries                int             `json:"retries"`
	TotalProcessingTime    int64           `json:"totalProcessingTime"`
	ErrorMessage           string          `json:"errorMessage"`
}

func (j jobJSON) job() QueryJob {
	created, _ := parseOptionalDateTime(j.CreatedDate)
	stamp, _ := parseOptionalDateTime(j.SystemModstamp)
	return QueryJob{
		ID: j.ID, Operation: BulkOperation(j.Operation), Object: j.Object, State: JobState(j.State),
		CreatedDate: created, SystemModstamp: stamp,
		// apiVersion is a JSON number (62.0) in the real API; accept a
		// string too.
		APIVersion:      strings.Trim(string(j.APIVersion), `"`),
		ColumnDelimiter: j.ColumnDelimiter, LineEnding: j.LineEnding,
		NumberRecordsProcessed: j.NumberRecordsProcessed, Retries: j.Retries,
		TotalProcessingTime: time.Duration(j.TotalProcessingTime) * time.Millisecond,
		ErrorMessage:        j.ErrorMessage,
	}
}

// bulkConfig holds the options of the Bulk API calls.
type bulkConfig struct {
	delimiter, lineEnding string
	pollInitial, pollMax  time.Duration
	pollErrors            int
	maxRecords            int
	pageRetries           int
	progress              func(Progress)
	recordsRead           int64
	onJob                 func(QueryJob)
}

func newBulkConfig(opts []BulkOption) bulkConfig {
	cfg := bulkConfig{delimiter: "COMMA", lineEnding: "LF", pollInitial: time.Second, pollMax: 30 * time.Second,
		pollErrors: 5, maxRecords: DefaultMaxRecords, pageRetries: 4}
	for _, o := range opts {
		o(&cfg)
	}
	return cfg
}

// DefaultMaxRecords is the maxRecords sent with each results page unless
// [WithMaxRecords] says otherwise. Salesforce may return fewer.
const DefaultMaxRecords = 50_000

// BulkOption configures the Bulk API 2.0 calls; each call uses the options
// that concern it.
type BulkOption func(*bulkConfig)

// WithColumnDelimiter sets a new job's column delimiter: COMMA (the
// default), BACKQUOTE, CARET, PIPE, SEMICOLON or TAB.
func WithColumnDelimiter(d string) BulkOption { return func(c *bulkConfig) { c.delimiter = d } }

// WithLineEnding sets a new job's line ending: LF (the default) or CRLF.
func WithLineEnding(e string) BulkOption { return func(c *bulkConfig) { c.lineEnding = e } }

// WithPollInterval sets the backoff of [Client.WaitQueryJob]: the first
// wait and the longest (defaults 1 s and 30 s). Jobs of millions of
// records take minutes; each poll is one API call.
func WithPollInterval(initial, max time.Duration) BulkOption {
	return func(c *bulkConfig) {
		if initial > 0 {
			c.pollInitial = initial
		}
		if max >= initial && max > 0 {
			c.pollMax = max
		}
	}
}

// WithMaxRecords sets the records asked for per results page (default
// [DefaultMaxRecords]); each page is one API call.
func WithMaxRecords(n int) BulkOption {
	return func(c *bulkConfig) {
		if n > 0 {
			c.maxRecords = n
		}
	}
}

// WithPageRetries sets how often a results page that failed with a
// retryable error is fetched again before the error is returned (default
// 4). Fetching a locator again is safe.
func WithPageRetries(n int) BulkOption {
	return func(c *bulkConfig) {
		if n >= 0 {
			c.pageRetries = n
		}
	}
}

// WithProgress calls f after every results page.
func WithProgress(f func(Progress)) BulkOption { return func(c *bulkConfig) { c.progress = f } }

// WithRecordsRead sets the records already read by an earlier reader of
// the same job, so that a resumed reader's [Progress] counts from there.
func WithRecordsRead(n int64) BulkOption { return func(c *bulkConfig) { c.recordsRead = n } }

// WithJobCreated calls f with the job [Client.BulkQuery] created, before
// it waits for it: record the job id there to resume after a crash.
func WithJobCreated(f func(QueryJob)) BulkOption { return func(c *bulkConfig) { c.onJob = f } }

func jobPath(id string) string { return "/jobs/query/" + escapeSegment(id) }

// CreateQueryJob creates a Bulk API 2.0 query job for soql (POST
// /jobs/query). The job runs asynchronously: wait for it with
// [Client.WaitQueryJob]. Bulk queries do not support COUNT() and other
// aggregates, GROUP BY, OFFSET, TYPEOF, compound fields or subqueries:
// Salesforce rejects them here with a permanent error. Each org may create
// 10,000 query jobs a day.
func (c *Client) CreateQueryJob(ctx context.Context, op BulkOperation, soql string, opts ...BulkOption) (QueryJob, error) {
	if op != BulkQuery && op != BulkQueryAll {
		return QueryJob{}, invalidf("bulk query job: unknown operation %q (use BulkQuery or BulkQueryAll)", op)
	}
	if strings.TrimSpace(soql) == "" {
		return QueryJob{}, invalidf("bulk query job: empty query")
	}
	cfg := newBulkConfig(opts)
	body := map[string]string{"operation": string(op), "query": soql, "contentType": "CSV",
		"columnDelimiter": cfg.delimiter, "lineEnding": cfg.lineEnding}
	resp, err := c.do(ctx, request{method: http.MethodPost, path: "/jobs/query", body: body})
	if err != nil {
		return QueryJob{}, fmt.Errorf("salesforce: creating a bulk %s job: %w", op, err)
	}
	var j jobJSON
	if err := decode(resp, "create bulk query job", &j); err != nil {
		return QueryJob{}, err
	}
	if j.ID == "" {
		return QueryJob{}, sfsync.Retryable(fmt.Errorf("salesforce: creating a bulk %s job: the response has no job id", op))
	}
	return j.job(), nil
}

// QueryJob reads the job's information (GET /jobs/query/{id}). A job that
// does not exist yields an error matching [ErrJobNotFound].
func (c *Client) QueryJob(ctx context.Context, id string) (QueryJob, error) {
	if id == "" {
		return QueryJob{}, invalidf("bulk query job: empty job id")
	}
	var j jobJSON
	if err := c.getJSON(ctx, jobPath(id), nil, &j); err != nil {
		return QueryJob{}, jobError(id, "reading", err)
	}
	return j.job(), nil
}

// jobError wraps an error of a call on job id; a 404 becomes
// [ErrJobNotFound] of kind conflict.
func jobError(id, what string, err error) error {
	var ae *APIError
	if errors.As(err, &ae) && ae.Status == http.StatusNotFound {
		return &sfsync.Error{Kind: sfsync.KindConflict, Code: ae.Code,
			Err: fmt.Errorf("salesforce: %s bulk query job %s: %w (start a new job): %w", what, id, ErrJobNotFound, ae)}
	}
	return fmt.Errorf("salesforce: %s bulk query job %s: %w", what, id, err)
}

// terminalError is the error of a job that ended without results.
func terminalError(j QueryJob) error {
	switch j.State {
	case JobFailed:
		msg := j.ErrorMessage
		if msg == "" {
			msg = "Salesforce gave no reason"
		}
		return sfsync.Retryable(fmt.Errorf("salesforce: bulk query job %s on %s: %w: %s (a new job may succeed)", j.ID, j.Object, ErrJobFailed, msg))
	case JobAborted:
		return sfsync.Permanent(fmt.Errorf("salesforce: bulk query job %s on %s: %w", j.ID, j.Object, ErrJobAborted))
	}
	return nil
}

// WaitQueryJob polls the job with exponential backoff (see
// [WithPollInterval]) until it is JobComplete, and returns it. A job that
// ends Failed or Aborted yields [ErrJobFailed] or [ErrJobAborted] with the
// job; a few retryable poll failures in a row are ridden out. It waits
// until ctx ends; each poll is one API call.
func (c *Client) WaitQueryJob(ctx context.Context, id string, opts ...BulkOption) (QueryJob, error) {
	cfg := newBulkConfig(opts)
	b := backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(cfg.pollInitial),
		backoff.WithMaxInterval(cfg.pollMax),
		backoff.WithMultiplier(1.5),
		// The caller's context bounds the wait: a job over millions of
		// records can run for an hour.
		backoff.WithMaxElapsedTime(0),
	)
	bo := backoff.WithContext(b, ctx)
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	failures := 0
	for {
		j, err := c.QueryJob(ctx, id)
		switch {
		case err == nil:
			failures = 0
			if j.State == JobComplete {
				return j, nil
			}
			if err := terminalError(j); err != nil {
				return j, err
			}
		case errors.Is(err, ErrJobNotFound), ctx.Err() != nil, !sfsync.IsRetryable(err),
			sfsync.KindOf(err) == sfsync.KindRateLimited, sfsync.KindOf(err) == sfsync.KindAuth:
			return QueryJob{}, err
		default:
			failures++
			if failures > cfg.pollErrors {
				return QueryJob{}, fmt.Errorf("salesforce: waiting for bulk query job %s: %d polls failed in a row: %w", id, failures, err)
			}
			c.cfg.logger.DebugContext(ctx, "salesforce: polling a bulk query job failed; polling again", "job", id, "error", err)
		}
		next := bo.NextBackOff()
		if next == backoff.Stop {
			return QueryJob{}, fmt.Errorf("salesforce: waiting for bulk query job %s: %w", id, context.Cause(ctx))
		}
		if timer == nil {
			timer = time.NewTimer(next)
		} else {
			timer.Reset(next)
		}
		select {
		case <-ctx.Done():
			return QueryJob{}, fmt.Errorf("salesforce: waiting for bulk query job %s: %w", id, context.Cause(ctx))
		case <-timer.C:
		}
	}
}

// AbortQueryJob aborts a job that is still queued or running (PATCH
// state Aborted). Aborting a finished job is refused (INVALIDJOBSTATE).
func (c *Client) AbortQueryJob(ctx context.Context, id string) (QueryJob, error) {
	if id == "" {
		return QueryJob{}, invalidf("bulk query job: empty job id")
	}
	resp, err := c.do(ctx, request{method: http.MethodPatch, path: jobPath(id), body: map[string]string{"state": string(JobAborted)}})
	if err != nil {
		return QueryJob{}, jobError(id, "aborting", err)
	}
	var j jobJSON
	if err := decode(resp, "abort bulk query job", &j); err != nil {
		return QueryJob{}, err
	}
	return j.job(), nil
}

// DeleteQueryJob deletes a finished job and its results (DELETE; only
// JobComplete, Failed or Aborted jobs). Delete jobs once read: results
// count against the org's daily result storage until they are purged.
func (c *Client) DeleteQueryJob(ctx context.Context, id string) error {
	if id == "" {
		return invalidf("bulk query job: empty job id")
	}
	if _, err := c.do(ctx, request{method: http.MethodDelete, path: jobPath(id)}); err != nil {
		return jobError(id, "deleting", err)
	}
	return nil
}

// cleanupJob aborts (when still running) and deletes a job the caller no
// longer reads, even when ctx has ended, within a few seconds.
func (c *Client) cleanupJob(ctx context.Context, j QueryJob) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if !j.State.Terminal() {
		if _, err := c.AbortQueryJob(ctx, j.ID); err != nil && !errors.Is(err, ErrJobNotFound) {
			c.cfg.logger.DebugContext(ctx, "salesforce: aborting a bulk query job", "job", j.ID, "error", err)
		}
	}
	if err := c.DeleteQueryJob(ctx, j.ID); err != nil && !errors.Is(err, ErrJobNotFound) {
		c.cfg.logger.InfoContext(ctx, "salesforce: could not delete a bulk query job; Salesforce purges it after 7 days", "job", j.ID, "error", err)
	}
}
