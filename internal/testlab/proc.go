package testlab

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Line is one line of a program's output and when it arrived.
type Line struct {
	Time time.Time     // when the line was read
	At   time.Duration // since the program started (a VM: since power-on)
	Text string
}

// Proc is a program started by StartProc, its output read line by line.
type Proc struct {
	Name    string
	Started time.Time
	Cmd     *exec.Cmd

	onLine func(Line)
	mu     sync.Mutex
	lines  []Line
	notify chan struct{}
	done   chan struct{}
	err    error
}

// ansi matches terminal escapes and carriage returns (firmware and iPXE
// draw on the console).
var ansi = regexp.MustCompile(`\x1b\[[0-9;?=]*[A-Za-z]|\x1b[c()][0-9A-Za-z]?|\r`)

// StartProc runs cmd with stdout and stderr read line by line (escapes
// removed); onLine, if not nil, is called for each line in order, from
// one goroutine.
func StartProc(name string, cmd *exec.Cmd, onLine func(Line)) (*Proc, error) {
	p := &Proc{Name: name, Cmd: cmd, onLine: onLine, notify: make(chan struct{}), done: make(chan struct{})}
	r, w := io.Pipe()
	cmd.Stdout, cmd.Stderr = w, w
	p.Started = time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("testlab: start %s: %w", name, err)
	}
	go func() {
		err := cmd.Wait()
		w.Close()
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
	}()
	go p.read(r)
	return p, nil
}

func (p *Proc) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		now := time.Now()
		l := Line{Time: now, At: now.Sub(p.Started), Text: ansi.ReplaceAllString(sc.Text(), "")}
		if p.onLine != nil {
			p.onLine(l)
		}
		p.mu.Lock()
		p.lines = append(p.lines, l)
		close(p.notify)
		p.notify = make(chan struct{})
		p.mu.Unlock()
	}
	io.Copy(io.Discard, r)
	close(p.done)
}

// ErrExited is returned by WaitFor when the program exits first.
var ErrExited = errors.New("testlab: program exited")

// ErrTimeout is returned by WaitFor when no line matched in time.
var ErrTimeout = errors.New("testlab: timed out")

// WaitFor waits until a line at index from or later matches re and
// returns it with its index. It fails with ErrExited when the program
// ends first, and with ErrTimeout after timeout or when ctx ends.
func (p *Proc) WaitFor(ctx context.Context, from int, re *regexp.Regexp, timeout time.Duration) (Line, int, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		p.mu.Lock()
		for i := from; i < len(p.lines); i++ {
			if re.MatchString(p.lines[i].Text) {
				l := p.lines[i]
				p.mu.Unlock()
				return l, i, nil
			}
		}
		from = len(p.lines)
		ch := p.notify
		p.mu.Unlock()
		select {
		case <-ch:
		case <-p.done:
			// Lines read before the end are in; look once more.
			p.mu.Lock()
			n := len(p.lines)
			p.mu.Unlock()
			if n == from {
				return Line{}, from, fmt.Errorf("%w (%s) before a line matching %q", ErrExited, p.Name, re)
			}
		case <-ctx.Done():
			return Line{}, from, fmt.Errorf("%w: %s: no line matching %q within %v", ErrTimeout, p.Name, re, timeout)
		}
	}
}

// Lines returns a copy of the output so far.
func (p *Proc) Lines() []Line {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Line(nil), p.lines...)
}

// Output returns the output so far as text, one line per line.
func (p *Proc) Output() string {
	var b strings.Builder
	for _, l := range p.Lines() {
		b.WriteString(l.Text)
		b.WriteByte('\n')
	}
	return b.String()
}

// Done is closed when the program has exited and its output is read.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Err is the program's exit error, once Done is closed.
func (p *Proc) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// Stop sends SIGTERM, waits up to 5 s, then kills.
func (p *Proc) Stop() {
	select {
	case <-p.done:
		return
	default:
	}
	p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		p.Kill()
	}
}

// Kill sends SIGKILL and waits up to 10 s for the end.
func (p *Proc) Kill() {
	select {
	case <-p.done:
		return
	default:
	}
	p.Cmd.Process.Kill()
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
	}
}
