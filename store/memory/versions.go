package memory

import (
	"context"

	"github.com/sfsync/sfsync"
)

// versionKey is an entry's identity inside its record.
type versionKey struct {
	source sfsync.System
	field  string
}

// versionValue is what an entry holds.
type versionValue struct {
	v    sfsync.Version
	hash uint64
}

// AppliedVersions returns the entries stored for records.
func (s *Store) AppliedVersions(ctx context.Context, records []string) ([]sfsync.AppliedVersion, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []sfsync.AppliedVersion
	done := make(map[string]bool, len(records))
	for _, r := range records {
		if done[r] { // a record asked for twice is answered once
			continue
		}
		done[r] = true
		for k, v := range s.versions[r] {
			out = append(out, sfsync.AppliedVersion{Record: r, Source: k.source, Field: k.field, Version: v.v, ValueHash: v.hash})
		}
	}
	return out, nil
}

// PutAppliedVersions stores vs; the last entry of a (record, source,
// field) wins.
func (s *Store) PutAppliedVersions(ctx context.Context, vs []sfsync.AppliedVersion) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.putVersionsLocked(vs)
	return nil
}

func (s *Store) putVersionsLocked(vs []sfsync.AppliedVersion) {
	// Entries come a record's fields at a time: its map is looked up once
	// per run of them.
	var m map[versionKey]versionValue
	for i, v := range vs {
		if i == 0 || v.Record != vs[i-1].Record {
			if m = s.versions[v.Record]; m == nil {
				// Sized for the run: a record's first change names all
				// the fields it will mostly have, and growing a map past
				// eight entries costs allocations of its own.
				n := 1
				for n < len(vs)-i && vs[i+n].Record == v.Record {
					n++
				}
				m = make(map[versionKey]versionValue, n)
				s.versions[v.Record] = m
			}
		}
		m[versionKey{v.Source, v.Field}] = versionValue{v.Version, v.ValueHash}
	}
}
