// Package salesforcetest is an in-process fake Salesforce org for tests,
// started in one line like net/http/httptest:
//
//	org := salesforcetest.NewOrg()
//	defer org.Close()
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
//     /queryAll with a SOQL subset and nextRecordsUrl pagination, and
//     /sobjects/<Obj>/updated and /deleted.
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
