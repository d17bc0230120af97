package synctest

import (
	"context"
	"fmt"

	"github.com/sfsync/sfsync"
)

// ConditionalSystem is a [System] whose writes can be conditioned on the
// records as read: it implements [sfsync.ConditionalSink], as a database
// whose users edit it between the engine's read and its write needs to.
type ConditionalSystem struct{ *System }

// Conditional returns s as an [sfsync.ConditionalSink]. The System itself
// writes unconditionally, as most targets do.
func (s *System) Conditional() *ConditionalSystem { return &ConditionalSystem{System: s} }

// WriteIf applies changes as [System.Write] does, each only if its record
// is still as read[i] describes it: existence as Read reports it, Deleted,
// the record's version and, where Read reports them, the fields' versions.
// Changes of one record share the precondition of the first of them. A
// change whose record changed fails with a [sfsync.KindConflict] error and
// takes no effect; its idempotency key stays unused.
func (c *ConditionalSystem) WriteIf(ctx context.Context, changes []sfsync.Change, read []sfsync.Record) error {
	if len(read) != len(changes) {
		return sfsync.Permanent(fmt.Errorf("synctest: WriteIf of %d changes with %d records read: %w", len(changes), len(read), sfsync.ErrInvalid))
	}
	if err := ctx.Err(); err != nil {
		return sfsync.Retryable(err)
	}
	s := c.System
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	errs := make([]error, len(changes))
	failed := false
	// Whether each record's precondition held, checked at its first change.
	held := map[[2]string]bool{}
	for i, ch := range changes {
		rec := [2]string{ch.Object, ch.RecordID}
		ok, checked := held[rec]
		if !checked {
			why := s.differs(ch.Object, ch.RecordID, read[i])
			ok = why == ""
			held[rec] = ok
			if !ok {
				errs[i] = &sfsync.Error{Kind: sfsync.KindConflict, Err: fmt.Errorf("%s: %s %s changed since it was read (%s)", s.sys, ch.Object, ch.RecordID, why)}
			}
		}
		if !ok {
			if errs[i] == nil {
				errs[i] = &sfsync.Error{Kind: sfsync.KindConflict, Err: fmt.Errorf("%s: %s %s changed since it was read", s.sys, ch.Object, ch.RecordID)}
			}
			failed = true
			continue
		}
		if err := s.checkSchema(&ch); err != nil {
			errs[i], failed = err, true
			continue
		}
		f := s.fault(&ch)
		if f != nil && !f.AfterApply {
			errs[i], failed = f.Err, true
			continue
		}
		s.writeOne(ch)
		if f != nil {
			errs[i], failed = f.Err, true
		}
	}
	if failed {
		return &sfsync.BatchError{Errs: errs}
	}
	return nil
}

// differs says how record id of object differs from want, as Read would
// report it, or "" when it does not.
func (s *System) differs(object, id string, want sfsync.Record) string {
	r := s.get(object, id)
	exists := r != nil && !(s.deletedUnread && r.deleted)
	switch {
	case exists != want.Exists && exists:
		return "it was created"
	case exists != want.Exists:
		return "it was removed"
	case !exists:
		return ""
	case r.deleted != want.Deleted:
		return "it was deleted or restored"
	case r.version.Compare(want.Version) != 0:
		return fmt.Sprintf("its version is %s, it was read at %s", r.version, want.Version)
	case s.recordOnly || want.FieldVersions == nil:
		return ""
	}
	for f, v := range r.versions {
		if w, ok := want.FieldVersions[f]; !ok || w.Compare(v) != 0 {
			return fmt.Sprintf("%s was written at %s", f, v)
		}
	}
	for f := range want.FieldVersions {
		if _, ok := r.versions[f]; !ok {
			return fmt.Sprintf("%s was read with a version and has none", f)
		}
	}
	return ""
}
