package main

import (
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// usage is what the consumer process spent between two snapshots.
type usage struct {
	wall    time.Duration
	cpu     time.Duration // user + system of this process only
	mallocs uint64
	bytes   uint64
}

type snapshot struct {
	at      time.Time
	cpu     time.Duration
	mallocs uint64
	bytes   uint64
}

func snap() snapshot {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return snapshot{at: time.Now(), cpu: time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), mallocs: ms.Mallocs, bytes: ms.TotalAlloc}
}

func since(s snapshot) usage {
	e := snap()
	return usage{wall: e.at.Sub(s.at), cpu: e.cpu - s.cpu, mallocs: e.mallocs - s.mallocs, bytes: e.bytes - s.bytes}
}

// rssMiB returns this process's resident set and its peak, from /proc.
func rssMiB() (cur, peak float64) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		kb, _ := strconv.ParseFloat(f[0], 64)
		switch k {
		case "VmRSS":
			cur = kb / 1024
		case "VmHWM":
			peak = kb / 1024
		}
	}
	return cur, peak
}

// percentile returns the p-th percentile (0..100) of ds, sorting ds.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	i := int(float64(len(ds)-1) * p / 100)
	return ds[i]
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

// memParts splits this process's resident memory: what the Go runtime
// holds from the OS (heap objects, garbage not yet collected, free spans
// not yet returned, stacks, its metadata), the other anonymous memory
// (chiefly modernc.org/sqlite's C allocator, which maps its own memory
// outside the Go heap: page caches, statements, schema), and file mappings
// (the binary, and SQLite's WAL index, the -shm file).
type memParts struct {
	goHeld, other, files float64 // MiB resident
	liveHeap             float64 // MiB the last GC found live
}

func memBreakdown() memParts {
	p := memParts{liveHeap: liveHeapMiB(), goHeld: goMappedMiB()}
	b, err := os.ReadFile("/proc/self/smaps_rollup")
	if err != nil {
		return p
	}
	var rss, anon float64
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "Rss:":
			rss = kb / 1024
		case "Anonymous:":
			anon = kb / 1024
		}
	}
	p.files = rss - anon
	// The runtime's count includes pages it mapped and never touched, so
	// the difference errs towards the Go side.
	p.other = max(0, anon-p.goHeld)
	return p
}
