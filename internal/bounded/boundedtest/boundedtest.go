// Package boundedtest asserts in tests and fuzz targets that decoding an
// input allocates at most a small multiple of its size.
package boundedtest

import (
	"runtime"
	"testing"
)

// Allocated returns the bytes and the number of heap objects f allocates,
// measured over one call after a warm-up call (so caches filled on first
// use are not counted). Other goroutines' allocations in the same window
// count too: bounds checked with it must leave room for them.
func Allocated(f func()) (bytes, objects uint64) {
	f()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc, after.Mallocs - before.Mallocs
}

// Bound is an allocation bound: PerByte times the input's size plus Fixed,
// in bytes, and in objects the input's size plus FixedObjects.
type Bound struct {
	PerByte      uint64
	Fixed        uint64
	FixedObjects uint64
}

// Check fails t when decode, decoding an input of n bytes, allocates more
// than b allows, in bytes (runtime.MemStats) or in heap objects
// (testing.AllocsPerRun).
func Check(t testing.TB, b Bound, n int, decode func()) {
	t.Helper()
	limit := b.PerByte*uint64(n) + b.Fixed
	if bytes, _ := Allocated(decode); bytes > limit {
		t.Fatalf("decoding %d bytes allocated %d bytes, more than the bound %d×%d+%d = %d", n, bytes, b.PerByte, n, b.Fixed, limit)
	}
	objects := uint64(n) + b.FixedObjects
	if got := testing.AllocsPerRun(1, decode); got > float64(objects) {
		t.Fatalf("decoding %d bytes made %.0f allocations, more than the bound %d+%d", n, got, n, b.FixedObjects)
	}
}
