// Package salesforce is a small Salesforce REST API client for write-back
// and reconciliation: OAuth server-to-server flows (JWT bearer and client
// credentials), sObject Rows (get, create, update, upsert by external id,
// delete), sObject Collections, SOQL query and queryAll with pagination
// and COUNT(), getUpdated/getDeleted windows, the limits resource, sObject
// describe and Bulk API 2.0 query jobs.
//
// Every call:
//
//   - passes through an optional [throttle.Limiter] (see [WithLimiter]) at
//     the priority carried by the context ([WithPriority]), feeds it the
//     org's usage from the Sforce-Limit-Info header of every response and
//     reports REQUEST_LIMIT_EXCEEDED responses to it;
//   - authenticates with a bearer token from a [TokenSource]; on a 401
//     INVALID_SESSION_ID it mints a new token once and retries the request
//     once (not when the session type itself is refused);
//   - sends Sforce-Call-Options: client=<id> (see [WithClientID]) so that the
//     change events caused by the sync's own writes carry the client id in
//     their changeOrigin and can be recognised as echoes;
//   - returns errors classified for the engine (see [sfsync.KindOf]):
//     lock contention, 5xx and gateway failures, network errors and the
//     concurrent-request limit are retryable; an expired session is
//     [sfsync.KindAuth]; the daily request limit is [sfsync.KindRateLimited]
//     ([ErrDailyLimitExceeded]); failed preconditions, deleted records and
//     ambiguous external ids are [sfsync.KindConflict]; validation,
//     permission and malformed-input errors are [sfsync.KindPermanent].
//     The per-record errors of collections calls, and so of the [Sink],
//     carry the record's code in [sfsync.Error].Code and its *[APIError].
//
// A token source of [JWTBearer] or [ClientCredentials] ([OAuthSource])
// remembers a permanent OAuth failure (invalid_grant, invalid_client, an
// unusable private key, ...): every later call fails with it, as
// [sfsync.KindPermanent], without asking the token endpoint again, and
// [OAuthSource.Err] reports it for health checks until
// [OAuthSource.Reset]. Transient token endpoint failures are retryable and
// not remembered.
//
// Access tokens, client secrets and JWT assertions never appear in errors
// or log records.
//
// Every body from outside is bounded before it is decoded: REST responses
// are read up to 256 MiB and token, userinfo and OAuth error responses up
// to 1 MiB, and every JSON body (responses, error bodies, the record list
// of a 300 response, token and userinfo responses) is checked to nest no
// deeper than 128 levels before encoding/json builds anything (real
// bodies nest a dozen). A response nesting deeper is not decoded: a
// permanent error that says so ([sfsync.KindAuth] for a token or userinfo
// response), since asking again would bring the same body; an error body
// nesting deeper is kept as text.
//
// Bulk API 2.0 query jobs read objects of millions of records in a handful
// of calls: [Client.CreateQueryJob], [Client.WaitQueryJob] (polls with
// exponential backoff), [Client.QueryResultPages] (pages of up to
// [WithMaxRecords] records, streamed from the response and typed from the
// object's describe, resumable from any page's locator while the job
// exists), [Client.AbortQueryJob], [Client.DeleteQueryJob], and
// [Client.BulkQuery] for all of it at once. A failed job is
// [ErrJobFailed] (retryable), an aborted one [ErrJobAborted] (permanent),
// a deleted or purged one [ErrJobNotFound] (conflict: start a new job).
// Results pages go through the same request path as every other call:
// limiter, token, usage bookkeeping and classified errors; a page's slot
// is given back when its headers arrive, so a consumer may make calls of
// its own while it reads records.
//
// [Client.Describe] caches each object's describe until
// [Client.ObserveSchema] sees a new CDC schema id for the object (or
// [Client.RefreshDescribe], [Client.InvalidateDescribe]);
// [ObjectDescribe.Check] checks a mapping's fields against it and names
// every field that does not fit.
//
// On top of the client, [Sink] is the engine's write-back into Salesforce
// (coalesced, 200 records to a call, upserts by external id, per-record
// outcomes, bulk reads of current state), [Authority] reads records for
// reconciliation and backfill (REST for record ids, one Bulk queryAll job
// for whole objects and time windows above [WithBulkThreshold] records)
// and their versions alone for drift checks ([Authority.Versions]); its
// [Authority.ScanPages] makes a backfill resumable from the job's last
// handled page, and a windowed scan ends with getDeleted's deletes.
// [PubSubTokens] lends the client's OAuth tokens to the Pub/Sub API
// client. Package salesforcetest is a fake org to test all of it against.
package salesforce
