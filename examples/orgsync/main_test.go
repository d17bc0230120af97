package main

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/output.golden with the demo's output")

// TestDemoOutput runs the demo twice: a newcomer reads the same output on
// every run (no timings, no random ids, a stable order), and it is the
// reviewed one in testdata/output.golden.
func TestDemoOutput(t *testing.T) {
	golden := filepath.Join("testdata", "output.golden")
	first := demo(t)
	if second := demo(t); second != first {
		t.Fatalf("two runs print differently:\n%s\n---\n%s", first, second)
	}
	if *update {
		if err := os.WriteFile(golden, []byte(first), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	if first != string(want) {
		t.Errorf("output differs from %s (review it, then go test -update):\n%s", golden, first)
	}

	lines := strings.Split(strings.TrimSuffix(first, "\n"), "\n")
	if len(lines) >= 40 {
		t.Errorf("the demo prints %d lines, want under 40", len(lines))
	}
	last := lines[len(lines)-1]
	if !strings.HasPrefix(last, "Both systems are equal.") || !strings.Contains(last, "field ownership keeps Email in Salesforce") {
		t.Errorf("the demo ends with %q, want the systems equal and why Email is Salesforce's", last)
	}
	for _, want := range []string{
		// Each side's id: the contact the ERP created is P-7 there and a
		// Salesforce id in Salesforce, and is in the ERP once.
		"Turing  003000000000003AAA Turing    -                  778   | P-7                Turing    -                  778\n",
		// Every status is counted, so the counts add up.
		"16 outcomes = applied 7 + echo 7 + reconciled 1 + stale 0 + noop 1 + duplicate 0 + conflict_lost 0 + skipped 0 + dead_lettered 0\n",
		// A cause comes before its effect: the write to the ERP before the
		// outbox's echo of it.
		"Ada     Salesforce 003000000000001AAA → ERP        003000000000001AAA applied    wrote [Email LastName Phone]",
	} {
		if !strings.Contains(first, want) {
			t.Errorf("output lacks %q:\n%s", want, first)
		}
	}
	if i, j := strings.Index(first, "Ada     Salesforce 003000000000001AAA → ERP        003000000000001AAA applied"), strings.Index(first, "Ada     ERP        003000000000001AAA → Salesforce 003000000000001AAA echo"); i > j {
		t.Errorf("Ada's echo is printed before the write it echoes:\n%s", first)
	}
	for _, trailing := range lines {
		if strings.HasSuffix(trailing, " ") {
			t.Errorf("line %q ends in a space", trailing)
		}
	}
}

func demo(t *testing.T) string {
	t.Helper()
	var out bytes.Buffer
	if err := run(context.Background(), &out, options{}); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	return out.String()
}
