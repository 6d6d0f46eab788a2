package initsys

import (
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Uptime returns the time since boot (CLOCK_BOOTTIME), the clock the
// kernel's own log lines are stamped with.
func Uptime() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}

// stampWriter prefixes every line written with the uptime in the
// kernel's "[    1.234567] " format, so that init's lines interleave
// readably with the kernel's on the console.
type stampWriter struct {
	mu     sync.Mutex
	w      io.Writer
	uptime func() time.Duration
}

func (s *stampWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	up := s.uptime()
	stamp := fmt.Sprintf("[%5d.%06d] init: ", up/time.Second, (up%time.Second)/time.Microsecond)
	buf := make([]byte, 0, len(p)+len(stamp))
	start := true
	for _, c := range p {
		if start {
			buf = append(buf, stamp...)
			start = false
		}
		buf = append(buf, c)
		if c == '\n' {
			start = true
		}
	}
	if _, err := s.w.Write(buf); err != nil {
		return 0, err
	}
	return len(p), nil
}

// NewLogger returns a text logger writing to w with each line stamped
// with the uptime (and no wall-clock time: the RTC is often wrong on a
// node that has just powered on).
func NewLogger(w io.Writer, level slog.Leveler) *slog.Logger {
	return newLogger(w, level, Uptime)
}

func newLogger(w io.Writer, level slog.Leveler, uptime func() time.Duration) *slog.Logger {
	return slog.New(slog.NewTextHandler(&stampWriter{w: w, uptime: uptime}, &slog.HandlerOptions{
		Level: level,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
}
