// Package status serves a sync engine's status page: an [http.Handler] a
// host mounts in one line.
//
//	mux.Handle("/status/", http.StripPrefix("/status", status.New(engine,
//		status.WithState(state), status.WithLimiter(orgID, limiter))))
//
// The page is server-rendered (html/template, no JavaScript) and reloads
// itself. It shows whether the engine is ready and why not; the engine's
// counters and lag; per stream its checkpoint, the time of its newest
// change in the window and how far behind the engine was when it decided
// it, and for a Pub/Sub subscription its events, keepalives and
// reconnects; outcomes per minute by status; dead letters, each with a
// page showing the whole change and, when the host set a token with
// [WithRequeueToken], a requeue form (read-only by default); API usage
// against the org's limits and the throttle's state; the lease holder and
// fencing token when the engine reports one; and backfill and
// reconciliation progress.
//
// The same handler serves /status.json (the [Report] behind the page),
// /healthz (liveness: the process answers) and /readyz (readiness: 200 when
// Engine.Health is nil, 503 with the reasons otherwise).
//
// Nothing runs between requests: every request reads the engine and the
// state stores afresh, so an unvisited page costs nothing. Outcomes per
// minute and the streams' last events are read from the ledger (at most
// 20,000 outcomes per request).
package status
