// Package salesforcetest is an in-process fake Salesforce org for tests,
// started in one line like net/http/httptest:
//
//	org := salesforcetest.NewOrg()
//	defer org.Close()
//
// Like a real org it serves TLS only: REST on https:// and the Pub/Sub API
// over TLS, each with a certificate generated for it (httptest's shared
// certificate would let a client trusting one org trust them all).
// org.Client() trusts the REST certificate; org.ClientTLSConfig() and
// org.CertPool() trust both, for dialing the Pub/Sub API
// (pubsub.WithTLSConfig(org.ClientTLSConfig())). WithPlaintext serves both
// without TLS, for speed where transport security is not the point.
//
// It serves, at org.URL() (the instance URL, also the login host):
//
//   - OAuth: POST /services/oauth2/token for the JWT bearer grant
//     (RegisterJWTKey) and the client_credentials grant (ClientCredentials),
//     GET /services/oauth2/userinfo; errors are 400 {"error","error_description"}.
//   - REST under /services/data/vNN.N (any version): /limits, sObject rows
//     (POST create 201, GET with Last-Modified and, for Account, ETag; PATCH
//     204 with If-Unmodified-Since/If-Match → 412; DELETE 204 as a soft
//     delete, after which the row answers 404 ENTITY_IS_DELETED), upsert by
//     external id (201 / 200 created:false from v46 / 204 up to v45 / 300 on
//     several matches), sObject Collections (create, update, upsert, delete,
//     retrieve; at most 200 records; allOrNone rollback), /query and
//     /queryAll with a SOQL subset (COUNT() included) and nextRecordsUrl
//     pagination, /sobjects/<Obj>/describe, and /sobjects/<Obj>/updated
//     and /deleted.
//   - Bulk API 2.0 query jobs under /jobs/query (v47.0 and later): create
//     (200, state UploadComplete, apiVersion as the number 62.0; COUNT(),
//     OFFSET, unknown fields and bad options are 400), job info
//     (InProgress once looked at, JobComplete when done, Failed with
//     errorMessage), list, abort (PATCH; 400 INVALIDJOBSTATE once
//     finished), delete (204; 400 API_ERROR while running; 404 NOT_FOUND
//     after), and results: 412 JOB_NOT_COMPLETE before completion, 409
//     for another API version, 406 unless Accept allows text/csv, then CSV
//     with a quoted header row on every page, every value quoted (inner
//     quotes doubled), null as an empty unquoted value, booleans
//     true/false, dates 2006-01-02, datetimes 2006-01-02T15:04:05.000Z,
//     the job's delimiter and line ending, Sforce-NumberOfRecords,
//     Sforce-Locator (opaque and stable; "null" on the last page),
//     maxRecords (default DefaultBulkPageSize, capped by WithBulkPageCap)
//     and gzip when asked. The results are the query's rows when the job
//     completes. Jobs complete when first looked at unless
//     WithBulkJobDuration makes them take time on the org clock or
//     HoldBulkJobs holds them for CompleteBulkJob/FailBulkJob;
//     FailNextBulkJobs, DeleteBulkJob and BreakNextResultsPage (a page cut
//     half way and its connection dropped) inject failures, and
//     BulkJobs, WaitBulkJobs and WaitBulkPolls let tests observe jobs.
//   - the Tooling API query of ManagedEventSubscription (GET
//     /tooling/query?q=SELECT Id, DeveloperName, MasterLabel, Metadata FROM
//     ManagedEventSubscription [WHERE Id|DeveloperName = '...'] [LIMIT n]),
//     answered from the managed subscriptions of the Pub/Sub fake, so a
//     client can look one up by developer name and subscribe by its Id (15
//     or 18 characters) or by name. Metadata reports defaultReplay and
//     errorRecoveryReplay EARLIEST and state RUN, which is how the fake
//     behaves (the spec does not say what a fake should choose). /query on
//     it answers INVALID_TYPE, as on a real org.
//
// Every authenticated /services/data request counts one against the daily
// limit and carries Sforce-Limit-Info: api-usage=N/M; beyond the limit, or
// beyond the concurrency limit, requests get 403 REQUEST_LIMIT_EXCEEDED.
// Errors are JSON arrays of {"message","errorCode","fields"}; collections
// report per-record errors[].statusCode. InjectFault makes requests or
// single records fail (UNABLE_TO_LOCK_ROW, SERVER_UNAVAILABLE, HTML 502...).
//
// Objects are Account (prefix 001), Contact (003) and Employee__c (a01),
// with the CDC fields of internal/cdcschema flattened for REST
// (BillingAddress.Street ↔ BillingStreet, Contact Name.FirstName ↔
// FirstName, Office__c.Latitude ↔ Office__c__Latitude__s) and the system
// fields Id, IsDeleted, CreatedDate, CreatedById, LastModifiedDate,
// LastModifiedById and SystemModstamp. External_Id__c is the external id
// field of each. Datetimes are stored to the second and rendered
// 2006-01-02T15:04:05.000+0000.
//
// Load adds many records at once, without change events, as data the org
// holds when a test starts.
//
// An org lives in its process. A program that stops hard and starts again
// can regenerate the same org (the same clock, seed and records give the
// same ids and SystemModstamps) and have it stand for the old one:
// WithSeed derives Bulk locators from the seed, job and offset, and
// RestoreBulkJob re-creates a job the earlier org held, so a client
// resumes reading it from a stored locator. WithPubSubOptions passes
// options to the Pub/Sub fake, such as a short keepalive.
//
// Every committed write (API or the UI-side Insert, EditAsUser,
// DeleteAsUser, UndeleteAsUser) appends Avro change events to the Pub/Sub
// fake (PubSub) on /data/<Obj>ChangeEvent (custom objects:
// /data/<Name>__ChangeEvent) and /data/ChangeEvents: one transactionKey and
// one commitNumber per request (the commitNumber greater for every later
// transaction), sequenceNumber from 1, commitTimestamp from the clock,
// commitUser the token's user, changeOrigin
// com/salesforce/api/rest/<ver>[;client=<Sforce-Call-Options client>]
// (UI: UIOrigin). UPDATE events carry only the changed fields plus
// LastModifiedDate (and LastModifiedById when the editor changed), with
// changedFields/nulledFields bitmaps; identical updates or deletes of several
// records in one request are merged into one event with several recordIds.
// AddField changes an object's schema (new schema id); EmitGap and
// EmitOverflow produce gap and overflow events.
package salesforcetest
