//go:build dev

package devssh

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/sys/unix"
)

// ptyRequest is RFC 4254 §6.2's "pty-req" payload.
type ptyRequest struct {
	Term          string
	Cols, Rows    uint32
	Width, Height uint32
	Modes         string
}

// windowChange is RFC 4254 §6.7's "window-change" payload.
type windowChange struct {
	Cols, Rows    uint32
	Width, Height uint32
}

type execRequest struct{ Command string }

// session serves one session channel: optional pty-req and env, then one
// shell or exec request; it reports the exit status (RFC 4254 §6.10).
func (s *Server) session(ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer ch.Close()
	var pty *ptyRequest
	var ptm *os.File
	env := s.Env
	if env == nil {
		env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root", "USER=root", "LOGNAME=root", "SHELL=" + cmpOr(s.Shell, DefaultShell)}
	}
	env = append([]string(nil), env...)
	done := make(chan int, 1)
	started := false
	pid := 0
	var outDone <-chan struct{}
	for {
		var req *ssh.Request
		var ok bool
		select {
		case req, ok = <-reqs:
		case code := <-done:
			if outDone != nil {
				// Drain what the program wrote before it exited; a
				// background process still holding the terminal must not
				// keep the session open.
				select {
				case <-outDone:
				case <-time.After(time.Second):
				}
			}
			sendExit(ch, code)
			if ptm != nil {
				ptm.Close()
			}
			go ssh.DiscardRequests(reqs)
			return
		}
		if !ok {
			// The client went away (or the server is stopping): hang up
			// the session's processes rather than wait for them.
			if ptm != nil {
				ptm.Close()
			}
			if started {
				hangUp(pid, done)
			}
			return
		}
		switch req.Type {
		case "pty-req":
			var p ptyRequest
			if started || pty != nil || ssh.Unmarshal(req.Payload, &p) != nil {
				req.Reply(false, nil)
				continue
			}
			pty = &p
			req.Reply(true, nil)
		case "window-change":
			var w windowChange
			if ptm != nil && ssh.Unmarshal(req.Payload, &w) == nil {
				setWinsize(ptm, w.Cols, w.Rows)
			}
			if req.WantReply {
				req.Reply(ptm != nil, nil)
			}
		case "env":
			var kv struct{ Name, Value string }
			if !started && ssh.Unmarshal(req.Payload, &kv) == nil && (kv.Name == "LANG" || kv.Name == "TERM" || len(kv.Name) > 3 && kv.Name[:3] == "LC_") {
				env = append(env, kv.Name+"="+kv.Value)
				req.Reply(true, nil)
				continue
			}
			req.Reply(false, nil)
		case "shell", "exec":
			if started {
				req.Reply(false, nil)
				continue
			}
			args := []string{cmpOr(s.Shell, DefaultShell)}
			if req.Type == "exec" {
				var e execRequest
				if ssh.Unmarshal(req.Payload, &e) != nil {
					req.Reply(false, nil)
					continue
				}
				args = append(args, "-c", e.Command)
			} else {
				args = append(args, "-l")
			}
			cmd := exec.Command(args[0], args[1:]...)
			cmd.Env = env
			// A background job that keeps the output open must not hold
			// the session after the command itself has exited.
			cmd.WaitDelay = time.Second
			cmd.Dir = "/"
			if home := os.Getenv("HOME"); home != "" {
				cmd.Dir = home
			}
			if _, err := os.Stat("/root"); err == nil {
				cmd.Dir = "/root"
			}
			var err error
			if pty != nil {
				cmd.Env = append(cmd.Env, "TERM="+pty.Term)
				ptm, outDone, err = startWithPTY(cmd, pty, ch)
			} else {
				err = startWithPipes(cmd, ch)
			}
			if err != nil {
				s.log().Warn("ssh session", "err", err)
				req.Reply(false, nil)
				continue
			}
			started = true
			req.Reply(true, nil)
			s.log().Info("ssh session", "type", req.Type, "pid", cmd.Process.Pid)
			pid = cmd.Process.Pid
			go func() { done <- waitStatus(cmd, cmd.Wait()) }()
		default:
			if req.WantReply {
				req.Reply(false, nil)
			}
		}
	}
}

func sendExit(ch ssh.Channel, code int) {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], uint32(code))
	ch.SendRequest("exit-status", false, b[:])
	ch.CloseWrite()
}

// waitStatus is the exit status to report for cmd after Wait returned
// err: the exit code, or 128 + the signal number.
func waitStatus(cmd *exec.Cmd, err error) int {
	ps := cmd.ProcessState
	if ps == nil {
		return 255
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	if code := ps.ExitCode(); code >= 0 {
		return code
	}
	return 255
}

// hangUp sends SIGHUP to the session's process group, then SIGKILL if it
// has not exited within 2s, and waits for it.
func hangUp(pid int, done <-chan int) {
	syscall.Kill(-pid, syscall.SIGHUP)
	select {
	case <-done:
		return
	case <-time.After(2 * time.Second):
	}
	syscall.Kill(-pid, syscall.SIGKILL)
	<-done
}

// startWithPipes runs cmd with the channel as stdin and stdout and the
// channel's extended data as stderr. cmd.Wait waits for the copies.
func startWithPipes(cmd *exec.Cmd, ch ssh.Channel) error {
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	cmd.Stdout = ch
	cmd.Stderr = ch.Stderr()
	// Its own session and process group, so that hanging up reaches the
	// command's children too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	go func() {
		io.Copy(stdin, ch)
		stdin.Close()
	}()
	return nil
}

// startWithPTY runs cmd as a session leader with a new pseudo-terminal as
// its controlling terminal, and copies between the channel and the PTY.
func startWithPTY(cmd *exec.Cmd, p *ptyRequest, ch ssh.Channel) (*os.File, <-chan struct{}, error) {
	ptm, pts, err := openPTY()
	if err != nil {
		return nil, nil, err
	}
	defer pts.Close()
	setWinsize(ptm, p.Cols, p.Rows)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = pts, pts, pts
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		ptm.Close()
		return nil, nil, err
	}
	outDone := make(chan struct{})
	go func() {
		io.Copy(ch, ptm) // ends with EIO once the last slave fd closes
		close(outDone)
	}()
	go io.Copy(ptm, ch)
	return ptm, outDone, nil
}

// openPTY opens a new pseudo-terminal pair through /dev/ptmx.
func openPTY() (ptm, pts *os.File, err error) {
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("devssh: %w", err)
	}
	fd := int(m.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		m.Close()
		return nil, nil, fmt.Errorf("devssh: unlocking pty: %w", err)
	}
	n, err := unix.IoctlGetUint32(fd, unix.TIOCGPTN)
	if err != nil {
		m.Close()
		return nil, nil, fmt.Errorf("devssh: pty number: %w", err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		m.Close()
		return nil, nil, fmt.Errorf("devssh: %w", err)
	}
	return m, s, nil
}

func setWinsize(f *os.File, cols, rows uint32) {
	if cols == 0 || rows == 0 || cols > 10000 || rows > 10000 {
		return
	}
	unix.IoctlSetWinsize(int(f.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: uint16(rows), Col: uint16(cols)})
}
