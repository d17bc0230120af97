// Package pubsubtest provides a wire-faithful fake of the Salesforce Pub/Sub
// API gRPC server (service eventbus.v1.PubSub) for tests, started in one line
// like net/http/httptest:
//
//	srv := pubsubtest.NewServer()
//	defer srv.Close()
//	conn, _ := grpc.NewClient(srv.Addr(), grpc.WithTransportCredentials(credentials.NewTLS(srv.ClientTLSConfig())))
//
// Like the real endpoint it serves TLS only, with a certificate generated
// for each server (ClientTLSConfig and CertPool trust it, as
// httptest.NewTLSServer's Client does); WithPlaintext serves plaintext
// where transport security is not the point.
//
// The fake follows the documented protocol: every RPC needs the metadata
// accesstoken, instanceurl and tenantid (else UNAUTHENTICATED with trailer
// error-code sfdc.platform.eventbus.grpc.service.auth.error); Subscribe is
// pull-based with at most 100 events owed per call and reports
// pending_num_requested; LATEST, EARLIEST and CUSTOM replay; an unknown or
// expired CUSTOM replay id fails with INVALID_ARGUMENT, trailer error-code
// sfdc.platform.eventbus.grpc.subscription.fetch.replayid.corrupted and the
// message "The Replay ID validation failed. Ensure that the Replay ID is
// valid. rpcId: <uuid>"; empty keepalive responses carry latest_replay_id while
// events are owed but none are available; Publish and PublishStream return one
// PublishResult per event, failing bad events individually; ManagedSubscribe
// stores committed replay ids server-side.
//
// The tenantid may name the org by its 18- or 15-character id (Salesforce's
// examples use the latter), alone or as core/<subdomain>/<org id>. GetTopic
// reports can_publish false for change-event channels (every topic under
// /data/) and a blank schema_id for the multi-entity channels
// /data/ChangeEvents and /data/<Name>__chn, as the real service does.
// Publishing to a change-event channel fails the call with
// PERMISSION_DENIED, trailer error-code
// sfdc.platform.eventbus.grpc.topic.meta.permission and a message naming
// the topic: the spec documents that such topics cannot be published to but
// not the error, so the fake uses the documented code for a topic the
// caller has no permission on.
//
// Replay ids are 8-byte big-endian counters shared by all topics of a
// server. The bus starts at FirstReplayID, not zero: a keepalive always
// carries latest_replay_id (an independent client crashed without one),
// and that id is a valid CUSTOM position. Managed subscriptions are named
// by developer name or by Tooling id in either length; ManagedSubscriptions
// lists them for a fake Tooling API.
// Every error message ends with " rpcId: <uuid>" and the error trailers are
// "error-code" and "rpc-id" (the latter's name on the real service is not
// documented).
//
// Tests drive the server with AddTopic, SetSchema, Append and AppendEncoded,
// inspect it with Published, Stats and Committed, and provoke failures with
// SetTokens and InjectFault (duplicates, disconnects, delays, keepalives
// without a replay id, and the org's event delivery limit refusing
// subscriptions). WithClock makes retention deterministic.
package pubsubtest
