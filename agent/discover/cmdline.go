package discover

import (
	"fmt"
	"io"
	"os"
	"strings"
)

// MaxCmdline bounds how much of a kernel command line file is read. The
// kernel's own limit (COMMAND_LINE_SIZE) is 2048 to 4096 bytes on the
// architectures we boot.
const MaxCmdline = 64 << 10

// Cmdline is a parsed kernel command line: parameter name to value. A
// parameter given without "=" has the value "". When a name repeats, the
// last occurrence wins, as for the kernel's own parameters.
type Cmdline map[string]string

// Kernel command line parameters the agent reads.
const (
	ParamRazorServer  = "razor.server"
	ParamRazorIP      = "razor.ip"
	ParamHanlonServer = "hanlon.server"
	ParamHanlonIP     = "hanlon.ip"
	// ParamToken carries the per-boot node token the server put on the
	// microkernel's command line.
	ParamToken = "razor.token"
	// ParamCASHA256 pins the server's CA: the lower-case hex SHA-256 of
	// its DER certificate. With it the agent speaks HTTPS only.
	ParamCASHA256 = "razor.ca_sha256"
	// ParamCheckinSkew is the server's mk_checkin_skew, so that the first
	// checkin after boot, made before any client_config has arrived,
	// already honours the operator's setting.
	ParamCheckinSkew = "razor.checkin_skew"
)

// ParseCmdline splits a kernel command line the way the kernel's
// next_arg() does: parameters are separated by white space, double quotes
// group white space into one parameter and are removed, and the first "="
// separates name from value. It never fails; malformed quoting simply runs
// to the end of the line.
func ParseCmdline(s string) Cmdline {
	out := Cmdline{}
	var tok strings.Builder
	inQuote, have := false, false
	flush := func() {
		if !have {
			return
		}
		t := tok.String()
		name, val, _ := strings.Cut(t, "=")
		if name != "" {
			out[name] = val
		}
		tok.Reset()
		have = false
	}
	for _, r := range s {
		switch {
		case r == '"':
			inQuote = !inQuote
			have = true
		case !inQuote && (r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '\v' || r == '\f'):
			flush()
		case r == 0:
			// /proc/cmdline of PID 1 style NUL separators: treat as space.
			flush()
		default:
			tok.WriteRune(r)
			have = true
		}
	}
	flush()
	return out
}

// ReadCmdline reads and parses the kernel command line file at path
// (normally /proc/cmdline), reading at most MaxCmdline bytes.
func ReadCmdline(path string) (Cmdline, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("discover: kernel command line: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxCmdline))
	if err != nil {
		return nil, fmt.Errorf("discover: kernel command line %s: %w", path, err)
	}
	return ParseCmdline(string(data)), nil
}
