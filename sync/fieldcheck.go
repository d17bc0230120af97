package sync

import (
	"context"
	"errors"
	"fmt"

	"github.com/sfsync/sfsync"
)

// FieldChecker is implemented by sinks that can tell, before the first
// write, whether an object's fields exist and can be written, from the
// target's metadata (salesforce.Sink reads the object's describe). The
// engine checks every mapping against the sinks that write its object at
// start, so a misspelt or read-only field stops Run with an error naming
// it instead of dead-lettering every change that carries it.
//
// CheckFields returns nil, an error matching [sfsync.ErrInvalid] that
// names each field that does not fit, or another error when the metadata
// could not be read (the engine then logs it and runs).
type FieldChecker interface {
	CheckFields(ctx context.Context, object string, write []string) error
}

// checkMappings checks each mapping's Salesforce fields against the
// sinks that write its object.
func (e *Engine) checkMappings(ctx context.Context) error {
	var errs []error
	for _, m := range e.cfg.mappings {
		fields := make([]string, 0, len(m.Fields)+1)
		for _, f := range m.Fields {
			fields = append(fields, f.Salesforce)
		}
		if m.LinkField != "" {
			fields = append(fields, m.LinkField)
		}
		checked := map[FieldChecker]bool{}
		for i := range e.routes {
			r := &e.routes[i]
			fc, ok := r.Sink.(FieldChecker)
			if !ok || checked[fc] || (r.Object != "" && r.Object != m.Object) || r.From == sfsync.Salesforce {
				continue
			}
			checked[fc] = true
			err := fc.CheckFields(ctx, m.Object, fields)
			switch {
			case err == nil:
			case errors.Is(err, sfsync.ErrInvalid):
				errs = append(errs, fmt.Errorf("sync: mapping of %s: %w", m.Object, err))
			default:
				if ctx.Err() != nil {
					return ctx.Err()
				}
				e.log.Warn("sfsync: could not check a mapping against the target's metadata; running without the check", "object", m.Object, "err", err)
			}
		}
	}
	return errors.Join(errs...)
}
