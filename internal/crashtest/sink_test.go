package crashtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	stdsync "sync"

	"github.com/sfsync/sfsync"
)

// applied is one line of the sink's append-only file: one change that took
// effect in the external system.
type applied struct {
	Key    string         `json:"key"`
	Object string         `json:"object"`
	ID     string         `json:"id"`
	Fields map[string]any `json:"fields"`
}

// readApplied parses the sink file. A last line without its newline is a
// write torn by a kill: it did not take effect (Write had not returned) and
// is reported as torn, not returned. Any other malformed line is an error.
func readApplied(path string) (lines []applied, tornAt int64, err error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, -1, nil
	}
	if err != nil {
		return nil, -1, err
	}
	tornAt = -1
	if i := bytes.LastIndexByte(data, '\n'); i+1 < len(data) {
		tornAt = int64(i + 1)
		data = data[:i+1]
	}
	for n, line := range bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var a applied
		if err := json.Unmarshal(line, &a); err != nil {
			return nil, tornAt, fmt.Errorf("sink file %s line %d: %w", path, n+1, err)
		}
		lines = append(lines, a)
	}
	return lines, tornAt, nil
}

// fileSink is a durable, key-idempotent external system: a change whose
// idempotency key is in the file is skipped; new changes are appended and
// fsynced before Write returns. After every Write it reports what it did
// through report.
type fileSink struct {
	mu      stdsync.Mutex
	f       *os.File
	keys    map[string]bool
	report  func(newly, skipped int)
	closed  bool
	written int
}

func openSink(path string, report func(newly, skipped int)) (*fileSink, error) {
	lines, tornAt, err := readApplied(path)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if tornAt >= 0 {
		if err := f.Truncate(tornAt); err != nil {
			f.Close()
			return nil, err
		}
	}
	if _, err := f.Seek(0, io.SeekEnd); err != nil {
		f.Close()
		return nil, err
	}
	s := &fileSink{f: f, keys: map[string]bool{}, report: report}
	for _, a := range lines {
		s.keys[a.Key] = true
	}
	return s, nil
}

func (s *fileSink) System() sfsync.System { return sfsync.External("crashsink") }

func (s *fileSink) Write(ctx context.Context, changes []sfsync.Change) error {
	if err := ctx.Err(); err != nil {
		return sfsync.Retryable(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return sfsync.Retryable(errors.New("crashsink: closed"))
	}
	var buf bytes.Buffer
	batch := map[string]bool{}
	newly, skipped := 0, 0
	for _, c := range changes {
		if c.Key == "" {
			return sfsync.Permanent(fmt.Errorf("crashsink: change of %s %s has no idempotency key", c.Object, c.RecordID))
		}
		if s.keys[c.Key] || batch[c.Key] {
			skipped++
			continue
		}
		line, err := json.Marshal(applied{Key: c.Key, Object: c.Object, ID: c.RecordID, Fields: c.Fields})
		if err != nil {
			return sfsync.Permanent(err)
		}
		buf.Write(line)
		buf.WriteByte('\n')
		batch[c.Key] = true
		newly++
	}
	if buf.Len() > 0 {
		// One write call per batch, then fsync: the effects are durable
		// before the engine learns they were applied.
		if _, err := s.f.Write(buf.Bytes()); err != nil {
			return sfsync.Retryable(err)
		}
		if err := s.f.Sync(); err != nil {
			return sfsync.Retryable(err)
		}
		for k := range batch {
			s.keys[k] = true
		}
		s.written += newly
	}
	s.report(newly, skipped)
	return nil
}

func (s *fileSink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return s.f.Close()
}
