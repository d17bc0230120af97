// Package crashtest holds the crash-safety proof of the engine's durable
// state: its test runs the sync engine with SQLite state in a child process
// against a fake Salesforce org (salesforce/salesforcetest), whose inserts
// and UI edits emit the change events the engine reads through the Pub/Sub
// API. It kills the child with SIGKILL at seeded random points, restarts it,
// and checks that every change has exactly one deciding outcome, took effect
// in the external system exactly once, and that no stored checkpoint ever
// moved past a change without an outcome. The package has no non-test code.
package crashtest
