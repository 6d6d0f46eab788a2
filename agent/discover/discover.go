// Package discover finds the Razor server a microkernel node checks in
// with. It looks, in order, at an explicit override, the kernel command
// line (razor.server=URL, razor.ip=IP, then Hanlon's hanlon.server= and
// hanlon.ip=), the DHCP leases init recorded (options 224 server IP, 225
// port and 226 base URI as Hanlon used them, else the next-server
// address), an mk_uri from the agent's own config file, and finally the
// DNS name "razor". The port is 8026 unless the source names another.
package discover

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/razor-mk/razor-mk/agent/leasefile"
	"github.com/razor-mk/razor-mk/wire"
)

// Errors of this package; callers use errors.Is.
var (
	// ErrNotFound means no source named a usable server.
	ErrNotFound = errors.New("discover: no Razor server found")
	// ErrBadServer means a server address or URL does not parse.
	ErrBadServer = errors.New("discover: bad server address")
)

// DefaultDNSName is the host name looked up when nothing else names the
// server, as the original microkernel did.
const DefaultDNSName = "razor"

// Server is where the node API lives.
type Server struct {
	// URI is scheme://host:port with no path: the client_config mk_uri.
	URI string `json:"uri"`
	// CheckinPath and RegisterPath are the mk_checkin_path and
	// mk_register_path the agent uses with URI.
	CheckinPath  string `json:"checkin_path"`
	RegisterPath string `json:"register_path"`
	// Source says where the server was found, e.g. "cmdline razor.ip".
	Source string `json:"source"`
}

// CheckinURL is the checkin endpoint without a query.
func (s Server) CheckinURL() string { return s.URI + s.CheckinPath }

// RegisterURL is the register endpoint.
func (s Server) RegisterURL() string { return s.URI + s.RegisterPath }

// String is for logs.
func (s Server) String() string { return s.URI + " (" + s.Source + ")" }

// Resolver looks up host names; *net.Resolver satisfies it.
type Resolver interface {
	LookupHost(ctx context.Context, host string) ([]string, error)
}

// Finder finds the server. The zero value looks only at the DNS name
// "razor" with the system resolver.
type Finder struct {
	// Override, when set, is used as-is (the --server flag); see
	// ParseServer for its forms.
	Override string
	// Cmdline is the parsed kernel command line.
	Cmdline Cmdline
	// Leases returns the DHCP leases init recorded, oldest first; nil
	// means no leases. Use LeaseDir to read leasefile.Dir.
	Leases func() ([]leasefile.Info, error)
	// Config is the mk_uri (and paths) of the agent's config file, used
	// after DHCP and before DNS when URI is set.
	Config Server
	// Resolver resolves DNSName; nil means net.DefaultResolver.
	Resolver Resolver
	// DNSName is the last resort; "" means DefaultDNSName.
	DNSName string
	// DNSTimeout bounds the lookup; 0 means 5 s.
	DNSTimeout time.Duration
	// Logger receives what each source said; nil discards.
	Logger *slog.Logger
}

// LeaseDir returns a Leases func reading the lease files in dir.
func LeaseDir(dir string) func() ([]leasefile.Info, error) {
	return func() ([]leasefile.Info, error) { return leasefile.ReadAll(dir) }
}

// Find returns the first server a source names, in the package's order.
// An unusable value in one source is logged and the next source is tried;
// only when all fail does it return ErrNotFound, listing what was tried.
func (f *Finder) Find(ctx context.Context) (Server, error) {
	log := f.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	var tried []string
	if f.Override != "" {
		s, err := ParseServer(f.Override, false)
		if err != nil {
			return Server{}, fmt.Errorf("--server: %w", err)
		}
		s.Source = "flag --server"
		return s, nil
	}
	for _, p := range []struct {
		key    string
		isIP   bool
		hanlon bool
	}{
		{ParamRazorServer, false, false},
		{ParamRazorIP, true, false},
		{ParamHanlonServer, false, true},
		{ParamHanlonIP, true, true},
	} {
		v, ok := f.Cmdline[p.key]
		if !ok {
			continue
		}
		var s Server
		var err error
		if p.isIP {
			s, err = fromIP(v, 0, "", p.hanlon)
		} else {
			s, err = ParseServer(v, p.hanlon)
		}
		if err != nil {
			log.Warn("ignoring kernel command line parameter", "param", p.key, "value", v, "err", err)
			tried = append(tried, p.key+" (bad)")
			continue
		}
		s.Source = "cmdline " + p.key
		return s, nil
	}
	if f.Leases != nil {
		leases, err := f.Leases()
		if err != nil {
			log.Warn("reading DHCP leases", "err", err)
		}
		if s, ok := fromLeases(leases, log); ok {
			return s, nil
		}
		tried = append(tried, fmt.Sprintf("DHCP (%d leases)", len(leases)))
	}
	if f.Config.URI != "" {
		s, err := ParseServer(f.Config.URI, false)
		if err == nil {
			if f.Config.CheckinPath != "" {
				s.CheckinPath = f.Config.CheckinPath
			}
			if f.Config.RegisterPath != "" {
				s.RegisterPath = f.Config.RegisterPath
			}
			s.Source = "config mk_uri"
			return s, nil
		}
		log.Warn("ignoring mk_uri of the config file", "mk_uri", f.Config.URI, "err", err)
		tried = append(tried, "config mk_uri (bad)")
	}
	name := f.DNSName
	if name == "" {
		name = DefaultDNSName
	}
	s, err := f.lookup(ctx, name)
	if err == nil {
		return s, nil
	}
	log.Debug("DNS lookup of the server name failed", "name", name, "err", err)
	tried = append(tried, "DNS "+name)
	return Server{}, fmt.Errorf("%w (tried %s)", ErrNotFound, strings.Join(tried, ", "))
}

func (f *Finder) lookup(ctx context.Context, name string) (Server, error) {
	r := f.Resolver
	if r == nil {
		r = net.DefaultResolver
	}
	to := f.DNSTimeout
	if to <= 0 {
		to = 5 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, to)
	defer cancel()
	addrs, err := r.LookupHost(ctx, name)
	if err != nil {
		return Server{}, err
	}
	// Prefer IPv4, as the original did (it took the first inet address).
	var pick netip.Addr
	for _, a := range addrs {
		ip, err := netip.ParseAddr(a)
		if err != nil {
			continue
		}
		if !pick.IsValid() || (ip.Is4() && !pick.Is4()) {
			pick = ip
		}
	}
	if !pick.IsValid() {
		return Server{}, fmt.Errorf("%w: %s resolved to no address", ErrBadServer, name)
	}
	s, err := fromIP(pick.String(), 0, "", false)
	if err != nil {
		return Server{}, err
	}
	s.Source = "dns " + name
	return s, nil
}

// fromLeases picks the server from DHCP: option 224 on the earliest lease
// that carries it, else the earliest usable next-server (siaddr). Port and
// base URI (options 225, 226) come from the same lease. Later NICs never
// override an earlier one (Hanlon-Microkernel PR #16).
func fromLeases(leases []leasefile.Info, log *slog.Logger) (Server, bool) {
	for _, pass := range []struct {
		source string
		addr   func(leasefile.Info) string
	}{
		{"dhcp option 224", func(l leasefile.Info) string { return l.RazorServerIP }},
		{"dhcp next-server", func(l leasefile.Info) string { return l.NextServer }},
	} {
		for _, l := range leases {
			a := pass.addr(l)
			if a == "" {
				continue
			}
			s, err := fromIP(a, l.RazorPort, l.RazorBaseURI, false)
			if err != nil {
				log.Warn("ignoring DHCP server option", "interface", l.Interface, "source", pass.source, "value", a, "err", err)
				continue
			}
			s.Source = pass.source + " on " + l.Interface
			return s, true
		}
	}
	return Server{}, false
}

// fromIP builds a server from an address, a port (0: 8026) and a base URI
// ("" : the default paths).
func fromIP(addr string, port int, base string, hanlon bool) (Server, error) {
	ip, err := netip.ParseAddr(strings.TrimSpace(addr))
	if err != nil {
		return Server{}, fmt.Errorf("%w: %q is not an IP address", ErrBadServer, addr)
	}
	if ip.IsUnspecified() || ip.IsMulticast() {
		return Server{}, fmt.Errorf("%w: %s is not a unicast address", ErrBadServer, ip)
	}
	if port == 0 {
		port = wire.DefaultPort
	}
	if port < 1 || port > 65535 {
		return Server{}, fmt.Errorf("%w: port %d out of range", ErrBadServer, port)
	}
	checkin, register, err := paths(base, hanlon)
	if err != nil {
		return Server{}, err
	}
	return Server{
		URI:          "http://" + net.JoinHostPort(ip.WithZone("").String(), strconv.Itoa(port)),
		CheckinPath:  checkin,
		RegisterPath: register,
	}, nil
}

// ParseServer parses a server given as a URL ("http://10.0.0.1:8026",
// "https://razor.example/hanlon/api/v1"), a host with an optional port
// ("razor", "10.0.0.1:9000", "[fd00::1]:8026") or a bare IP address. The
// port defaults to 8026 for http and https alike. A path is the API's base
// URI: the checkin path becomes <base>/node/checkin. Without a path the
// original Razor paths are used, or Hanlon's base /hanlon/api/v1 when
// hanlon is set (the hanlon.server= parameter).
func ParseServer(v string, hanlon bool) (Server, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return Server{}, fmt.Errorf("%w: empty", ErrBadServer)
	}
	if ip, err := netip.ParseAddr(v); err == nil {
		return fromIP(ip.String(), 0, "", hanlon)
	}
	raw := v
	if !strings.Contains(v, "://") {
		raw = "http://" + v
	}
	u, err := url.Parse(raw)
	if err != nil {
		return Server{}, fmt.Errorf("%w: %q: %v", ErrBadServer, v, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return Server{}, fmt.Errorf("%w: %q: scheme must be http or https", ErrBadServer, v)
	}
	if u.Hostname() == "" {
		return Server{}, fmt.Errorf("%w: %q: no host", ErrBadServer, v)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return Server{}, fmt.Errorf("%w: %q: user info, query and fragment are not allowed", ErrBadServer, v)
	}
	port := wire.DefaultPort
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return Server{}, fmt.Errorf("%w: %q: bad port", ErrBadServer, v)
		}
		port = n
	}
	checkin, register, err := paths(u.Path, hanlon)
	if err != nil {
		return Server{}, err
	}
	return Server{
		URI:          u.Scheme + "://" + net.JoinHostPort(u.Hostname(), strconv.Itoa(port)),
		CheckinPath:  checkin,
		RegisterPath: register,
	}, nil
}

// paths derives the checkin and register paths from a base URI (DHCP
// option 226 or a URL's path). A full URL is accepted and its path used.
// A base that already ends in /node/checkin or /node/register is trimmed.
func paths(base string, hanlon bool) (checkin, register string, err error) {
	base = strings.TrimSpace(base)
	if strings.Contains(base, "://") {
		u, err := url.Parse(base)
		if err != nil {
			return "", "", fmt.Errorf("%w: base URI %q: %v", ErrBadServer, base, err)
		}
		base = u.Path
	}
	if strings.ContainsAny(base, "?# \t\r\n\x00") {
		return "", "", fmt.Errorf("%w: base URI %q: must be a plain path", ErrBadServer, base)
	}
	base = strings.TrimRight(base, "/")
	for _, suffix := range []string{"/node/checkin", "/node/register"} {
		base = strings.TrimSuffix(base, suffix)
	}
	if base == "" {
		if hanlon {
			base = wire.HanlonBasePath
		} else {
			return wire.DefaultCheckinPath, wire.DefaultRegisterPath, nil
		}
	}
	if !strings.HasPrefix(base, "/") {
		base = "/" + base
	}
	return base + "/node/checkin", base + "/node/register", nil
}
