package sync

import "github.com/sfsync/sfsync"

// SchemaObserver is implemented by parts whose cached metadata follows the
// source's event schemas: salesforce.Sink and salesforce.Authority mark an
// object's cached describe stale when its CDC schema id changes, because an
// admin changed its fields. The engine tells every route sink, state reader
// and link reader that implements it of each new schema id it receives.
type SchemaObserver interface {
	ObserveSchema(object, schemaID string) bool
}

// schemaObservers are the engine's parts that observe schemas, each once.
func (e *Engine) schemaObservers() []SchemaObserver {
	var out []SchemaObserver
	seen := map[SchemaObserver]bool{}
	add := func(part any) {
		if o, ok := part.(SchemaObserver); ok && !seen[o] {
			seen[o] = true
			out = append(out, o)
		}
	}
	for i := range e.routes {
		add(e.routes[i].Sink)
		add(e.routes[i].State)
	}
	add(e.cfg.linkReader)
	add(e.cfg.reconciler)
	return out
}

// observeSchemas passes on the schema ids of a delivery's Salesforce
// changes that differ from the last one the source delivered for their
// object. Intake goroutine of s only.
func (e *Engine) observeSchemas(s *sourceState, changes []sfsync.Change) {
	if len(e.observers) == 0 {
		return
	}
	for i := range changes {
		c := &changes[i]
		if c.Schema == "" || c.Source != sfsync.Salesforce || s.schemas[c.Object] == c.Schema {
			continue
		}
		if s.schemas == nil {
			s.schemas = map[string]string{}
		}
		s.schemas[c.Object] = c.Schema
		for _, o := range e.observers {
			o.ObserveSchema(c.Object, c.Schema)
		}
	}
}
