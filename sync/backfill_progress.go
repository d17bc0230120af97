package sync

import (
	"context"
	"fmt"
	"slices"
	stdsync "sync"
	"time"

	"github.com/sfsync/sfsync"
)

// BackfillProgress is how far the backfill of one object has come.
type BackfillProgress struct {
	Object string
	// Phase is one of PhaseOwed, PhasePinned, PhaseQuerying,
	// PhaseReading and PhaseDone.
	Phase string
	// Reason is why the backfill runs: first start, replay position
	// unavailable.
	Reason string
	// Since starts the window the backfill covers; zero: every record.
	Since time.Time
	// Pinned are the stream positions pinned before querying.
	Pinned []sfsync.Position
	// Read is the number of records read and applied so far, this run
	// and the runs it resumed.
	Read int64
	// Total is the number of records to read, or -1 when unknown.
	Total int64
	// Rate is records read per second by this run; Left the time left at
	// that rate, zero when unknown.
	Rate float64
	Left time.Duration
	// Started is when the backfill asked its sources to pin their streams.
	Started time.Time
	// Err is why the last run failed, while the backfill is failing.
	Err error
}

// Backfills returns the progress of the backfills this engine knows of,
// owed, running or finished, ordered by object.
func (e *Engine) Backfills() []BackfillProgress {
	e.progressMu.Lock()
	defer e.progressMu.Unlock()
	out := make([]BackfillProgress, 0, len(e.progress))
	for _, object := range sortedKeys(e.progress) {
		out = append(out, e.progress[object])
	}
	return out
}

// progressState is the engine's view of its backfills.
type progressState struct {
	progressMu stdsync.Mutex
	progress   map[string]BackfillProgress
	// logged is when a progress line was last logged, per object.
	logged map[string]time.Time
}

// backfillLogEvery bounds how often a running backfill logs its progress.
const backfillLogEvery = 5 * time.Second

// setBackfill records object's backfill state, and err while it fails.
func (e *Engine) setBackfill(object string, st backfillState, err error) {
	e.updateBackfill(object, st, err, nil)
}

// backfillSnapshot returns object's last known backfill state.
func (e *Engine) backfillSnapshot(object string) backfillState {
	e.progressMu.Lock()
	defer e.progressMu.Unlock()
	p := e.progress[object]
	return backfillState{Phase: p.Phase, Reason: p.Reason, Since: p.Since, Pinned: slices.Clone(p.Pinned),
		Read: p.Read, Total: p.Total, Started: p.Started}
}

// reportBackfill records a running backfill's progress, with its rate, and
// logs it at most every backfillLogEvery.
func (e *Engine) reportBackfill(object string, st backfillState, rate *rateMeter) {
	e.updateBackfill(object, st, nil, rate)
}

// updateBackfill records st (and err) as object's progress, with the rate
// and time left when rate is set, tells the WithBackfillProgress callback,
// and logs a running backfill's progress at most every backfillLogEvery.
func (e *Engine) updateBackfill(object string, st backfillState, err error, rate *rateMeter) {
	now := e.cfg.clock()
	e.progressMu.Lock()
	p := e.progress[object]
	p.Object, p.Phase, p.Reason, p.Since = object, st.Phase, st.Reason, st.Since
	p.Pinned, p.Read, p.Total, p.Started, p.Err = slices.Clone(st.Pinned), st.Read, st.Total, st.Started, err
	if rate != nil {
		p.Rate, p.Left = rate.rate(now, st.Read), 0
		if st.Total > st.Read && p.Rate > 0 {
			p.Left = time.Duration(float64(st.Total-st.Read) / p.Rate * float64(time.Second))
		}
	}
	if st.Phase == PhaseDone {
		p.Left = 0
	}
	e.progress[object] = p
	log := rate != nil && now.Sub(e.logged[object]) >= backfillLogEvery
	if log {
		e.logged[object] = now
	}
	e.progressMu.Unlock()
	if f := e.cfg.backfillProgress; f != nil {
		f(p)
	}
	if log {
		e.log.Info("sfsync: backfill progress", "object", object, "phase", p.Phase, "read", p.Read, "total", p.Total,
			"per_second", int64(p.Rate), "left", p.Left.Round(time.Second))
	}
}

// backfillErrors are the backfills failing now, for Health.
func (e *Engine) backfillErrors() []error {
	e.progressMu.Lock()
	defer e.progressMu.Unlock()
	var errs []error
	for _, object := range sortedKeys(e.progress) {
		if err := e.progress[object].Err; err != nil {
			errs = append(errs, fmt.Errorf("sync: backfill of %s is failing: %w", object, err))
		}
	}
	return errs
}

// rateMeter measures a run's records per second.
type rateMeter struct {
	start time.Time
	read  int64
}

func newRateMeter(now time.Time, read int64) *rateMeter { return &rateMeter{start: now, read: read} }

func (m *rateMeter) rate(now time.Time, read int64) float64 {
	d := now.Sub(m.start).Seconds()
	if d <= 0 {
		return 0
	}
	return float64(read-m.read) / d
}

// LoadBackfill reads the durable state of object's backfill from an
// engine's checkpoint store, as a status page or a metrics exporter sees
// it from outside the engine: Phase, Reason, Since, Pinned, Read, Total
// and Started (Rate, Left and Err belong to the running engine: see
// [Engine.Backfills]). It returns an error matching [sfsync.ErrNotFound]
// when no backfill of object was ever owed.
func LoadBackfill(ctx context.Context, checkpoints sfsync.CheckpointStore, object string) (BackfillProgress, error) {
	pos, err := checkpoints.LoadCheckpoint(ctx, backfillStream(object))
	if err != nil {
		return BackfillProgress{}, fmt.Errorf("sync: reading the backfill state of %s: %w", object, err)
	}
	st := decodeBackfill(pos.Token)
	return BackfillProgress{Object: object, Phase: st.Phase, Reason: st.Reason, Since: st.Since, Pinned: st.Pinned,
		Read: st.Read, Total: st.Total, Started: st.Started}, nil
}
