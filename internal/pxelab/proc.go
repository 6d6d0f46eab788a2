package pxelab

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"regexp"
	"sync"
	"syscall"
	"time"
)

// Line is one line of a program's output and when it arrived.
type Line struct {
	At   time.Time
	Text string
}

// Proc is a program started by Start, its output read line by line.
type Proc struct {
	Name    string
	Started time.Time

	cmd    *exec.Cmd
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

// Start runs cmd with stdout and stderr read line by line (escapes
// removed); onLine, if not nil, is called for each line in order, from
// one goroutine.
func Start(name string, cmd *exec.Cmd, onLine func(Line)) (*Proc, error) {
	p := &Proc{Name: name, cmd: cmd, onLine: onLine, notify: make(chan struct{}), done: make(chan struct{})}
	r, w := io.Pipe()
	cmd.Stdout, cmd.Stderr = w, w
	p.Started = time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("pxelab: start %s: %w", name, err)
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
		l := Line{At: time.Now(), Text: ansi.ReplaceAllString(sc.Text(), "")}
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
var ErrExited = errors.New("pxelab: program exited")

// ErrTimeout is returned by WaitFor when no line matched in time.
var ErrTimeout = errors.New("pxelab: timed out")

// WaitFor waits until a line at index from or later matches re and
// returns it with its index.
func (p *Proc) WaitFor(from int, re *regexp.Regexp, timeout time.Duration) (Line, int, error) {
	deadline := time.After(timeout)
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
		case <-deadline:
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
	p.cmd.Process.Signal(syscall.SIGTERM)
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
	p.cmd.Process.Kill()
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
	}
}
