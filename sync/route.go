package sync

import (
	"fmt"

	"github.com/sfsync/sfsync"
)

// Route sends the changes of one object from one system to a sink.
type Route struct {
	// From matches the system a change came from; empty matches any.
	From sfsync.System
	// Object matches the canonical (Salesforce) object name; empty matches any.
	Object string
	// To names the destination system, for outcomes and echo detection. When
	// empty, it is taken from a Sink that implements [Destination].
	To sfsync.System
	// Sink receives the writes.
	Sink sfsync.Sink
	// State reads the destination's current state for conflict and no-op
	// decisions. When nil and Sink implements [sfsync.StateReader], Sink is
	// used; with neither, changes are decided against an unknown record.
	State sfsync.StateReader
	// Policy decides conflicts; nil uses the engine's policy.
	Policy sfsync.ConflictPolicy
}

// Destination is implemented by sinks that know which system they write to.
type Destination interface {
	System() sfsync.System
}

// ClientIdentifier is implemented by sinks whose writes to Salesforce
// carry a client id (Sforce-Call-Options client=<id>, as salesforce.Sink's
// do): the change events those writes cause come back with changeOrigin
// client=<id>, which is how the engine knows them for its own echoes.
type ClientIdentifier interface {
	ClientID() string
}

// resolveClientID returns the client id that marks the engine's own writes
// to Salesforce: the one its Salesforce sinks report, which given (from
// WithClientID) may repeat but not contradict. Origin then decides alone
// whether a Salesforce change is an echo, so every Salesforce sink must
// write under the one id the engine knows; a sink writing under another
// would have its echoes applied again.
func resolveClientID(routes []Route, given string) (string, error) {
	id := given
	for i := range routes {
		ci, ok := routes[i].Sink.(ClientIdentifier)
		if !ok || !routes[i].To.IsSalesforce() || ci.ClientID() == "" {
			continue
		}
		switch sinkID := ci.ClientID(); {
		case id == "":
			id = sinkID
		case sinkID != id && given != "":
			return "", fmt.Errorf("%w: WithClientID(%q) differs from the client id %q a Salesforce sink writes with, so the engine would not recognise that sink's writes coming back as change events; drop WithClientID (the engine takes the sink's) or give both the same id", sfsync.ErrInvalid, given, sinkID)
		case sinkID != id:
			return "", fmt.Errorf("%w: Salesforce sinks write with client ids %q and %q; the engine recognises its echoes by one: give them the same id (salesforce.WithClientID)", sfsync.ErrInvalid, id, sinkID)
		}
	}
	return id, nil
}

func (r *Route) matches(c *sfsync.Change) bool {
	return (r.From == "" || r.From == c.Source) && (r.Object == "" || r.Object == c.Object)
}

func (r *Route) prepare(defaultPolicy sfsync.ConflictPolicy) error {
	if r.Sink == nil {
		return fmt.Errorf("sync: route %s→%s for %q has no sink", r.From, r.To, r.Object)
	}
	if r.To == "" {
		if d, ok := r.Sink.(Destination); ok {
			r.To = d.System()
		} else {
			r.To = sfsync.System("sink")
		}
	}
	if r.State == nil {
		if sr, ok := r.Sink.(sfsync.StateReader); ok {
			r.State = sr
		}
	}
	if r.Policy == nil {
		r.Policy = defaultPolicy
	}
	return nil
}

func (e *Engine) route(c *sfsync.Change) *Route {
	for i := range e.routes {
		if e.routes[i].matches(c) {
			return &e.routes[i]
		}
	}
	return nil
}

// flowsFrom reports whether changes of object from sys reach the engine:
// some route takes them, and, when the sources say which systems they
// deliver, one of them delivers sys. Only then does a write to sys come
// back as an echo worth a fingerprint, and is there a change event of sys
// worth waiting for.
func (e *Engine) flowsFrom(sys sfsync.System, object string) bool {
	if sys == "" || (e.sourceSystems != nil && !e.sourceSystems[sys]) {
		return false
	}
	probe := sfsync.Change{Source: sys, Object: object}
	return e.route(&probe) != nil
}

// SystemSource is implemented by sources that know which system's changes
// they deliver: a Pub/Sub subscription delivers Salesforce's. When every
// source of an engine says, the engine knows which systems' changes reach
// it, and keeps no write fingerprints for, and waits for no change event
// of, a system none of them delivers (a one-way sync's target). System
// returns "" when the source cannot tell.
type SystemSource interface {
	System() sfsync.System
}

// deliveredSystems is the set of systems the sources deliver, or nil when
// a source does not say.
func deliveredSystems(sources []*sourceState) map[sfsync.System]bool {
	out := map[sfsync.System]bool{}
	for _, s := range sources {
		ss, ok := s.src.(SystemSource)
		if !ok || ss.System() == "" {
			return nil
		}
		out[ss.System()] = true
	}
	return out
}
