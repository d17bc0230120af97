// Package eventbus holds the generated Go code for the Salesforce Pub/Sub API
// (proto package eventbus.v1), shared by the pubsub client and its fake server.
//
// The messages register the full names eventbus.v1.* in the global protobuf
// registry. A program that also links another generated copy of the same API
// (for example github.com/developerforce/pub-sub-api/go/proto) panics at init
// with "proto: file ... is already registered"; run such a program with
// GOLANG_PROTOBUF_REGISTRATION_CONFLICT=warn, or use only one copy.
package eventbus

//go:generate protoc --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative pubsub_api.proto
