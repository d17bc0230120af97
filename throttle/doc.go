// Package throttle keeps an integration inside a Salesforce org's API
// limits. Limits are a correctness matter: an org that hits its daily
// request limit stops every integration in it, not only this one.
//
// A [Limiter] guards one org (tenant). Every API call passes through
// [Limiter.Wait] or [Limiter.Acquire], which combine:
//
//   - a token bucket (golang.org/x/time/rate) that smooths bursts;
//   - a daily budget fed from the Sforce-Limit-Info header of every response
//     ([Limiter.ObserveUsage]) that keeps a reserve for the org's other
//     consumers: below the reserve, low-priority work (reconciliation,
//     backfill) waits until headroom returns, and write-back slows down;
//   - a pause on REQUEST_LIMIT_EXCEEDED ([Limiter.LimitExceeded]) that holds
//     every caller until usage shows headroom again, checked at a low rate
//     through a limits probe (the /limits resource);
//   - a concurrency cap that halves when the org reports too many
//     concurrent requests ([Limiter.ConcurrencyLimited]) and grows back one
//     slot at a time (AIMD).
//
// Wait is the engine's backpressure point: a sink that waits here stops the
// engine from pulling more events, so nothing queues without bound.
package throttle
