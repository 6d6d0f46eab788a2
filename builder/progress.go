package builder

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/razor-mk/razor-mk/builder/base"
)

// Progress shows a build's steps and bytes: on a terminal one live line
// per step (redrawn at most ten times a second), elsewhere (CI logs) plain
// lines, one when a step starts and one with its size and time when it
// ends.
type Progress struct {
	mu        sync.Mutex
	w         io.Writer
	tty       bool
	n         int
	step      string
	start     time.Time
	done      int64
	total     int64
	lastDraw  time.Time
	sawBytes  bool
	finalized bool
}

var _ base.Progress = (*Progress)(nil)

// NewProgress returns a Progress writing to w, live when w is a terminal.
func NewProgress(w io.Writer) *Progress {
	tty := false
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			tty = true
		}
	}
	return &Progress{w: w, tty: tty}
}

// Step ends the current step and starts the next.
func (p *Progress) Step(name string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.end()
	p.n++
	p.step, p.start, p.done, p.total, p.sawBytes = name, time.Now(), 0, 0, false
	if p.tty {
		p.draw()
	} else {
		fmt.Fprintf(p.w, "[%d] %s\n", p.n, name)
	}
}

// Bytes reports progress within the current step.
func (p *Progress) Bytes(done, total int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done, p.total, p.sawBytes = done, total, true
	if p.tty && time.Since(p.lastDraw) >= 100*time.Millisecond {
		p.draw()
	}
}

// Finish ends the last step.
func (p *Progress) Finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.end()
	p.step = ""
}

func (p *Progress) end() {
	if p.step == "" {
		return
	}
	el := time.Since(p.start).Round(10 * time.Millisecond)
	if p.tty {
		p.draw()
		fmt.Fprintf(p.w, " (%s)\n", el)
		return
	}
	if p.sawBytes {
		fmt.Fprintf(p.w, "[%d] %s: %s in %s\n", p.n, p.step, Size(p.done), el)
	}
}

func (p *Progress) draw() {
	p.lastDraw = time.Now()
	line := fmt.Sprintf("[%d] %s", p.n, p.step)
	if p.sawBytes {
		if p.total > 0 {
			line += fmt.Sprintf("  %s / %s", Size(p.done), Size(p.total))
		} else {
			line += "  " + Size(p.done)
		}
	}
	fmt.Fprintf(p.w, "\r\x1b[K%s", line)
}

// Size formats a byte count for people: 812 B, 70.6 MB.
func Size(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.2f GB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1f kB", float64(n)/1e3)
	}
	return fmt.Sprintf("%d B", n)
}
