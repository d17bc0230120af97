package sync

import (
	"context"
	"fmt"
	stdsync "sync"

	"github.com/cenkalti/backoff/v4"

	"github.com/sfsync/sfsync"
)

// WithLinkReader sets how the engine reads a Salesforce record's link
// field (see [Mapping.LinkField]) when a change does not carry it: a
// reader of Salesforce state by Salesforce id that also returns deleted
// records, so that a deletion reaches the external system under the linked
// id; salesforce.Authority reading the link field is one.
func WithLinkReader(r sfsync.StateReader) Option { return func(c *config) { c.linkReader = r } }

// maxLinks bounds the links kept in memory; links are also in Salesforce,
// so forgetting one costs a read.
const maxLinks = 100_000

// links remembers which external id each linked Salesforce record has.
type links struct {
	mu   stdsync.Mutex
	byID map[string]string // object + "/" + Salesforce id → external id
}

func (l *links) get(key string) (string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	v, ok := l.byID[key]
	return v, ok
}

func (l *links) put(key, ext string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.byID == nil || len(l.byID) >= maxLinks {
		l.byID = make(map[string]string)
	}
	l.byID[key] = ext
}

// link gives a Salesforce change the id its record has in the external
// system, when its mapping names a link field: the value the change
// carries, else one learned before, else one read from Salesforce. A record
// with no link keeps its Salesforce id.
func (e *Engine) link(ctx context.Context, m *Mapping, c *sfsync.Change) error {
	if m == nil || m.LinkField == "" || c.Op.NeedsReread() || c.Op == sfsync.OpEvent || c.RecordID == "" {
		return nil
	}
	key := c.Object + "/" + c.RecordID
	if v, ok := c.Fields[m.LinkField]; ok {
		ext, _ := v.(string)
		if c.Op == sfsync.OpDelete {
			// A delete carries no data: the link only addresses the
			// record (a drift check's delete of a linked record that
			// Salesforce no longer lists, whose Salesforce id it does not
			// know), so it is neither written nor remembered.
			c.Fields = nil
		} else {
			e.links.put(key, ext)
		}
		if ext != "" {
			c.RecordID = ext
		}
		return nil
	}
	if ext, ok := e.links.get(key); ok {
		if ext != "" {
			c.RecordID = ext
		}
		return nil
	}
	// Creates and undeletes carry every field: without the link field the
	// record has no link. Other changes ask Salesforce.
	if c.Op == sfsync.OpCreate || c.Op == sfsync.OpUndelete || e.cfg.linkReader == nil {
		return nil
	}
	var recs map[string]sfsync.Record
	read := func() error {
		var err error
		recs, err = e.cfg.linkReader.Read(ctx, c.Object, []string{c.RecordID})
		if err != nil && !sfsync.IsRetryable(err) {
			return backoff.Permanent(err)
		}
		return err
	}
	if err := backoff.Retry(read, backoff.WithContext(e.cfg.newBackOff(), ctx)); err != nil {
		return fmt.Errorf("sync: reading %s of %s %s to find its external id: %w", m.LinkField, c.Object, c.RecordID, err)
	}
	ext, _ := recs[c.RecordID].Fields[m.LinkField].(string)
	e.links.put(key, ext)
	if ext != "" {
		c.RecordID = ext
	}
	return nil
}
