package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestDeadLettersAreRequeuedOnceAndPurged(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), &out); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{
		// The first run dead-letters three changes, the timed-out one after
		// its retries although its write took effect.
		"== dead letters: 3\n",
		"salesforce:C-002:2   C-002   permanent  attempts 1  ",
		"salesforce:C-004:4   C-004   permanent  attempts 1  ",
		"salesforce:C-005:5   C-005   retryable  attempts 3  ",
		"meanwhile C-005, dead-lettered after timeouts, is in the ERP: true (Phone (415) 555-0105), applied 1 time(s)",
		// The inspected change and its error.
		"  Phone      +46 8 555 0102\n",
		"error:       writing to external:erp: erp: validation rule Phone_Format",
		// Both requeues apply, with the original keys, and leave no dead letter.
		"10:00  salesforce:C-002:2   applied       attempts 1  ",
		"10:00  salesforce:C-005:5   applied       attempts 1  ",
		"salesforce:C-002:2   no longer dead-lettered; a second requeue finds nothing",
		// Each requeued key took effect exactly once, although C-005 was
		// sent four times; the purged change never did.
		"C-001 salesforce:C-001:1   sent 1, took effect 1\n",
		"C-002 salesforce:C-002:2   sent 2, took effect 1\n",
		"C-003 salesforce:C-003:3   sent 1, took effect 1\n",
		"C-004 salesforce:C-004:4   sent 1, took effect 0\n",
		"C-005 salesforce:C-005:5   sent 4, took effect 1\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	// The last dead-letter listing, after the purge, is empty.
	last := got[strings.LastIndex(got, "== dead letters:"):]
	if !strings.HasPrefix(last, "== dead letters: 0\n\n== ledger") {
		t.Errorf("dead letters remain at the end:\n%s", last)
	}
}

func TestOutputIsDeterministic(t *testing.T) {
	var a, b bytes.Buffer
	if err := run(context.Background(), &a); err != nil {
		t.Fatal(err)
	}
	if err := run(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
	if a.String() != b.String() {
		t.Errorf("two runs differ:\n%s\n---\n%s", a.String(), b.String())
	}
}
