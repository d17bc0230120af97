package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestDemoConverges(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"salesforce Contact C-001: Phone=333 Email=ann@sf.example MailingStreet=1 Market St",
		"erp person C-001:         phone=333 email=ann@sf.example street=1 Market St",
		"dead letters 0",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
