// Package status serves a sync engine's status page: an [http.Handler] a
// host mounts in one line.
//
//	mux.Handle("/status/", http.StripPrefix("/status", status.New(engine,
//		status.WithState(state), status.WithLimiter(orgID, limiter))))
//
// The page is server-rendered (html/template, no JavaScript) and reloads
// itself. It shows whether the engine is ready and why not; the engine's
// counters and lag; per stream, as the engine reports it
// (sync.Engine.Streams), its state (starting, streaming or caught up,
// degraded with the reason, fenced, stopped), checkpoint, last event, last
// receipt (keepalives included) with its watchdog, lag and deliveries in
// flight, and for a Pub/Sub subscription its events, keepalives and
// reconnects; outcomes per minute by status, as the engine counted them
// (sync.Engine.OutcomesPerMinute); dead letters, each with a page showing
// the whole change and, when the host set a token with
// [WithRequeueToken], a requeue form (read-only by default); API usage
// against the org's limits and the throttle's state; the lease holder and
// fencing token; and backfill and reconciliation progress.
//
// The same handler serves /status.json (the [Report] behind the page),
// /healthz (liveness: the process answers) and /readyz (readiness: 200 when
// Engine.Health is nil, 503 with the reasons otherwise).
//
// Nothing runs between requests: every request reads the engine and the
// state stores afresh, so an unvisited page costs nothing. An engine that
// does not report its streams and outcome counts (a stand-in, or a window
// longer than the engine's hour) is pieced together from the ledger and
// the checkpoints instead (at most 20,000 outcomes per request).
package status
