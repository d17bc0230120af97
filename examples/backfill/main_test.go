package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// runMainEnv makes the test binary run the command's main instead of the
// tests, so that a test can stop a real process hard and start another.
const runMainEnv = "SFSYNC_BACKFILL_EXAMPLE_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

const testRecords = 5000

// command runs the example as its own process in dir and returns its exit
// code and output.
func command(t *testing.T, ctx context.Context, dir string, args ...string) (int, string) {
	t.Helper()
	args = append([]string{"-records", strconv.Itoa(testRecords), "-page", "500"}, args...)
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), runMainEnv+"=1")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, out.String()
	case errors.As(err, &exit):
		return exit.ExitCode(), out.String()
	}
	t.Fatalf("running the example: %v\n%s", err, out.String())
	return 0, ""
}

// number finds re's first group in out as a number.
func number(t *testing.T, out string, re string) int {
	t.Helper()
	m := regexp.MustCompile(re).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no %q in the output:\n%s", re, out)
	}
	n, err := strconv.Atoi(strings.ReplaceAll(m[1], ",", ""))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// lines counts the external system's upserts: one line each.
func lines(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Count(b, []byte("\n"))
}

// A run stopped hard half way, and a plain run after it: the second
// resumes from the stored state, reads only what the first had not
// finished, writes only what the first had not written (no record is
// written twice over both runs), and ends with both systems equal. A
// changed external system then makes the command exit non-zero.
func TestCrashHalfWayAndResume(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	ext := filepath.Join(dir, "backfill-external.jsonl")

	code, out := command(t, ctx, dir, "-crash-at", "50%")
	if code != exitCrash || !strings.Contains(out, "crash: the external system holds") {
		t.Fatalf("first run: exit %d, want %d:\n%s", code, exitCrash, out)
	}
	first := lines(t, ext)
	if first < testRecords/2 || first >= testRecords {
		t.Fatalf("after the crash the external system has %d upserts, want at least half of %d and not all", first, testRecords)
	}

	code, out = command(t, ctx, dir)
	if code != 0 {
		t.Fatalf("second run: exit %d:\n%s", code, out)
	}
	stored := number(t, out, `resumed: the backfill of Employee__c an earlier run did not finish, from its stored state: phase reading, ([\d,]+) of 5,000 records read`)
	if stored == 0 || stored > first {
		t.Errorf("resumed from %d records read; the first run wrote %d", stored, first)
	}
	read := number(t, out, `this run: read ([\d,]+) records from Salesforce`)
	if read != testRecords-stored {
		t.Errorf("the second run read %d records, want the %d after the stored %d: the scan did not continue from its job's locator", read, testRecords-stored, stored)
	}
	written := number(t, out, `this run: written ([\d,]+) records`)
	if written != testRecords-first {
		t.Errorf("the second run wrote %d records, want the %d the first had not", written, testRecords-first)
	}
	if total := lines(t, ext); total != testRecords {
		t.Errorf("the external system has %d upserts for %d records: some were written twice", total, testRecords)
	}
	if !strings.Contains(out, "equal: all 5,000 Employee__c records of the org (50 deleted) match the external system's 5,000 employees") {
		t.Fatalf("second run did not end equal:\n%s", out)
	}

	// Someone edits an employee in the external system, with a newer
	// version: the next run has nothing to backfill and finds the drift.
	b, err := os.ReadFile(ext)
	if err != nil {
		t.Fatal(err)
	}
	var line []byte
	for l := range bytes.Lines(b) {
		if bytes.Contains(l, []byte(`"name":`)) {
			line = l
			break
		}
	}
	edited := regexp.MustCompile(`"name":"[^"]*"`).ReplaceAll(line, []byte(`"name":"Someone Else"`))
	edited = regexp.MustCompile(`"Time":"2026-`).ReplaceAll(edited, []byte(`"Time":"2027-`))
	if err := os.WriteFile(ext, append(b, edited...), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out = command(t, ctx, dir)
	if code != exitDiffer || !strings.Contains(out, "finished in an earlier run") || !strings.Contains(out, `Name is "`) {
		t.Fatalf("run after the external edit: exit %d, want %d:\n%s", code, exitDiffer, out)
	}
}

func TestParseShare(t *testing.T) {
	for in, want := range map[string]float64{"": 0, "50%": 0.5, "0.25": 0.25, "100%": 1} {
		if got, err := parseShare(in); err != nil || got != want {
			t.Errorf("parseShare(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"0", "150%", "half", "-1"} {
		if _, err := parseShare(bad); err == nil {
			t.Errorf("parseShare(%q) succeeded", bad)
		}
	}
}
