package salesforcetest

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/sfsync/sfsync/pubsub/pubsubtest"
)

// An Org lives in the process that made it; a real org outlives the
// processes of its clients. A program that stops hard and starts again
// (to show that a backfill resumes) regenerates the same org from the same
// seed and data, and these let the new org also answer for what the old
// one held that a client stored: the locators of its Bulk results and the
// Bulk query jobs themselves.

// WithSeed derives the org's Bulk results locators from seed, the job id
// and the page's offset instead of drawing them at random, so that an org
// regenerated from the same seed with the same records serves the same
// locators for a job restored with [Org.RestoreBulkJob]. They stay opaque
// strings, as Salesforce's are.
func WithSeed(seed uint64) Option {
	return func(c *config) { c.seed, c.seeded = seed, true }
}

// WithPubSubOptions passes options to the org's Pub/Sub server, such as a
// short [pubsubtest.WithKeepalive] so that a subscription pins its
// position for a backfill within a moment instead of the 60 s of the
// default keepalive. The org's clock, tenant and tokens still apply.
func WithPubSubOptions(opts ...pubsubtest.Option) Option {
	return func(c *config) { c.pubsub = append(c.pubsub, opts...) }
}

// locatorLocked names the results page of job j that starts at offset.
// A seeded locator is the offset masked with a key of the seed and the job,
// behind a check, so that a restored job recognises the locators of the
// job it stands for without having served the pages before them.
func (o *Org) locatorLocked(j *bulkJob, offset int) string {
	if !o.cfg.seeded {
		return randLocator()
	}
	mask, check := o.locatorKeys(j.id, offset)
	return strings.ToUpper(hex.EncodeToString(check)) + strconv.FormatUint(uint64(offset)^mask, 16)
}

// seededOffsetLocked returns the offset a seeded locator of j names.
func (o *Org) seededOffsetLocked(j *bulkJob, loc string) (int, bool) {
	if !o.cfg.seeded || len(loc) < 5 {
		return 0, false
	}
	masked, err := strconv.ParseUint(loc[4:], 16, 64)
	if err != nil {
		return 0, false
	}
	mask, _ := o.locatorKeys(j.id, 0)
	off := masked ^ mask
	if off == 0 || off >= uint64(len(j.offs)-1) {
		return 0, false
	}
	if _, check := o.locatorKeys(j.id, int(off)); !strings.EqualFold(loc[:4], hex.EncodeToString(check)) {
		return 0, false
	}
	j.locators[loc], j.byOffset[int(off)] = int(off), loc
	return int(off), true
}

// locatorKeys returns the mask of job id's locators and the check of the
// one at offset.
func (o *Org) locatorKeys(id string, offset int) (mask uint64, check []byte) {
	seed := strconv.FormatUint(o.cfg.seed, 10) + "/" + id
	m := sha256.Sum256([]byte(seed))
	c := sha256.Sum256([]byte(seed + "/" + strconv.Itoa(offset)))
	return binary.BigEndian.Uint64(m[:8]) >> 16, c[:2]
}

// RestoreBulkJob re-creates a query job that an earlier process's org
// created, under the same id, as a real org would still hold it (jobs are
// kept seven days after they complete): a client that stored the job id
// and a locator then continues reading it. The job runs again over the
// org's current records, completing when first looked at, so an org
// regenerated with the same records and [WithSeed] serves the same pages
// under the same locators. j needs ID, Operation and Query (APIVersion,
// ColumnDelimiter and LineEnding default to v62.0, COMMA and LF); new
// jobs get ids after it.
func (o *Org) RestoreBulkJob(j BulkJob) error {
	id, ok := normID(j.ID)
	if !ok || !strings.HasPrefix(id, "750") {
		return fmt.Errorf("salesforcetest: RestoreBulkJob: %q is not a query job id", j.ID)
	}
	if j.Operation != "query" && j.Operation != "queryAll" {
		return fmt.Errorf("salesforcetest: RestoreBulkJob %s: operation %q is neither query nor queryAll", id, j.Operation)
	}
	delimName := cmpOr(j.ColumnDelimiter, "COMMA")
	delim, ok := map[string]byte{"COMMA": ',', "BACKQUOTE": '`', "CARET": '^', "PIPE": '|', "SEMICOLON": ';', "TAB": '\t'}[delimName]
	if !ok {
		return fmt.Errorf("salesforcetest: RestoreBulkJob %s: column delimiter %q unknown", id, j.ColumnDelimiter)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if _, dup := o.bulkJobs[id]; dup {
		return fmt.Errorf("salesforcetest: RestoreBulkJob: job %s exists", id)
	}
	s, serr := o.parseSOQL(j.Query)
	if serr != nil {
		return fmt.Errorf("salesforcetest: RestoreBulkJob %s: %s: %s", id, serr.code, serr.msg)
	}
	// Ids come from one counter: the next record or job must not get this
	// job's id again.
	if n, err := strconv.ParseInt(id[3:15], 10, 64); err == nil && n > o.nextID {
		o.nextID = n
	}
	now := o.now()
	o.bulkJobs[id] = &bulkJob{id: id, op: j.Operation, object: s.d.Name, query: j.Query, user: integrationUserID,
		ver: cmpOr(j.APIVersion, "62.0"), delimName: delimName, delim: delim, lineEnding: cmpOr(j.LineEnding, "LF"),
		created: now, modstamp: now, state: JobUploadComplete, due: now,
		locators: map[string]int{}, byOffset: map[int]string{}}
	o.bulkOrder = append(o.bulkOrder, id)
	o.cond.Broadcast()
	return nil
}
