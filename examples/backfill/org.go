package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	stdsync "sync"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/pubsub/pubsubtest"
	"github.com/sfsync/sfsync/salesforce/salesforcetest"
)

// object is the Salesforce object the example backfills, and the fields
// it carries to the external system's employees.
const object = "Employee__c"

var fieldMap = []struct{ sf, ext string }{
	{"Name", "name"}, {"Email__c", "email"}, {"Title__c", "title"},
	{"Grade__c", "grade"}, {"Active__c", "active"}, {"Hired__c", "hired"}, {"Salary__c", "salary"},
}

// epoch is the fake org's clock when the records were created: the same in
// every run, so that every run's org stamps them with the same
// SystemModstamp.
var epoch = time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)

// orgClock stands still at epoch while the org is generated, then runs on
// from epoch at the pace of the wall clock. Every run's org thus has the
// same history: the same SystemModstamps and a Pub/Sub replay id issued at
// the same instant, still within its 72-hour retention when the next run
// resumes from it.
type orgClock struct {
	mu      stdsync.Mutex
	started time.Time
}

func (c *orgClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.started.IsZero() {
		return epoch
	}
	return epoch.Add(time.Since(c.started))
}

func (c *orgClock) start() {
	c.mu.Lock()
	c.started = time.Now()
	c.mu.Unlock()
}

// deleteEvery is how often a generated employee is deleted: a backfill
// reads deleted records too (queryAll), so the external system learns of
// deletes whose events are long gone.
const deleteEvery = 100

// newOrg starts the fake org with n employees generated from seed: the
// same ids (the org numbers records in creation order), values and
// SystemModstamps in every run with the same n and seed. One in
// deleteEvery is deleted; it returns their ids.
func newOrg(seed uint64, n int) (*salesforcetest.Org, []string, error) {
	clk := &orgClock{}
	org := salesforcetest.NewOrg(salesforcetest.WithClock(clk.now), salesforcetest.WithSeed(seed),
		// The example shows the backfill, not the daily limit.
		salesforcetest.WithDailyLimit(1<<30),
		// A job takes a moment, as a real one does, so "querying" shows.
		salesforcetest.WithBulkJobDuration(time.Second),
		// A quiet topic sends a keepalive soon, which is what pins the
		// stream before the backfill queries.
		salesforcetest.WithPubSubOptions(pubsubtest.WithKeepalive(200*time.Millisecond)))
	if err := org.Load(object, n, func(i int) map[string]any { return employee(seed, i) }); err != nil {
		org.Close()
		return nil, nil, fmt.Errorf("generating the fake org's %d employees: %w", n, err)
	}
	var deleted []string
	recs := org.Records(object)
	for i := deleteEvery / 2; i < len(recs); i += deleteEvery {
		id, _ := recs[i]["Id"].(string)
		if err := org.DeleteAsUser(object, id); err != nil {
			org.Close()
			return nil, nil, fmt.Errorf("deleting generated employee %s: %w", id, err)
		}
		deleted = append(deleted, id)
	}
	clk.start()
	return org, deleted, nil
}

var (
	firstNames = []string{"Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "John", "Margaret", "Ken", "Radia", "Niklaus", "Shafi", "Leslie", "Tony", "Karen"}
	lastNames  = []string{"Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Backus", "Hamilton", "Thompson", "Perlman", "Wirth", "Goldwasser", "Lamport", "Hoare", "Jones"}
	titles     = []string{"Engineer", "Senior Engineer", "Staff Engineer", "Manager", "Director", "Analyst", "Designer", "Technician"}
)

// employee returns the fields of employee i, drawn from its own generator
// so that it depends on seed and i alone.
func employee(seed uint64, i int) map[string]any {
	r := rand.New(rand.NewPCG(seed, uint64(i)))
	first, last := firstNames[r.IntN(len(firstNames))], lastNames[r.IntN(len(lastNames))]
	f := map[string]any{
		"Name":      first + " " + last,
		"Email__c":  fmt.Sprintf("%s.%s.%d@example.com", strings.ToLower(first), strings.ToLower(last), i),
		"Grade__c":  1 + r.IntN(12),
		"Active__c": r.IntN(10) != 0,
		"Hired__c":  time.Date(2010+r.IntN(16), time.Month(1+r.IntN(12)), 1+r.IntN(28), 0, 0, 0, 0, time.UTC).Format(time.DateOnly),
		"Salary__c": float64(30000+r.IntN(90000)) + float64(r.IntN(4))*0.25,
	}
	if r.IntN(7) != 0 {
		f["Title__c"] = titles[r.IntN(len(titles))]
	}
	return f
}

// jobsStream is where the example keeps the fake org's Bulk jobs in the
// state database. Only because the fake org lives in this process: a real
// org keeps its jobs for seven days after they complete, and a backfill
// that resumes finds its job there. The regenerated org restores them so
// that it can stand for the org of the previous run.
const jobsStream = "example/backfill/fake-org-bulk-jobs"

// orgJobs saves and restores the fake org's Bulk jobs.
type orgJobs struct {
	org   *salesforcetest.Org
	store sfsync.CheckpointStore

	mu    stdsync.Mutex
	saved string
}

// restore re-creates the jobs an earlier run saved.
func (j *orgJobs) restore(ctx context.Context) (int, error) {
	pos, err := j.store.LoadCheckpoint(ctx, jobsStream)
	if errors.Is(err, sfsync.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("reading the fake org's saved Bulk jobs: %w", err)
	}
	var jobs []salesforcetest.BulkJob
	if err := json.Unmarshal(pos.Token, &jobs); err != nil {
		return 0, fmt.Errorf("decoding the fake org's saved Bulk jobs: %w", err)
	}
	for _, job := range jobs {
		if err := j.org.RestoreBulkJob(job); err != nil {
			return 0, err
		}
	}
	j.saved = string(pos.Token)
	return len(jobs), nil
}

// save stores the jobs the fake org holds now, when they changed.
func (j *orgJobs) save(ctx context.Context) error {
	var jobs []salesforcetest.BulkJob
	for _, job := range j.org.BulkJobs() {
		jobs = append(jobs, salesforcetest.BulkJob{ID: job.ID, Operation: job.Operation, Query: job.Query,
			APIVersion: job.APIVersion, ColumnDelimiter: job.ColumnDelimiter, LineEnding: job.LineEnding})
	}
	b, err := json.Marshal(jobs)
	if err != nil {
		return fmt.Errorf("encoding the fake org's Bulk jobs: %w", err)
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if string(b) == j.saved {
		return nil
	}
	if err := j.store.SaveCheckpoint(ctx, sfsync.Position{Stream: jobsStream, Token: b}); err != nil {
		return fmt.Errorf("saving the fake org's Bulk jobs: %w", err)
	}
	j.saved = string(b)
	return nil
}
