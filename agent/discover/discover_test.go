package discover

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/razor-mk/razor-mk/agent/leasefile"
)

func TestParseCmdline(t *testing.T) {
	tests := []struct {
		in   string
		want Cmdline
	}{
		{"", Cmdline{}},
		{"quiet console=ttyS0 razor.ip=10.0.0.1\n", Cmdline{"quiet": "", "console": "ttyS0", "razor.ip": "10.0.0.1"}},
		{`initrd=initrd razor.server="http://10.0.0.1:8026" razor.token=abc`, Cmdline{"initrd": "initrd", "razor.server": "http://10.0.0.1:8026", "razor.token": "abc"}},
		{`a="x y" "b=c d" e`, Cmdline{"a": "x y", "b": "c d", "e": ""}},
		{"razor.ip=1.1.1.1 razor.ip=2.2.2.2", Cmdline{"razor.ip": "2.2.2.2"}},
		{"k=v=w =x", Cmdline{"k": "v=w"}},
		{"\t a \t b=\"unterminated quote c", Cmdline{"a": "", "b": "unterminated quote c"}},
		{"mk-agent\x00init\x00", Cmdline{"mk-agent": "", "init": ""}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, ParseCmdline(tt.in)); diff != "" {
				t.Errorf("ParseCmdline(%q) mismatch (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestReadCmdline(t *testing.T) {
	p := filepath.Join(t.TempDir(), "cmdline")
	if err := os.WriteFile(p, []byte("BOOT_IMAGE=/vmlinuz razor.server=razor.lab\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := ReadCmdline(p)
	if err != nil {
		t.Fatalf("ReadCmdline(%s) = %v", p, err)
	}
	if diff := cmp.Diff(Cmdline{"BOOT_IMAGE": "/vmlinuz", "razor.server": "razor.lab"}, got); diff != "" {
		t.Errorf("ReadCmdline mismatch (-want +got):\n%s", diff)
	}
	if _, err := ReadCmdline(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("ReadCmdline(missing) = nil error, want error")
	}
}

func FuzzParseCmdline(f *testing.F) {
	f.Add(`quiet razor.server="http://10.0.0.1:8026/x" razor.token=t`)
	f.Add("a=\"b c\" \"d=e f\"")
	f.Add("\x00\"=\"")
	f.Fuzz(func(t *testing.T, s string) {
		c := ParseCmdline(s)
		for k := range c {
			if k == "" || strings.ContainsAny(k, "\"=\x00") {
				t.Fatalf("ParseCmdline(%q) produced bad name %q", s, k)
			}
		}
		if v, ok := c[ParamRazorServer]; ok {
			// Any value must either parse or fail cleanly.
			if srv, err := ParseServer(v, false); err == nil && !strings.HasPrefix(srv.CheckinPath, "/") {
				t.Fatalf("ParseServer(%q) checkin path %q not absolute", v, srv.CheckinPath)
			}
		}
	})
}

func TestParseServer(t *testing.T) {
	tests := []struct {
		in      string
		hanlon  bool
		want    Server
		wantErr bool
	}{
		{in: "10.0.0.1", want: Server{URI: "http://10.0.0.1:8026", CheckinPath: "/razor/api/node/checkin", RegisterPath: "/razor/api/node/register"}},
		{in: "http://10.0.0.1:9000", want: Server{URI: "http://10.0.0.1:9000", CheckinPath: "/razor/api/node/checkin", RegisterPath: "/razor/api/node/register"}},
		{in: "razor.lab", want: Server{URI: "http://razor.lab:8026", CheckinPath: "/razor/api/node/checkin", RegisterPath: "/razor/api/node/register"}},
		{in: "https://razor.lab/", want: Server{URI: "https://razor.lab:8026", CheckinPath: "/razor/api/node/checkin", RegisterPath: "/razor/api/node/register"}},
		{in: "http://h:1/hanlon/api/v1", want: Server{URI: "http://h:1", CheckinPath: "/hanlon/api/v1/node/checkin", RegisterPath: "/hanlon/api/v1/node/register"}},
		{in: "http://h/razor/api/node/checkin", want: Server{URI: "http://h:8026", CheckinPath: "/razor/api/node/checkin", RegisterPath: "/razor/api/node/register"}},
		{in: "fd00::1", want: Server{URI: "http://[fd00::1]:8026", CheckinPath: "/razor/api/node/checkin", RegisterPath: "/razor/api/node/register"}},
		{in: "[fd00::1]:9", want: Server{URI: "http://[fd00::1]:9", CheckinPath: "/razor/api/node/checkin", RegisterPath: "/razor/api/node/register"}},
		{in: "hanlon", hanlon: true, want: Server{URI: "http://hanlon:8026", CheckinPath: "/hanlon/api/v1/node/checkin", RegisterPath: "/hanlon/api/v1/node/register"}},
		{in: "", wantErr: true},
		{in: "ftp://h", wantErr: true},
		{in: "http://", wantErr: true},
		{in: "http://h:0", wantErr: true},
		{in: "http://h:99999", wantErr: true},
		{in: "http://h/?q=1", wantErr: true},
		{in: "http://u:p@h", wantErr: true},
		{in: "0.0.0.0", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseServer(tt.in, tt.hanlon)
			if tt.wantErr {
				if !errors.Is(err, ErrBadServer) {
					t.Fatalf("ParseServer(%q) = %+v, %v; want ErrBadServer", tt.in, got, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseServer(%q) = %v", tt.in, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseServer(%q) mismatch (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

type fakeResolver map[string][]string

func (r fakeResolver) LookupHost(_ context.Context, host string) ([]string, error) {
	if a, ok := r[host]; ok {
		return a, nil
	}
	return nil, errors.New("no such host " + host)
}

func TestFindOrder(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	opt224 := leasefile.Info{Interface: "eth1", RazorServerIP: "10.0.0.224", RazorPort: 9026, RazorBaseURI: "/hanlon/api/v1", NextServer: "10.0.0.99", Obtained: t0.Add(time.Second)}
	nextOnly := leasefile.Info{Interface: "eth0", NextServer: "10.0.0.5", Obtained: t0}
	leases := func(l ...leasefile.Info) func() ([]leasefile.Info, error) {
		return func() ([]leasefile.Info, error) { return l, nil }
	}
	dns := fakeResolver{"razor": {"fd00::53", "10.0.0.53"}}
	raz := func(uri, source string) Server {
		return Server{URI: uri, CheckinPath: "/razor/api/node/checkin", RegisterPath: "/razor/api/node/register", Source: source}
	}
	tests := []struct {
		name    string
		f       Finder
		want    Server
		wantErr bool
	}{
		{
			name: "override beats all",
			f:    Finder{Override: "http://o:1", Cmdline: Cmdline{"razor.ip": "10.0.0.1"}, Leases: leases(opt224), Resolver: dns},
			want: raz("http://o:1", "flag --server"),
		},
		{
			name: "razor.server beats razor.ip",
			f:    Finder{Cmdline: Cmdline{"razor.ip": "10.0.0.1", "razor.server": "http://s:2"}, Leases: leases(opt224), Resolver: dns},
			want: raz("http://s:2", "cmdline razor.server"),
		},
		{
			name: "razor.ip",
			f:    Finder{Cmdline: Cmdline{"razor.ip": "10.0.0.1"}, Leases: leases(opt224), Resolver: dns},
			want: raz("http://10.0.0.1:8026", "cmdline razor.ip"),
		},
		{
			name: "bad razor.ip falls through to hanlon.ip",
			f:    Finder{Cmdline: Cmdline{"razor.ip": "nope", "hanlon.ip": "10.0.0.2"}, Resolver: dns},
			want: Server{URI: "http://10.0.0.2:8026", CheckinPath: "/hanlon/api/v1/node/checkin", RegisterPath: "/hanlon/api/v1/node/register", Source: "cmdline hanlon.ip"},
		},
		{
			name: "option 224 beats an earlier next-server",
			f:    Finder{Leases: leases(nextOnly, opt224), Resolver: dns},
			want: Server{URI: "http://10.0.0.224:9026", CheckinPath: "/hanlon/api/v1/node/checkin", RegisterPath: "/hanlon/api/v1/node/register", Source: "dhcp option 224 on eth1"},
		},
		{
			name: "next-server of the earliest lease",
			f: Finder{Leases: leases(nextOnly, leasefile.Info{Interface: "eth1", NextServer: "10.0.0.6"}),
				Resolver: dns},
			want: raz("http://10.0.0.5:8026", "dhcp next-server on eth0"),
		},
		{
			name: "unspecified next-server skipped",
			f:    Finder{Leases: leases(leasefile.Info{Interface: "eth0", NextServer: "0.0.0.0"}), Resolver: dns},
			want: raz("http://10.0.0.53:8026", "dns razor"),
		},
		{
			name: "config mk_uri before DNS",
			f: Finder{Leases: leases(), Resolver: dns,
				Config: Server{URI: "http://cfg:8026", CheckinPath: "/x/node/checkin", RegisterPath: "/x/node/register"}},
			want: Server{URI: "http://cfg:8026", CheckinPath: "/x/node/checkin", RegisterPath: "/x/node/register", Source: "config mk_uri"},
		},
		{
			name: "dns prefers IPv4",
			f:    Finder{Resolver: dns},
			want: raz("http://10.0.0.53:8026", "dns razor"),
		},
		{
			name: "dns other name",
			f:    Finder{Resolver: fakeResolver{"razor.lab": {"fd00::53"}}, DNSName: "razor.lab"},
			want: raz("http://[fd00::53]:8026", "dns razor.lab"),
		},
		{name: "nothing", f: Finder{Resolver: fakeResolver{}}, wantErr: true},
		{name: "bad override", f: Finder{Override: "ftp://x", Resolver: dns}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.f.Find(context.Background())
			if tt.wantErr {
				if err == nil {
					t.Fatalf("Find() = %+v, want error", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("Find() = %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Find() mismatch (-want +got):\n%s", diff)
			}
		})
	}
	if _, err := (&Finder{Resolver: fakeResolver{}}).Find(context.Background()); !errors.Is(err, ErrNotFound) {
		t.Errorf("Find() with nothing = %v, want ErrNotFound", err)
	}
}

func TestFindLeaseDir(t *testing.T) {
	dir := t.TempDir()
	if err := leasefile.Write(dir, leasefile.Info{Interface: "eth0", RazorServerIP: "192.0.2.7", Obtained: time.Now()}); err != nil {
		t.Fatal(err)
	}
	f := Finder{Leases: LeaseDir(dir), Resolver: fakeResolver{}}
	got, err := f.Find(context.Background())
	if err != nil || got.URI != "http://192.0.2.7:8026" {
		t.Errorf("Find() with lease dir = %+v, %v; want http://192.0.2.7:8026", got, err)
	}
}

func FuzzParseServer(f *testing.F) {
	f.Add("http://10.0.0.1:8026", false)
	f.Add("razor.lab/hanlon/api/v1/", true)
	f.Add("[fe80::1%eth0]:9", false)
	f.Add("https://h:65535/a/node/register", false)
	f.Fuzz(func(t *testing.T, v string, hanlon bool) {
		s, err := ParseServer(v, hanlon)
		if err != nil {
			if !errors.Is(err, ErrBadServer) {
				t.Fatalf("ParseServer(%q) error %v does not wrap ErrBadServer", v, err)
			}
			return
		}
		if !strings.HasPrefix(s.CheckinPath, "/") || !strings.HasSuffix(s.CheckinPath, "/node/checkin") ||
			!strings.HasSuffix(s.RegisterPath, "/node/register") {
			t.Fatalf("ParseServer(%q) paths %q %q", v, s.CheckinPath, s.RegisterPath)
		}
		// The URI is usable as is, and parses to itself.
		again, err := ParseServer(s.URI, hanlon)
		if err != nil || again.URI != s.URI {
			t.Fatalf("ParseServer(%q) URI %q re-parses to %q, %v", v, s.URI, again.URI, err)
		}
	})
}
