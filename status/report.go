package status

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/reconcile"
	sfsyncsync "github.com/sfsync/sfsync/sync"
	"github.com/sfsync/sfsync/throttle"
)

// maxOutcomes caps the outcomes read for one report: the ledger is an
// audit trail, not a time series, so a busy window is counted from its
// first maxOutcomes outcomes and marked truncated.
const maxOutcomes = 20000

// Report is everything the page shows, as /status.json serves it.
type Report struct {
	Time time.Time `json:"time"`
	// Ready is Engine.Health() == nil; Health lists its reasons otherwise.
	Ready  bool     `json:"ready"`
	Health []string `json:"health,omitempty"`
	Engine Counters `json:"engine"`
	// Streams are the engine's source streams, by name.
	Streams []Stream `json:"streams"`
	// Outcomes counts outcomes per minute of the window by status.
	Outcomes Outcomes `json:"outcomes"`
	// DeadLetters are the first dead letters the store lists.
	DeadLetters []DeadLetter `json:"dead_letters"`
	// DeadLettersMore is set when there are more than listed.
	DeadLettersMore bool `json:"dead_letters_more,omitempty"`
	// Requeue says whether requeue buttons are enabled (a token is set).
	Requeue   bool             `json:"requeue"`
	API       []API            `json:"api"`
	Lease     *sfsync.Lease    `json:"lease,omitempty"`
	Backfills []Backfill       `json:"backfills,omitempty"`
	Reconcile *reconcile.Stats `json:"reconcile,omitempty"`
	// Errors are what could not be read (a store that failed); the rest of
	// the report stands.
	Errors []string `json:"errors,omitempty"`
}

// Counters are the engine's Stats (see sync.Stats), with lag in seconds.
type Counters struct {
	Received     int64   `json:"received"`
	Processed    int64   `json:"processed"`
	Applied      int64   `json:"applied"`
	Duplicates   int64   `json:"duplicates"`
	Echoes       int64   `json:"echoes"`
	Noops        int64   `json:"noops"`
	Conflicts    int64   `json:"conflicts"`
	Stale        int64   `json:"stale"`
	Reconciled   int64   `json:"reconciled"`
	Skipped      int64   `json:"skipped"`
	DeadLetters  int64   `json:"dead_letters"`
	Retries      int64   `json:"retries"`
	Commits      int64   `json:"commits"`
	InFlight     int64   `json:"in_flight"`
	LagSeconds   float64 `json:"lag_seconds"`
	DedupHitRate float64 `json:"dedup_hit_rate"`
}

func countersOf(s sfsyncsync.Stats) Counters {
	return Counters{
		Received: s.Received, Processed: s.Processed, Applied: s.Applied, Duplicates: s.Duplicates,
		Echoes: s.Echoes, Noops: s.Noops, Conflicts: s.Conflicts, Stale: s.Stale, Reconciled: s.Reconciled,
		Skipped: s.Skipped, DeadLetters: s.DeadLetters, Retries: s.Retries, Commits: s.Commits,
		InFlight: s.InFlight, LagSeconds: s.Lag.Seconds(), DedupHitRate: s.DedupHitRate(),
	}
}

// Stream is one source stream.
//
// From an engine that reports its streams (*sync.Engine does, see
// sync.StreamState), Phase, Reason, LastReceipt, InFlight, CaughtUp,
// LagSeconds and WatchdogSeconds are the engine's own; from one that does
// not, the stream is pieced together from the ledger and the checkpoints,
// and Phase is empty.
type Stream struct {
	Name string `json:"name"`
	// Phase is starting, streaming, degraded, fenced or stopped; Reason
	// says why a stream is not streaming.
	Phase  string `json:"phase,omitempty"`
	Reason string `json:"reason,omitempty"`
	// CaughtUp is set while every delivery received has a committed
	// outcome; InFlight counts those that have none yet.
	CaughtUp bool `json:"caught_up"`
	InFlight int  `json:"in_flight"`
	// Checkpoint is the committed position, as text when it is printable
	// and in hex otherwise; empty when none is committed yet.
	Checkpoint string `json:"checkpoint"`
	// LastEvent is when the newest change received (from the ledger: of
	// the window) was made at its source; LastDecided when the engine
	// decided the newest change of the window the ledger holds; zero when
	// unknown.
	LastEvent   time.Time `json:"last_event,omitzero"`
	LastDecided time.Time `json:"last_decided,omitzero"`
	// LastReceipt is when the stream last received anything, keepalives
	// included.
	LastReceipt time.Time `json:"last_receipt,omitzero"`
	// LagSeconds is, from the engine, how far behind its source the
	// stream is (see sync.StreamState.Lag); from the ledger, LastDecided
	// minus LastEvent.
	LagSeconds float64 `json:"lag_seconds"`
	// WatchdogSeconds is the silence the engine allows the stream; zero
	// when it is not watched.
	WatchdogSeconds float64 `json:"watchdog_seconds,omitempty"`
	// DeadLetters counts the stream's changes the engine dead-lettered
	// since it started, the last at LastDeadLetter.
	DeadLetters    int       `json:"dead_letters,omitempty"`
	LastDeadLetter time.Time `json:"last_dead_letter,omitzero"`
	// Events, Keepalives and Reconnects come from a Pub/Sub subscription
	// given with WithSubscription.
	Subscription bool `json:"subscription"`
	Events       int  `json:"events"`
	Keepalives   int  `json:"keepalives"`
	Reconnects   int  `json:"reconnects"`
}

// Outcomes counts outcomes per minute and status.
type Outcomes struct {
	// From is "engine" when the engine counted them (since it started;
	// sync.Engine.OutcomesPerMinute), "ledger" when they were read from
	// the ledger.
	From string `json:"from"`
	// Minutes are the starts of the window's minutes, oldest first.
	Minutes []time.Time `json:"minutes"`
	// Counts[status][i] counts outcomes of status in Minutes[i].
	Counts map[sfsync.Status][]int `json:"counts"`
	// Truncated is set when the window held more outcomes than were read.
	Truncated bool `json:"truncated,omitempty"`
}

// DeadLetter is a dead letter's summary.
type DeadLetter struct {
	Key         string        `json:"key"`
	Object      string        `json:"object"`
	RecordID    string        `json:"record_id"`
	Source      sfsync.System `json:"source"`
	Destination sfsync.System `json:"destination"`
	Err         string        `json:"error"`
	Kind        string        `json:"kind"`
	Attempts    int           `json:"attempts"`
	LastFailed  time.Time     `json:"last_failed"`
}

// API is one org's API usage against its limits and its throttle state.
type API struct {
	Tenant string `json:"tenant"`
	// Used, Max and Reserve are the org's daily requests (Max zero until a
	// response reported it).
	Used        int  `json:"used"`
	Max         int  `json:"max"`
	Reserve     int  `json:"reserve"`
	Concurrency int  `json:"concurrency"`
	InUse       int  `json:"in_use"`
	Paused      bool `json:"paused"`
}

// Backfill is the backfill state of one object: the running engine's
// when the page has it (Engine.Backfills), else the durable state.
type Backfill struct {
	Object  string `json:"object"`
	Pending bool   `json:"pending"`
	Reason  string `json:"reason,omitempty"`
	Phase   string `json:"phase,omitempty"`
	Read    int64  `json:"read"`
	// Total is -1 while unknown.
	Total       int64     `json:"total"`
	PerSecond   float64   `json:"per_second,omitempty"`
	LeftSeconds float64   `json:"left_seconds,omitempty"`
	Started     time.Time `json:"started,omitzero"`
	Error       string    `json:"error,omitempty"`
}

// Percent is how much of a backfill of known size is read, 0 to 100.
func (b Backfill) Percent() int {
	if b.Total <= 0 {
		return 0
	}
	return int(min(100, b.Read*100/b.Total))
}

func backfillOf(p sfsyncsync.BackfillProgress) Backfill {
	b := Backfill{Object: p.Object, Pending: p.Phase != sfsyncsync.PhaseDone, Reason: p.Reason, Phase: p.Phase,
		Read: p.Read, Total: p.Total, PerSecond: p.Rate, LeftSeconds: p.Left.Seconds(), Started: p.Started}
	if p.Err != nil {
		b.Error = p.Err.Error()
	}
	return b
}

type backfillReporter interface {
	Backfills() []sfsyncsync.BackfillProgress
}

// Report gathers the current report. Parts whose store fails are left out
// and named in Errors.
func (h *Handler) Report(ctx context.Context) Report {
	now := h.cfg.clock()
	s := h.engine.Stats()
	r := Report{
		Time:    now,
		Engine:  countersOf(s),
		Requeue: h.cfg.token != "",
		Streams: []Stream{}, DeadLetters: []DeadLetter{}, API: []API{},
	}
	if err := h.engine.Health(); err != nil {
		r.Health = strings.Split(err.Error(), "\n")
	}
	r.Ready = len(r.Health) == 0
	if lr, ok := h.engine.(leaseReporter); ok {
		if l, held := lr.Lease(); held {
			r.Lease = &l
		}
	}
	if h.cfg.reconciler != nil {
		st := h.cfg.reconciler()
		r.Reconcile = &st
	}
	r.API = h.api()

	streams := map[string]*Stream{}
	stream := func(name string) *Stream {
		if streams[name] == nil {
			streams[name] = &Stream{Name: name}
		}
		return streams[name]
	}
	for _, name := range h.cfg.streams {
		stream(name)
	}
	for _, sub := range h.cfg.subscriptions {
		st := sub.stats()
		x := stream(sub.topic)
		x.Subscription, x.Events, x.Keepalives, x.Reconnects = true, st.Events, st.Keepalives, st.Reconnects
	}
	r.Outcomes = newOutcomes(now, h.cfg.window)
	// The engine's own view comes first; the stores fill in what it does
	// not know.
	var engineStreams []string
	if sr, ok := h.engine.(streamReporter); ok {
		for _, st := range sr.Streams() {
			engineStreams = append(engineStreams, st.Name)
			x := stream(st.Name)
			x.Phase, x.Reason, x.CaughtUp, x.InFlight = string(st.Phase), st.Reason, st.CaughtUp, st.InFlight
			if st.Err != nil && st.Phase != sfsyncsync.StreamStreaming {
				x.Reason = strings.TrimPrefix(x.Reason+": "+st.Err.Error(), ": ")
			}
			if !st.Checkpoint.IsZero() {
				x.Checkpoint = token(st.Checkpoint.Token)
			}
			x.LastEvent, x.LastReceipt = st.LastEvent, st.LastReceipt
			x.LagSeconds, x.WatchdogSeconds = st.Lag.Seconds(), st.Watchdog.Seconds()
			x.DeadLetters, x.LastDeadLetter = st.DeadLetters, st.LastDeadLetter
		}
	}
	if oc, ok := h.engine.(outcomeCounter); ok && len(r.Outcomes.Minutes) <= engineMinutes {
		r.Outcomes.countFrom(oc.OutcomesPerMinute(len(r.Outcomes.Minutes)))
	}
	if h.cfg.state != nil {
		h.readState(ctx, &r, stream, engineStreams)
	}
	for _, name := range sortedKeys(streams) {
		r.Streams = append(r.Streams, *streams[name])
	}
	return r
}

// engineMinutes is how many minutes an engine counts outcomes for; a
// longer window is read from the ledger.
const engineMinutes = 60

// streamReporter and outcomeCounter are optional parts of [Engine];
// *sync.Engine has both.
type streamReporter interface {
	Streams() []sfsyncsync.StreamState
}

type outcomeCounter interface {
	OutcomesPerMinute(n int) []sfsyncsync.MinuteOutcomes
}

func (h *Handler) readState(ctx context.Context, r *Report, stream func(string) *Stream, engineStreams []string) {
	fail := func(err error) { r.Errors = append(r.Errors, err.Error()) }
	st := h.cfg.state

	// An engine that counts its outcomes and reports its streams saves
	// reading the window's outcomes from the ledger.
	var outs []sfsync.Outcome
	if r.Outcomes.From == "" || engineStreams == nil {
		var err error
		outs, err = st.Outcomes(ctx, sfsync.OutcomeQuery{Since: r.Outcomes.Minutes[0], Limit: maxOutcomes})
		if err != nil {
			fail(fmt.Errorf("status: reading outcomes: %w", err))
		}
	}
	if r.Outcomes.From == "" {
		r.Outcomes.From = "ledger"
		r.Outcomes.Truncated = len(outs) >= maxOutcomes
	}
	for _, o := range outs {
		if r.Outcomes.From == "ledger" {
			r.Outcomes.add(o)
		}
		if o.Position.Stream == "" || strings.HasPrefix(o.Position.Stream, backfillStreamPrefix) {
			continue
		}
		x := stream(o.Position.Stream)
		if !o.At.Before(x.LastDecided) {
			x.LastDecided = o.At
			if x.Phase != "" {
				continue // the engine's lag and last event are its own
			}
			x.LastEvent = o.Version.Time
			x.LagSeconds = 0
			if !o.Version.Time.IsZero() {
				x.LagSeconds = max(0, o.At.Sub(o.Version.Time).Seconds())
			}
		}
	}
	// Checkpoints are read after the outcomes, so every stream the window
	// mentions is there to read; the engine's own are newer than stored.
	for _, name := range h.streamNames(r, outs) {
		if stream(name).Checkpoint != "" && stream(name).Phase != "" {
			continue
		}
		pos, err := st.LoadCheckpoint(ctx, name)
		switch {
		case err == nil:
			stream(name).Checkpoint = token(pos.Token)
		case !isNotFound(err):
			fail(fmt.Errorf("status: reading the checkpoint of %s: %w", name, err))
		}
	}
	running := map[string]sfsyncsync.BackfillProgress{}
	if br, ok := h.engine.(backfillReporter); ok {
		for _, p := range br.Backfills() {
			running[p.Object] = p
		}
	}
	for _, object := range h.cfg.backfill {
		if p, ok := running[object]; ok {
			r.Backfills = append(r.Backfills, backfillOf(p))
			continue
		}
		p, err := sfsyncsync.LoadBackfill(ctx, st, object)
		switch {
		case isNotFound(err):
			r.Backfills = append(r.Backfills, Backfill{Object: object, Total: -1})
		case err != nil:
			fail(fmt.Errorf("status: %w", err))
		default:
			r.Backfills = append(r.Backfills, backfillOf(p))
		}
	}

	letters, err := st.DeadLetters(ctx, sfsync.DeadLetterQuery{Limit: h.cfg.maxLetters + 1})
	if err != nil {
		fail(fmt.Errorf("status: reading dead letters: %w", err))
	}
	if len(letters) > h.cfg.maxLetters {
		letters, r.DeadLettersMore = letters[:h.cfg.maxLetters], true
	}
	for _, d := range letters {
		r.DeadLetters = append(r.DeadLetters, DeadLetter{
			Key: d.Key(), Object: d.Change.Object, RecordID: d.Change.RecordID, Source: d.Change.Source,
			Destination: d.Destination, Err: d.Err, Kind: d.Kind.String(), Attempts: d.Attempts, LastFailed: d.LastFailed,
		})
	}
}

// backfillStreamPrefix marks the engine's own backfill records among the
// checkpoints; they are shown as backfills, not streams.
const backfillStreamPrefix = "sfsync/backfill/"

func (h *Handler) streamNames(r *Report, outs []sfsync.Outcome) []string {
	names := map[string]bool{}
	for _, n := range h.cfg.streams {
		names[n] = true
	}
	for _, s := range h.cfg.subscriptions {
		names[s.topic] = true
	}
	for _, o := range outs {
		if o.Position.Stream != "" && !strings.HasPrefix(o.Position.Stream, backfillStreamPrefix) {
			names[o.Position.Stream] = true
		}
	}
	return sortedKeys(names)
}

func (h *Handler) api() []API {
	out := []API{}
	seen := map[string]bool{}
	for _, l := range h.cfg.limiters {
		seen[l.tenant] = true
		out = append(out, apiOf(l.tenant, l.l.Headroom()))
	}
	for _, t := range h.cfg.tenants {
		hs := t.Headroom()
		for _, tenant := range sortedKeys(hs) {
			if !seen[tenant] {
				seen[tenant] = true
				out = append(out, apiOf(tenant, hs[tenant]))
			}
		}
	}
	return out
}

func apiOf(tenant string, h throttle.Headroom) API {
	return API{Tenant: tenant, Used: h.Used, Max: h.Max, Reserve: h.Reserve, Concurrency: h.Concurrency, InUse: h.InUse, Paused: h.Paused}
}

func newOutcomes(now time.Time, window time.Duration) Outcomes {
	n := int(window / time.Minute)
	last := now.Truncate(time.Minute)
	o := Outcomes{Counts: map[sfsync.Status][]int{}}
	for i := n - 1; i >= 0; i-- {
		o.Minutes = append(o.Minutes, last.Add(-time.Duration(i)*time.Minute))
	}
	return o
}

// countFrom takes the engine's counts of the window's minutes.
func (o *Outcomes) countFrom(ms []sfsyncsync.MinuteOutcomes) {
	o.From = "engine"
	for _, m := range ms {
		i := int(m.Minute.Sub(o.Minutes[0]) / time.Minute)
		if i < 0 || i >= len(o.Minutes) {
			continue
		}
		for st, n := range m.Counts {
			if o.Counts[st] == nil {
				o.Counts[st] = make([]int, len(o.Minutes))
			}
			o.Counts[st][i] += n
		}
	}
}

func (o *Outcomes) add(x sfsync.Outcome) {
	i := int(x.At.Sub(o.Minutes[0]) / time.Minute)
	if i < 0 || i >= len(o.Minutes) {
		return
	}
	if o.Counts[x.Status] == nil {
		o.Counts[x.Status] = make([]int, len(o.Minutes))
	}
	o.Counts[x.Status][i]++
}

// token shows a checkpoint token: Pub/Sub replay ids are opaque bytes,
// other sources' tokens are often text.
func token(b []byte) string {
	s := string(b)
	for _, r := range s {
		if r == unicode.ReplacementChar || !unicode.IsPrint(r) {
			return hex.EncodeToString(b)
		}
	}
	return s
}

func isNotFound(err error) bool { return errors.Is(err, sfsync.ErrNotFound) }

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

func (h *Handler) json(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(h.Report(r.Context())); err != nil {
		h.cfg.logger.Debug("status: writing status.json", "err", err)
	}
}
