package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	stdsync "sync"

	"github.com/sfsync/sfsync"
)

// external is the system the example backfills: a durable key-value store
// of employees kept as an append-only JSON-lines file, one upsert a line,
// replayed into memory at start. It is a real sink: a write returns only
// once its lines are on disk (fsync), and an upsert whose version is not
// newer than the record's is not written at all, so a change delivered
// again after a crash costs nothing and is counted as such.
type external struct {
	path string
	f    *os.File

	mu      stdsync.Mutex
	records map[string]*extRecord
	// written counts the upserts this process appended; same those it did
	// not append because the file already held that version or a newer one.
	written, same int64
	// afterWrite runs after each durable write that appended, with the
	// number of records the file holds (the crash point of -crash-at).
	afterWrite func(records int)
}

// extRecord is one employee as the external system keeps it, and one line
// of the file.
type extRecord struct {
	ID      string         `json:"id"`
	Version sfsync.Version `json:"version"`
	Deleted bool           `json:"deleted,omitempty"`
	Fields  map[string]any `json:"fields,omitempty"`
}

// openExternal replays the file at path, creating it when missing. A
// last line cut short (the process died inside a write, before its fsync
// returned) is dropped: that write never returned, so the engine delivers
// it again.
func openExternal(path string) (*external, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening the external system's file: %w", err)
	}
	x := &external{path: path, f: f, records: map[string]*extRecord{}}
	rd := bufio.NewReaderSize(f, 1<<20)
	var good int64
	for {
		line, err := rd.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			break // a line without its newline was cut short
		}
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("reading the external system's file %s: %w", path, err)
		}
		var r extRecord
		if err := json.Unmarshal(bytes.TrimSpace(line), &r); err != nil || r.ID == "" {
			f.Close()
			return nil, fmt.Errorf("the external system's file %s has an unreadable line after byte %d (remove it or run with -fresh): %v", path, good, err)
		}
		x.records[r.ID] = &r
		good += int64(len(line))
	}
	if err := f.Truncate(good); err != nil {
		f.Close()
		return nil, fmt.Errorf("dropping the cut-short end of %s: %w", path, err)
	}
	if _, err := f.Seek(good, io.SeekStart); err != nil {
		f.Close()
		return nil, fmt.Errorf("seeking to the end of %s: %w", path, err)
	}
	return x, nil
}

func (x *external) Close() error { return x.f.Close() }

// Write implements sfsync.Sink: upserts keyed by record id, each applied
// only when its version is newer than the record's, appended and synced
// before Write returns.
func (x *external) Write(ctx context.Context, changes []sfsync.Change) error {
	if err := ctx.Err(); err != nil {
		return sfsync.Retryable(err)
	}
	records, err := x.write(changes)
	// Outside the lock: what runs after a write may read the counts.
	if err == nil && records > 0 && x.afterWrite != nil {
		x.afterWrite(records)
	}
	return err
}

// write applies changes and returns how many records the file then holds,
// or 0 when nothing was written.
func (x *external) write(changes []sfsync.Change) (int, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	var buf bytes.Buffer
	var fresh []*extRecord
	next := map[string]*extRecord{}
	for _, c := range changes {
		cur := next[c.RecordID]
		if cur == nil {
			cur = x.records[c.RecordID]
		}
		if cur != nil && !cur.Version.Before(c.Version) {
			x.same++
			continue
		}
		r := &extRecord{ID: c.RecordID, Version: c.Version, Fields: map[string]any{}}
		if cur != nil {
			r.Deleted, r.Fields = cur.Deleted, maps.Clone(cur.Fields)
		}
		switch c.Op {
		case sfsync.OpDelete:
			r.Deleted = true
		case sfsync.OpUndelete:
			r.Deleted = false
		}
		for k, v := range c.Fields {
			r.Fields[k] = v
		}
		for _, k := range c.Nulled {
			r.Fields[k] = nil
		}
		line, err := json.Marshal(r)
		if err != nil {
			return 0, sfsync.Permanent(fmt.Errorf("external: encoding %s: %w", c.RecordID, err))
		}
		buf.Write(line)
		buf.WriteByte('\n')
		next[c.RecordID] = r
		fresh = append(fresh, r)
	}
	if buf.Len() == 0 {
		return 0, nil
	}
	if _, err := x.f.Write(buf.Bytes()); err != nil {
		return 0, sfsync.Retryable(fmt.Errorf("external: appending to %s: %w", x.path, err))
	}
	if err := x.f.Sync(); err != nil {
		return 0, sfsync.Retryable(fmt.Errorf("external: syncing %s: %w", x.path, err))
	}
	for _, r := range fresh {
		x.records[r.ID] = r
	}
	x.written += int64(len(fresh))
	return len(x.records), nil
}

// Read implements sfsync.StateReader, so the engine decides against what
// the external system holds.
func (x *external) Read(ctx context.Context, object string, ids []string) (map[string]sfsync.Record, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	out := make(map[string]sfsync.Record, len(ids))
	for _, id := range ids {
		if r := x.records[id]; r != nil {
			out[id] = sfsync.Record{Object: object, ID: id, Exists: true, Deleted: r.Deleted, Fields: maps.Clone(r.Fields), Version: r.Version}
		}
	}
	return out, nil
}

// counts returns the records held and this process's written and same.
func (x *external) counts() (records int, written, same int64) {
	x.mu.Lock()
	defer x.mu.Unlock()
	return len(x.records), x.written, x.same
}

// snapshot returns a copy of every record.
func (x *external) snapshot() map[string]extRecord {
	x.mu.Lock()
	defer x.mu.Unlock()
	out := make(map[string]extRecord, len(x.records))
	for id, r := range x.records {
		out[id] = *r
	}
	return out
}
