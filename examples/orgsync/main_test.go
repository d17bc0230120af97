package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestDemoConverges(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), &out, options{}); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	got := out.String()
	for _, want := range []string{
		"Salesforce 003000000000001AAA: Lovelace ada@example.com 333 | ERP: Lovelace ada@example.com 333",
		"Salesforce 003000000000002AAA: Hopper grace@example.com 222 | ERP: Hopper grace@example.com 222",
		"Salesforce 003000000000003AAA (ERP P-7): Turing <nil> 778 | ERP: Turing <nil> 778; also under its Salesforce id: false",
		"echoes 7",
		"dead letters 0",
		"reconciled     gap: re-read Contact/003000000000002AAA",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
}
