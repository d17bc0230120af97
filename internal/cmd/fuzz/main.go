// Command fuzz runs every fuzz target of the module for a given time each,
// one after the other, with a cap on the memory of each fuzzing process,
// and prints what each found.
//
//	go run ./internal/cmd/fuzz -time 5m
//
// Each target runs as `go test -run=^$ -fuzz=^Target$ -fuzztime=T
// -parallel=P ./pkg`; a failing input is written by the fuzzer to the
// package's testdata/fuzz/Target directory, where `go test` then runs it
// as a regression case (CI runs every target's corpus as a normal test).
// The cap is an address-space limit set with prlimit(1) when the machine
// has it, so a decoder that tries to allocate far beyond its input fails
// the target instead of exhausting the machine, and GOMEMLIMIT otherwise.
// The command exits non-zero when a target fails.
package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"regexp"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

type target struct{ pkg, name string }

type result struct {
	target
	ok      bool
	elapsed time.Duration
	last    string // the fuzzer's last progress line
	failure string // where the failing input went, or why the run failed
}

func main() {
	every := flag.Duration("time", 5*time.Minute, "fuzzing time per target")
	memFlag := flag.String("mem", "2GiB", "address-space cap of each fuzzing process (prlimit --as), or GOMEMLIMIT without prlimit: bytes, or with KiB, MiB or GiB")
	match := flag.String("run", "", "only targets whose package/name matches this regular expression")
	parallel := flag.Int("parallel", 1, "fuzzing workers per target")
	flag.Parse()
	mem, err := parseSize(*memFlag)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fuzz: -mem:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	targets, err := list(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fuzz:", err)
		os.Exit(1)
	}
	if *match != "" {
		re, err := regexp.Compile(*match)
		if err != nil {
			fmt.Fprintln(os.Stderr, "fuzz: -run:", err)
			os.Exit(2)
		}
		var keep []target
		for _, t := range targets {
			if re.MatchString(t.pkg + "/" + t.name) {
				keep = append(keep, t)
			}
		}
		targets = keep
	}
	prlimit, _ := exec.LookPath("prlimit")
	fmt.Printf("fuzz: %d targets, %s each, %d worker(s), memory cap %s (%s)\n", len(targets), *every, *parallel, *memFlag,
		map[bool]string{true: "prlimit --as", false: "GOMEMLIMIT"}[prlimit != ""])
	var results []result
	failed := false
	for _, t := range targets {
		r := run(ctx, t, *every, mem, *parallel, prlimit)
		results = append(results, r)
		failed = failed || !r.ok
		fmt.Printf("%s %s: %s\n", t.pkg, t.name, map[bool]string{true: "clean", false: "FAILED"}[r.ok])
		if ctx.Err() != nil {
			break
		}
	}
	w := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(w, "\npackage\ttarget\tresult\ttime\tlast progress")
	for _, r := range results {
		res := "clean"
		if !r.ok {
			res = "FAILED: " + r.failure
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", r.pkg, r.name, res, r.elapsed.Round(time.Second), r.last)
	}
	w.Flush()
	if failed {
		os.Exit(1)
	}
}

// list finds the fuzz targets of every package.
func list(ctx context.Context) ([]target, error) {
	out, err := exec.CommandContext(ctx, "go", "test", "-list", "^Fuzz", "./...").Output()
	if err != nil {
		return nil, fmt.Errorf("listing fuzz targets (go test -list): %w", err)
	}
	var targets []target
	var pending []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "Fuzz"):
			pending = append(pending, strings.TrimSpace(line))
		case strings.HasPrefix(line, "ok"):
			// "ok  \tpkg\t0.01s" closes the package the names above belong to.
			if f := strings.Fields(line); len(f) >= 2 {
				for _, name := range pending {
					targets = append(targets, target{pkg: f[1], name: name})
				}
			}
			pending = nil
		}
	}
	return targets, sc.Err()
}

var failingInput = regexp.MustCompile(`testdata/fuzz/\S+`)

func run(ctx context.Context, t target, every time.Duration, mem int64, parallel int, prlimit string) result {
	args := []string{"go", "test", "-run=^$", "-fuzz=^" + t.name + "$", fmt.Sprintf("-fuzztime=%s", every),
		fmt.Sprintf("-parallel=%d", parallel), t.pkg}
	env := os.Environ()
	if prlimit != "" {
		args = append([]string{prlimit, fmt.Sprintf("--as=%d", mem)}, args...)
	} else {
		env = append(env, fmt.Sprintf("GOMEMLIMIT=%d", mem))
	}
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Env = env
	start := time.Now()
	out, err := cmd.CombinedOutput()
	r := result{target: t, ok: err == nil, elapsed: time.Since(start)}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, "fuzz: elapsed") {
			r.last = strings.TrimPrefix(line, "fuzz: ")
		}
	}
	if !r.ok {
		r.failure = err.Error()
		if m := failingInput.FindString(string(out)); m != "" {
			r.failure = "input saved in " + m
		}
		os.Stdout.Write(tail(out, 40))
	}
	return r
}

func tail(b []byte, lines int) []byte {
	parts := bytes.Split(b, []byte("\n"))
	if len(parts) > lines {
		parts = parts[len(parts)-lines:]
	}
	return bytes.Join(parts, []byte("\n"))
}

// parseSize reads a byte count: digits, optionally followed by KiB, MiB
// or GiB.
func parseSize(s string) (int64, error) {
	mult := int64(1)
	for suffix, m := range map[string]int64{"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30} {
		if strings.HasSuffix(s, suffix) {
			s, mult = strings.TrimSuffix(s, suffix), m
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%q is not a size (bytes, or a number with KiB, MiB or GiB)", s)
	}
	return n * mult, nil
}
