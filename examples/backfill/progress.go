package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	stdsync "sync"
	"time"

	"github.com/sfsync/sfsync/sync"
)

// isTerminal reports whether w is a character device: a terminal, where
// the example draws a progress bar in place; elsewhere (a pipe, a file,
// CI) it prints one line per step.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// display shows the backfill's progress as the engine reports it.
type display struct {
	out io.Writer
	bar bool

	mu      stdsync.Mutex
	last    sync.BackfillProgress
	seen    bool
	printed int  // tenths of the total last printed, plain output
	drawn   bool // a bar is on the current line
	phase   string
	// onFirst says, in a line, what the first report of the run means.
	onFirst func(sync.BackfillProgress) string
	// held, when set, is the number of records the external system holds:
	// the bar shows it between reports, which come once a page.
	held func() int
}

// update takes one report. The first report of a run is the state the
// engine found stored: the run's starting point.
func (d *display) update(p sync.BackfillProgress) {
	d.mu.Lock()
	defer d.mu.Unlock()
	first := !d.seen
	d.seen, d.last = true, p
	if first && d.onFirst != nil {
		d.newlineLocked()
		fmt.Fprintln(d.out, d.onFirst(p))
	}
	if d.bar {
		d.drawLocked()
		if p.Phase != d.phase && (p.Phase == sync.PhaseDone || p.Err != nil) {
			d.newlineLocked()
		}
		d.phase = p.Phase
		return
	}
	tenth := 0
	if p.Total > 0 {
		tenth = int(10 * p.Read / p.Total)
	}
	if p.Phase != d.phase || tenth > d.printed || p.Err != nil {
		d.phase, d.printed = p.Phase, tenth
		fmt.Fprintln(d.out, progressLine(p))
	}
}

// printf prints a line of its own, below the bar.
func (d *display) printf(format string, args ...any) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.newlineLocked()
	fmt.Fprintf(d.out, format, args...)
}

// tick redraws the bar so that the rate and time left stay current between
// pages.
func (d *display) tick() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.bar && d.seen && d.phase != sync.PhaseDone {
		d.drawLocked()
	}
}

func (d *display) newlineLocked() {
	if d.drawn {
		fmt.Fprintln(d.out)
		d.drawn = false
	}
}

func (d *display) drawLocked() {
	const width = 30
	p := d.last
	filled := 0
	if p.Total > 0 {
		filled = int(width * min(p.Read, p.Total) / p.Total)
	}
	line := progressLine(p)
	if d.held != nil && p.Phase == sync.PhaseReading {
		line += fmt.Sprintf("; external system holds %s", thousands(int64(d.held())))
	}
	fmt.Fprintf(d.out, "\r\033[K[%s%s] %s", strings.Repeat("#", filled), strings.Repeat(".", width-filled), line)
	d.drawn = true
}

// progressLine says where a backfill stands, in words.
func progressLine(p sync.BackfillProgress) string {
	var b strings.Builder
	fmt.Fprintf(&b, "backfill %s: %s", p.Object, p.Phase)
	switch {
	case p.Total > 0:
		fmt.Fprintf(&b, ", %s of %s records read (%d%%)", thousands(p.Read), thousands(p.Total), 100*p.Read/p.Total)
	case p.Read > 0:
		fmt.Fprintf(&b, ", %s records read", thousands(p.Read))
	}
	if p.Rate > 0 && p.Phase == sync.PhaseReading {
		fmt.Fprintf(&b, ", %s records/s", thousands(int64(p.Rate)))
	}
	if left := p.Left.Round(time.Second); left > 0 {
		fmt.Fprintf(&b, ", about %s left", left)
	}
	if p.Err != nil {
		fmt.Fprintf(&b, "; failed, runs again: %v", p.Err)
	}
	return b.String()
}

// thousands formats n with thousands separators.
func thousands(n int64) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return s
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
