package sim

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v4"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/pubsub"
	"github.com/sfsync/sfsync/reconcile"
	"github.com/sfsync/sfsync/salesforce"
	"github.com/sfsync/sfsync/salesforce/salesforcetest"
	ssync "github.com/sfsync/sfsync/sync"
)

// leaseTTL is the lease of lease scenarios, in virtual time: it only
// expires when the scenario moves the clock past it.
const leaseTTL = 30 * time.Second

// instance is one engine process.
type instance struct {
	n      int
	eng    *ssync.Engine
	state  *gate // between the engine and its state store
	io     *gate // between the engine and its sources and sinks
	cancel context.CancelFunc
	done   chan error
	ps     *pubsub.Client
	subs   []*pubsub.Subscription
	// sources are the engine's sources, in its order (Engine.Streams).
	sources []*watchedSource
	// closeERP ends the instance's reader of the ERP's local edits.
	closeERP func()
}

// start builds and runs a new engine instance on the scenario's state.
func (r *run) start(dupExt bool) error {
	r.nInst++
	in := &instance{n: r.nInst, state: &gate{}, io: &gate{}, done: make(chan error, 1)}
	ps, err := pubsub.Dial(r.org.PubSub().Addr(), salesforce.PubSubTokens(r.tokens), pubsub.WithTLSConfig(r.org.ClientTLSConfig()), pubsub.WithLogger(r.log),
		pubsub.WithDialOptions(grpc.WithChainUnaryInterceptor(r.failSchemas)))
	if err != nil {
		return err
	}
	in.ps = ps
	var srcs []sfsync.EventSource
	for i, o := range r.sc.Objects {
		sub := ps.Subscribe(salesforcetest.Topic(o.Name), pubsub.WithFallback(pubsub.ReplayEarliest),
			pubsub.WithJitterSeed(uint64(r.sc.Seed)), pubsub.WithBackOff(fastBackOff))
		in.subs = append(in.subs, sub)
		w := &watchedSource{inner: r.ext.subscription(sub), g: in.io, r: r}
		if i == 0 {
			w.keepalives = &r.keepalives
		}
		in.sources = append(in.sources, w)
		srcs = append(srcs, r.prog.Watch(w))
	}
	if dupExt {
		r.count(FaultDupExt)
	}
	erpSrc, closeERP := r.ext.source(dupExt)
	in.closeERP = closeERP
	erpW := &watchedSource{inner: erpSrc, g: in.io, r: r, onRead: func(cs []sfsync.Change) { r.aimedRead(in, cs) }}
	in.sources = append(in.sources, erpW)
	srcs = append(srcs, r.prog.Watch(erpW))

	st := instanceStore{s: r.store, g: in.state, lag: newLag(r.sc.SlowState, r.sc.Seed, in.n)}
	fields := map[string][]string{}
	sinkOpts := []salesforce.SinkOption{}
	for _, o := range r.sc.Objects {
		fields[o.Name] = []string{linkField}
		var sf []string
		for _, f := range o.Fields {
			sf = append(sf, f.SF)
		}
		fields[o.Name] = append(fields[o.Name], sf...)
		sinkOpts = append(sinkOpts, salesforce.WithExternalID(o.Name, linkField), salesforce.WithReadFields(o.Name, sf...))
	}
	links := map[string][]string{}
	for _, o := range r.sc.Objects {
		links[o.Name] = []string{linkField}
	}
	policy := r.sc.Policy.engine()
	if r.opt.Policy != nil {
		policy = r.opt.Policy
	}
	opts := []ssync.Option{
		ssync.WithLogger(r.log), ssync.WithTenant(r.org.OrgID()), ssync.WithClientID("sfsync"),
		ssync.WithStore(st), ssync.WithClock(r.clock.Now), ssync.WithWorkers(r.sc.Workers), ssync.WithMaxBatch(r.sc.Batch),
		ssync.WithBackOff(engineBackOff), ssync.WithDrainTimeout(3 * time.Second),
		ssync.WithLinkReader(salesforce.NewAuthority(r.sf, links)),
		ssync.WithReconciler(reconcile.New(r.authority(fields), reconcile.WithTenant(r.org.OrgID()), reconcile.WithLogger(r.log))),
		ssync.WithBackfillProgress(r.backfill.observe),
		ssync.WithPolicy(policy),
		ssync.WithRoute(ssync.Route{From: sfsync.Salesforce, Sink: newFaultySink(faultySink{inner: r.ext.sink(), to: erpSystem, g: in.io, w: r.toExt, inst: in.n})}),
		ssync.WithRoute(ssync.Route{From: erpSystem, Sink: newFaultySink(faultySink{inner: r.ext.tracked(salesforce.NewSink(r.sf, sinkOpts...)), to: sfsync.Salesforce, g: in.io, w: r.toSF, inst: in.n})}),
	}
	for i := range r.sc.Objects {
		opts = append(opts, ssync.WithMapping(r.sc.Objects[i].mapping()))
	}
	if r.sc.Backfill {
		var objs []string
		for _, o := range r.sc.Objects {
			objs = append(objs, o.Name)
		}
		opts = append(opts, ssync.WithBackfill(objs...))
	}
	if r.sc.Lease {
		opts = append(opts, ssync.WithLease(st, "sim", r.holder, leaseTTL))
	}
	if r.opt.Dedup != nil {
		opts = append(opts, ssync.WithDedupStore(r.opt.Dedup(st)))
	}
	for _, s := range srcs[1:] {
		opts = append(opts, ssync.WithSource(s))
	}
	eng, err := ssync.New(srcs[0], nil, opts...)
	if err != nil {
		ps.Close()
		closeERP()
		return err
	}
	in.eng = eng
	ctx, cancel := context.WithCancel(r.ctx)
	in.cancel = cancel
	go func() { in.done <- eng.Run(ctx) }()
	r.mu.Lock()
	r.cur = in
	r.mu.Unlock()
	r.tracef("engine #%d started (holder %s)", in.n, r.holder)
	return nil
}

// fastBackOff retries a dropped stream quickly: the fake is on loopback.
func fastBackOff() backoff.BackOff {
	b := backoff.NewExponentialBackOff(backoff.WithInitialInterval(2*time.Millisecond), backoff.WithMaxInterval(20*time.Millisecond),
		backoff.WithMaxElapsedTime(0))
	return b
}

// engineBackOff gives a failing write eight quick retries, so that short
// fault runs recover and long ones dead-letter.
func engineBackOff() backoff.BackOff {
	return backoff.WithMaxRetries(backoff.NewConstantBackOff(2*time.Millisecond), 8)
}

// failSchemas fails schema fetches while a schema fault is armed.
func (r *run) failSchemas(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	if strings.HasSuffix(method, "/GetSchema") && takeOne(&r.schemaFails) {
		return status.Error(codes.Unavailable, "sim: schema service unavailable")
	}
	return invoker(ctx, method, req, reply, cc, opts...)
}

// mapping is the engine's mapping of the object, which the pgmirror ERP
// mirrors too.
func (o *objectSpec) mapping() *ssync.Mapping {
	m := &ssync.Mapping{Object: o.Name, External: o.Entity, LinkField: linkField}
	for _, f := range o.Fields {
		m.Fields = append(m.Fields, ssync.Field{Salesforce: f.SF, External: f.Ext})
	}
	return m
}

// aimedRead is called with every read of the ERP's local edits: when a
// crash is aimed at the next one (run.aim), it kills the reading instance
// before the changes it read can take effect anywhere or be committed.
func (r *run) aimedRead(in *instance, cs []sfsync.Change) {
	if !slices.ContainsFunc(cs, func(c sfsync.Change) bool { return c.Op != sfsync.OpAdvance }) {
		return
	}
	ch := r.aim.Swap(nil)
	if ch == nil {
		return
	}
	in.state.kill()
	in.io.kill()
	close(*ch)
}

// crash kills an instance: from now on nothing it does reaches its state,
// its sinks or its sources; then it is stopped and dropped.
func (r *run) crash(in *instance) {
	in.state.kill()
	in.io.kill()
	// A stalled write of the dead process must not hold up its teardown.
	r.release()
	r.halt(in, "crashed")
}

// stop stops an instance cleanly: it drains and commits.
func (r *run) stop(in *instance) { r.halt(in, "stopped") }

func (r *run) halt(in *instance, how string) {
	in.cancel()
	var err error
	select {
	case err = <-in.done:
	case <-time.After(30 * time.Second):
		r.violate(InvStuck, "", fmt.Sprintf("engine #%d did not return from Run within 30 s of being %s", in.n, how))
		in.state.kill()
		in.io.kill()
	}
	for _, s := range in.subs {
		s.Close()
	}
	in.ps.Close()
	in.closeERP()
	if err != nil && !errors.Is(err, errKilled) && !errors.Is(err, sfsync.ErrFenced) {
		r.tracef("engine #%d %s; Run returned: %v", in.n, how, err)
	} else {
		r.tracef("engine #%d %s", in.n, how)
	}
	r.mu.Lock()
	if r.cur == in {
		r.cur = nil
	}
	r.mu.Unlock()
}

// takeover freezes the running instance, as a long pause would, lets its
// lease expire, and starts a second instance that takes the lease over.
// The frozen one is thawed at the next settle, cut off from its sinks: its
// state store must then fence it.
func (r *run) takeover() error {
	old := r.cur
	if old == nil {
		return nil
	}
	old.state.freeze()
	old.io.freeze()
	r.zombies = append(r.zombies, old)
	r.clock.Advance(leaseTTL + time.Second)
	r.holder = fmt.Sprintf("sim-%d", r.nInst+1)
	r.tracef("engine #%d frozen; lease expired; a second instance takes over", old.n)
	return r.start(false)
}

// thawZombies lets frozen instances run again without their sinks: each
// must find itself fenced and stop without committing.
func (r *run) thawZombies() {
	for _, z := range r.zombies {
		z.io.kill()
		z.state.superseded.Store(true)
		z.state.thaw()
		z.cancel()
		select {
		case err := <-z.done:
			r.tracef("frozen engine #%d thawed and stopped: %v", z.n, err)
		case <-time.After(30 * time.Second):
			r.violate(InvStuck, "", fmt.Sprintf("thawed engine #%d did not stop within 30 s", z.n))
			z.state.kill()
		}
		for _, s := range z.subs {
			s.Close()
		}
		z.ps.Close()
		z.closeERP()
	}
	r.zombies = nil
}
