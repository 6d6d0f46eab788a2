// Package httpapi is the checkin server's HTTP adapter over package core:
// the Razor-compatible node API (also under Hanlon's paths), the per-node
// iPXE script at /boot.ipxe, the admin API under /api/v1 (bearer token),
// /metrics, /healthz, and the image service mounted at /images/.
//
// Node endpoints are rate-limited per client address and size-limited;
// bad input gets a 4xx JSON error naming the field and changes nothing.
package httpapi

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/razor-mk/razor-mk/server/adminapi"
	"github.com/razor-mk/razor-mk/server/core"
	"github.com/razor-mk/razor-mk/server/metrics"
	"github.com/razor-mk/razor-mk/wire"
)

// Options configure New.
type Options struct {
	Core *core.Core
	// Version is what GET /api/v1/version answers (the build).
	Version adminapi.BuildInfo
	// Logger: default discard.
	Logger *slog.Logger
	// Metrics and Gatherer: the collectors and the registry /metrics
	// serves (nil: /metrics is 404).
	Metrics  *metrics.Metrics
	Gatherer prometheus.Gatherer
	// AdminToken is the first admin token (admin.token): role admin,
	// named "admin.token" in the audit log. Further tokens are in the
	// store (razor-netboot tokens create).
	AdminToken string
	// ServerURL is this server as nodes reach it, http://IP:PORT.
	ServerURL string
	// SecureURL is this server over HTTPS, https://IP:PORT, when TLS is
	// on: the mk_uri of replies to requests that came over TLS. With it,
	// the admin API refuses plain HTTP except from loopback.
	SecureURL string
	// ClientConfig is the client_config sent to nodes; mk_uri and the
	// paths are filled in per request.
	ClientConfig wire.ClientConfig
	// RateLimit is the node endpoints' requests per second per client
	// address (0: unlimited); RateBurst the burst (default 2×rate, at
	// least 1).
	RateLimit float64
	RateBurst int
	// Images serves /images/ (nil: not mounted).
	Images http.Handler
	// IPXE serves the iPXE binaries under /ipxe/, the boot file URL DHCP
	// gives UEFI HTTP-boot clients (nil: not mounted).
	IPXE http.Handler
	// UI serves the web dashboard under /ui/, and / redirects to it (nil:
	// not mounted).
	UI http.Handler
	// BootRetry is the error scripts' wait before reboot (default 15 s).
	BootRetry time.Duration
	// BodyTimeout bounds reading a request body (default 30 s).
	BodyTimeout time.Duration
}

// Handler is the server's http.Handler.
type Handler struct {
	o       Options
	log     *slog.Logger
	mux     *http.ServeMux
	serve   http.Handler // mux behind closeUnread
	limit   *limiter
	refused refusals
	replies map[string]map[wire.Command][]byte // base path → command → body
	// secureReplies are replies for requests over TLS.
	secureReplies map[string]map[wire.Command][]byte
}

// New returns the handler.
func New(o Options) *Handler {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.BootRetry <= 0 {
		o.BootRetry = 15 * time.Second
	}
	if o.BodyTimeout <= 0 {
		o.BodyTimeout = 30 * time.Second
	}
	h := &Handler{o: o, log: o.Logger, mux: http.NewServeMux(), limit: newLimiter(o.RateLimit, o.RateBurst)}
	h.replies, h.secureReplies = map[string]map[wire.Command][]byte{}, map[string]map[wire.Command][]byte{}
	for _, base := range []string{wire.DefaultBasePath, wire.HanlonBasePath} {
		m, sm := map[wire.Command][]byte{}, map[wire.Command][]byte{}
		for _, cmd := range []wire.Command{wire.Acknowledge, wire.Register, wire.Reboot, wire.Poweroff} {
			m[cmd] = h.okReply(base, cmd, false)
			sm[cmd] = h.okReply(base, cmd, true)
		}
		h.replies[base], h.secureReplies[base] = m, sm
	}
	node := func(route string, f http.HandlerFunc) http.Handler { return h.observe(route, h.rateLimited(f)) }
	for _, base := range []string{wire.DefaultBasePath, wire.HanlonBasePath} {
		h.mux.Handle("GET "+base+"/node/checkin", node("checkin", h.checkin(base)))
		h.mux.Handle("POST "+base+"/node/register", node("register", h.register(base)))
	}
	h.mux.Handle("GET /boot.ipxe", node("boot", h.boot))
	h.mux.Handle("GET /boot.grub", node("boot", h.bootGRUB))
	h.mux.Handle("GET /healthz", h.observe("healthz", http.HandlerFunc(h.healthz)))
	if o.Gatherer != nil {
		h.mux.Handle("GET /metrics", promhttp.HandlerFor(o.Gatherer, promhttp.HandlerOpts{}))
	}
	if o.Images != nil {
		h.mux.Handle("GET /images/", h.observe("images", o.Images))
	}
	if o.IPXE != nil {
		h.mux.Handle("GET /ipxe/", h.observe("ipxe", o.IPXE))
	}
	if o.UI != nil {
		h.mux.Handle("/ui/", h.observe("ui", h.secureOnly(o.UI)))
		h.mux.Handle("GET /{$}", http.RedirectHandler("/ui/", http.StatusFound))
	}
	h.adminRoutes()
	h.eventRoutes()
	h.serve = closeUnread(h.mux, o.BodyTimeout)
	return h
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.serve.ServeHTTP(w, r) }

// clientConfig returns the client_config for requests under base: ours
// (the original Razor server's keys plus our additions) under
// /razor/api, exactly the keys Hanlon's server sent under /hanlon/api/v1.
func (h *Handler) clientConfig(base string, secure bool) any {
	if base == wire.HanlonBasePath {
		return h.o.ClientConfig.Hanlon()
	}
	cfg := h.o.ClientConfig
	cfg.URI = h.o.ServerURL
	if secure && h.o.SecureURL != "" {
		cfg.URI = h.o.SecureURL
	}
	cfg.CheckinPath = base + "/node/checkin"
	cfg.RegisterPath = base + "/node/register"
	return cfg
}

// checkinReply is a successful checkin answer; client_config has the
// shape of the path's server (see clientConfig).
type checkinReply struct {
	ErrCode      int                `json:"errcode"`
	Result       string             `json:"result"`
	HTTPErrCode  int                `json:"http_err_code"`
	Response     *wire.CommandReply `json:"response"`
	ClientConfig any                `json:"client_config"`
}

// okReply encodes the answer carrying cmd for requests under base.
func (h *Handler) okReply(base string, cmd wire.Command, secure bool) []byte {
	ok := wire.OK(cmd, nil)
	// Plain structs of strings and numbers: encoding cannot fail.
	b, _ := json.Marshal(checkinReply{ErrCode: ok.ErrCode, Result: ok.Result, HTTPErrCode: ok.HTTPErrCode, Response: ok.Response, ClientConfig: h.clientConfig(base, secure)})
	return b
}

func (h *Handler) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "protocol": wire.ProtocolVersion})
}

// statusWriter records the status code.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.code == 0 {
		s.code = code
	}
	s.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the connection.
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// observe records a route's latency and status.
func (h *Handler) observe(route string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		if sw.code == 0 {
			sw.code = http.StatusOK
		}
		h.o.Metrics.Request(route, sw.code, time.Since(start))
	})
}

// clientIP is the request's peer address without the port.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func (h *Handler) rateLimited(next http.HandlerFunc) http.HandlerFunc {
	if h.limit == nil {
		return next
	}
	return func(w http.ResponseWriter, r *http.Request) {
		if !h.limit.allow(clientIP(r)) {
			if h.refused.due(clientIP(r), time.Now()) {
				h.refuse(r, r.URL.Path, "", "rate limit", r.URL.Query().Get("hw_id"))
			}
			w.Header().Set("Retry-After", "1")
			writeNode(w, wire.Failure(http.StatusTooManyRequests, "too many requests from "+clientIP(r)))
			return
		}
		next(w, r)
	}
}

// writeJSON writes v with a final newline; rules are shown as written
// ("<", ">" unescaped).
// readBody reads at most limit bytes of the request body within
// Options.BodyTimeout, so that a client trickling bytes does not hold a
// handler.
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(h.o.BodyTimeout))
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		// The connection is not reusable: close it after the error reply
		// rather than have the server drain the rest of the body.
		w.Header().Set("Connection", "close")
		return nil, err
	}
	// Back to no deadline: the server reads ahead to notice a client
	// going away during a long-poll.
	_ = rc.SetReadDeadline(time.Time{})
	return body, nil
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		code = http.StatusInternalServerError
		buf.Reset()
		buf.WriteString(`{"error":"cannot encode the answer"}` + "\n")
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(buf.Bytes())
}

func writeError(w http.ResponseWriter, code int, field, msg string) {
	writeJSON(w, code, adminapi.Error{Error: msg, Field: field})
}

// writeNode writes a node API reply; the HTTP status is its
// http_err_code, as the original's api.js did.
func writeNode(w http.ResponseWriter, r wire.Reply) {
	b, err := json.Marshal(r)
	if err != nil {
		b = []byte(`{"errcode":1,"result":"encoding failed","http_err_code":500}`)
		r.HTTPErrCode = http.StatusInternalServerError
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(r.HTTPErrCode)
	w.Write(b)
}

// remoteAddr is the request's peer address, or the zero Addr.
func remoteAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}
