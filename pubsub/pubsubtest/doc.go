// Package pubsubtest provides a wire-faithful fake of the Salesforce Pub/Sub
// API gRPC server (service eventbus.v1.PubSub) for tests, started in one line
// like net/http/httptest:
//
//	srv := pubsubtest.NewServer()
//	defer srv.Close()
//	conn, _ := grpc.NewClient(srv.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
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
// Replay ids are 8-byte big-endian counters shared by all topics of a server.
// Every error message ends with " rpcId: <uuid>" and the error trailers are
// "error-code" and "rpc-id" (the latter's name on the real service is not
// documented).
//
// Tests drive the server with AddTopic, SetSchema, Append and AppendEncoded,
// inspect it with Published, Stats and Committed, and provoke failures with
// SetTokens and InjectFault. WithClock makes retention deterministic.
package pubsubtest
