// Package local holds the microkernel's two local HTTP services, as the
// original microkernel ran them beside its controller:
//
//   - the web server (127.0.0.1:2156): POST /setMkConfig saves a
//     configuration and restarts the controller, replying as the original
//     WEBrick servlet did; GET /status reports the controller's state as
//     JSON;
//   - the TCE mirror (127.0.0.1:2157): the image's Tiny Core extension
//     mirror directory under /tinycorelinux/<major>.x/<build>/tcz/, and the
//     tce-install-list and kmod-install-list as JSON arrays.
//
// Both bind to loopback by default and read bounded requests.
package local

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/razor-mk/razor-mk/wire"
)

// Errors of this package; callers use errors.Is.
var (
	// ErrBadBody means a /setMkConfig body is neither JSON nor the
	// original's form-escaped JSON, or is not a JSON object.
	ErrBadBody = errors.New("local: bad configuration body")
)

// MaxConfigBody bounds a /setMkConfig request body.
const MaxConfigBody = 64 << 10

// Replies of the original web server (rz_mk_web_server.rb), kept verbatim
// so that tools written against it keep working.
const (
	ReplyRestarted = "New configuration saved, Microkernel Controller restarted"
	ReplyUnchanged = "Configuration unchanged; no update"
)

// ConfigStore is what the web server needs of the controller;
// *controller.Controller satisfies it.
type ConfigStore interface {
	// Config returns the running configuration.
	Config() wire.ClientConfig
	// SetConfig validates cfg, and when it differs from the running one
	// (ignoring derived keys) saves it and restarts the controller.
	SetConfig(cfg wire.ClientConfig) (changed bool, err error)
}

// WebOptions configure the web server's handler.
type WebOptions struct {
	// Config receives /setMkConfig; required.
	Config ConfigStore
	// Status returns what GET /status encodes as JSON; nil serves the
	// running configuration only.
	Status func() any
	// Logger receives a line per request that changes something or
	// fails; nil discards.
	Logger *slog.Logger
}

// NewWebHandler returns the handler of the local web server.
func NewWebHandler(opts WebOptions) http.Handler {
	log := opts.Logger
	if log == nil {
		log = discard
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /setMkConfig", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxConfigBody))
		if err != nil {
			writeJSON(w, http.StatusRequestEntityTooLarge, map[string]string{"error": fmt.Sprintf("body larger than %d bytes", MaxConfigBody)})
			return
		}
		cfg, received, err := ParseSetMkConfig(body, opts.Config.Config())
		if err != nil {
			log.Warn("setMkConfig refused", "remote", r.RemoteAddr, "err", err)
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		changed, err := opts.Config.SetConfig(cfg)
		if err != nil {
			log.Warn("setMkConfig refused", "remote", r.RemoteAddr, "err", err)
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		if !changed {
			writeJSON(w, http.StatusOK, struct {
				Received json.RawMessage `json:"json_received"`
				Message  string          `json:"message"`
			}{received, ReplyUnchanged})
			return
		}
		log.Info("new configuration from setMkConfig", "remote", r.RemoteAddr)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, ReplyRestarted)
	})
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		var st any
		if opts.Status != nil {
			st = opts.Status()
		} else {
			st = map[string]any{"config": opts.Config.Config()}
		}
		writeJSON(w, http.StatusOK, st)
	})
	return mux
}

// ParseSetMkConfig decodes a /setMkConfig body onto base (the running
// configuration), so that a body naming only some keys changes only
// those, as Hanlon's agent merged them. The body is raw JSON (Hanlon, and
// ours), or the original Razor agent's form post: the CGI-escaped JSON
// text as the form's only key, with an empty value (a trailing "=").
// Unknown keys are ignored. It returns the decoded configuration, the JSON
// object as received, and an error naming what is wrong; it does not
// validate the values (SetConfig does).
func ParseSetMkConfig(body []byte, base wire.ClientConfig) (wire.ClientConfig, json.RawMessage, error) {
	b := bytes.TrimSpace(body)
	if len(b) == 0 {
		return base, nil, fmt.Errorf("%w: empty", ErrBadBody)
	}
	if b[0] != '{' {
		s := string(b)
		if n := len(s); n > 0 && s[n-1] == '=' {
			s = s[:n-1]
		}
		u, err := url.QueryUnescape(s)
		if err != nil {
			return base, nil, fmt.Errorf("%w: neither JSON nor form-escaped JSON: %v", ErrBadBody, err)
		}
		b = bytes.TrimSpace([]byte(u))
		if len(b) == 0 || b[0] != '{' {
			return base, nil, fmt.Errorf("%w: not a JSON object", ErrBadBody)
		}
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(b, &obj); err != nil {
		return base, nil, fmt.Errorf("%w: %v", ErrBadBody, err)
	}
	cfg := base
	if err := json.Unmarshal(b, &cfg); err != nil {
		return base, nil, fmt.Errorf("%w: %v", ErrBadBody, err)
	}
	return cfg, json.RawMessage(b), nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(data, '\n'))
}

// Serve runs h on ln until ctx is done, then shuts down gracefully
// (bounded to 5 s). Request headers and bodies are read with timeouts.
// It returns nil after a shutdown, or the listener's error.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, log *slog.Logger) error {
	if log == nil {
		log = discard
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       60 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("local: serve %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("local: serve %s: %w", ln.Addr(), err)
	}
	return nil
}

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))
