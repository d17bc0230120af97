package sim

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	stdsync "sync"
	"time"
)

// Summary adds up the results of many seeds.
type Summary struct {
	Seeds      int
	Failed     []int64
	Errored    []int64
	Events     int
	Edits      int
	Faults     map[FaultKind]int
	Violations map[string]int // by invariant
	BySeed     map[string][]int64
	Duration   time.Duration
}

// Add counts one result in.
func (s *Summary) Add(r *Result) {
	if s.Faults == nil {
		s.Faults, s.Violations, s.BySeed = map[FaultKind]int{}, map[string]int{}, map[string][]int64{}
	}
	s.Seeds++
	s.Events += r.Events
	s.Edits += r.Edits
	for k, n := range r.Faults {
		s.Faults[k] += n
	}
	seen := map[string]bool{}
	for _, v := range r.Violations {
		s.Violations[v.Invariant]++
		if !seen[v.Invariant] {
			seen[v.Invariant] = true
			s.BySeed[v.Invariant] = append(s.BySeed[v.Invariant], r.Seed)
		}
	}
	if r.Err != nil {
		s.Errored = append(s.Errored, r.Seed)
	}
	if r.Failed() {
		s.Failed = append(s.Failed, r.Seed)
	}
}

// Print writes the summary table.
func (s *Summary) Print(w io.Writer) {
	slices.Sort(s.Failed)
	fmt.Fprintf(w, "seeds run        %d (%d failed, %d could not run) in %s\n", s.Seeds, len(s.Failed), len(s.Errored), s.Duration.Round(time.Millisecond))
	fmt.Fprintf(w, "events delivered %d\n", s.Events)
	fmt.Fprintf(w, "edits            %d\n", s.Edits)
	fmt.Fprintf(w, "faults by kind:\n")
	for _, k := range sortedKeys(s.Faults) {
		fmt.Fprintf(w, "  %-22s %d\n", k, s.Faults[k])
	}
	fmt.Fprintf(w, "violations by invariant (count, seeds):\n")
	for _, inv := range Invariants {
		seeds := s.BySeed[inv]
		slices.Sort(seeds)
		fmt.Fprintf(w, "  %-22s %-5d %s\n", inv, s.Violations[inv], seedList(seeds, 20))
	}
}

func seedList(seeds []int64, max int) string {
	var parts []string
	for i, s := range seeds {
		if i == max {
			parts = append(parts, fmt.Sprintf("... (%d more)", len(seeds)-max))
			break
		}
		parts = append(parts, strconv.FormatInt(s, 10))
	}
	return strings.Join(parts, " ")
}

// Campaign runs seeds on parallel workers, calling done with each result
// as it finishes (from one goroutine at a time).
func Campaign(ctx context.Context, seeds []int64, parallel int, opt Options, done func(*Result)) *Summary {
	began := time.Now()
	parallel = max(1, parallel)
	work := make(chan int64)
	var mu stdsync.Mutex
	sum := &Summary{}
	var wg stdsync.WaitGroup
	for range parallel {
		wg.Go(func() {
			for seed := range work {
				res := Run(ctx, seed, opt)
				mu.Lock()
				sum.Add(res)
				if done != nil {
					done(res)
				}
				mu.Unlock()
			}
		})
	}
	for _, s := range seeds {
		if ctx.Err() != nil {
			break
		}
		work <- s
	}
	close(work)
	wg.Wait()
	sum.Duration = time.Since(began)
	return sum
}

// ParseSeeds reads "7", "1-100" or "1,5,9-12".
func ParseSeeds(spec string) ([]int64, error) {
	var out []int64
	for _, part := range strings.Split(spec, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
		a, err := strconv.ParseInt(lo, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("seed %q: %w", part, err)
		}
		b := a
		if isRange {
			if b, err = strconv.ParseInt(hi, 10, 64); err != nil || b < a {
				return nil, fmt.Errorf("seed range %q: want lo-hi with lo <= hi", part)
			}
		}
		for s := a; s <= b; s++ {
			out = append(out, s)
		}
	}
	return out, nil
}
