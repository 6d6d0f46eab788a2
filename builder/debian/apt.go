package debian

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/razor-mk/razor-mk/builder/deb"
)

// Package is a Debian package apt knows: its candidate version and the
// checksum of its .deb.
type Package struct {
	Name         string
	Version      string
	Architecture string
	Depends      string
	SHA256       string
	Size         int64
	URL          string // filled by (*Apt).URIs
}

// Ref is the package as apt-get takes it: name=version.
func (p Package) Ref() string { return p.Name + "=" + p.Version }

// Apt runs apt-cache and apt-get on the build host.
type Apt struct {
	// AptGet and AptCache are the programs; empty means look them up in PATH.
	AptGet, AptCache string
	// Arch qualifies package names (name:arch) when not empty.
	Arch string
	// Timeout bounds each apt command; 0 means 10 minutes.
	Timeout time.Duration
	// StateGlobs are the files whose name, size and mtime key the cache of
	// resolutions; nil means DefaultStateGlobs, empty disables the cache.
	StateGlobs []string
}

// ErrNoApt: apt-get or apt-cache is not installed.
var ErrNoApt = errors.New("debian: apt-get/apt-cache not found (install apt, or give debian.kernel_deb and debian.busybox_deb)")

func (a *Apt) tool(name, given string) (string, error) {
	if given != "" {
		return given, nil
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return "", ErrNoApt
	}
	return p, nil
}

func (a *Apt) run(ctx context.Context, dir, prog string, args ...string) ([]byte, error) {
	t := a.Timeout
	if t == 0 {
		t = 10 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, t)
	defer cancel()
	cmd := exec.CommandContext(ctx, prog, args...)
	cmd.Dir = dir
	cmd.Env = append(cmd.Environ(), "LC_ALL=C", "DEBIAN_FRONTEND=noninteractive")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if len(msg) > 2000 {
			msg = msg[:2000] + "…"
		}
		return stdout.Bytes(), fmt.Errorf("%s %s: %w: %s", prog, strings.Join(args, " "), err, msg)
	}
	return stdout.Bytes(), nil
}

func (a *Apt) qualify(name string) string {
	if a.Arch == "" {
		return name
	}
	return name + ":" + a.Arch
}

// ErrUnavailable: apt has no candidate for a package.
var ErrUnavailable = errors.New("debian: package not available from apt")

// Show returns the candidate versions of the named packages (one
// apt-cache show --no-all-versions for all), by the name asked for. A
// package apt has no candidate for is absent from the map.
func (a *Apt) Show(ctx context.Context, names ...string) (map[string]Package, error) {
	prog, err := a.tool("apt-cache", a.AptCache)
	if err != nil {
		return nil, err
	}
	args := []string{"show", "--no-all-versions"}
	for _, n := range names {
		args = append(args, a.qualify(n))
	}
	out, err := a.run(ctx, "", prog, args...)
	if err != nil {
		if len(bytes.TrimSpace(out)) == 0 && strings.Contains(err.Error(), "No packages found") {
			return map[string]Package{}, nil
		}
		return nil, fmt.Errorf("debian: %w", err)
	}
	got := map[string]Package{}
	for _, stanza := range splitStanzas(out) {
		p, err := parseShow(stanza)
		if err != nil {
			return nil, err
		}
		got[p.Name] = p
	}
	res := map[string]Package{}
	for _, n := range names {
		if p, ok := got[n]; ok {
			res[n] = p
		}
	}
	return res, nil
}

// splitStanzas splits apt-cache output at blank lines.
func splitStanzas(out []byte) [][]byte {
	var res [][]byte
	for _, s := range bytes.Split(bytes.ReplaceAll(out, []byte("\r\n"), []byte("\n")), []byte("\n\n")) {
		if len(bytes.TrimSpace(s)) > 0 {
			res = append(res, s)
		}
	}
	return res
}

func parseShow(out []byte) (Package, error) {
	c, err := deb.ParseControl(out)
	if err != nil {
		return Package{}, fmt.Errorf("debian: apt-cache show: %w", err)
	}
	p := Package{Name: c["Package"], Version: c["Version"], Architecture: c["Architecture"], Depends: c["Depends"], SHA256: strings.ToLower(c["SHA256"])}
	p.Size, _ = strconv.ParseInt(c["Size"], 10, 64)
	if p.Name == "" || p.Version == "" {
		return Package{}, fmt.Errorf("debian: apt-cache show: a stanza without Package or Version")
	}
	if !sha256RE.MatchString(p.SHA256) {
		return Package{}, fmt.Errorf("debian: apt-cache show %s: no SHA256 field", p.Name)
	}
	return p, nil
}

var sha256RE = regexp.MustCompile(`^[0-9a-f]{64}$`)

// DependsOn returns the first package of p's Depends whose name starts
// with prefix ("linux-image-"), or "".
func (p Package) DependsOn(prefix string) string {
	for _, alt := range strings.Split(p.Depends, ",") {
		for _, d := range strings.Split(alt, "|") {
			f := strings.Fields(d)
			if len(f) == 0 {
				continue
			}
			n, _, _ := strings.Cut(f[0], ":")
			if strings.HasPrefix(n, prefix) {
				return n
			}
		}
	}
	return ""
}

// URIs fills in the download URL of each package (apt-get download
// --print-uris) and checks that apt agrees on the checksum.
func (a *Apt) URIs(ctx context.Context, pkgs []*Package) error {
	if len(pkgs) == 0 {
		return nil
	}
	prog, err := a.tool("apt-get", a.AptGet)
	if err != nil {
		return err
	}
	args := []string{"download", "--print-uris"}
	for _, p := range pkgs {
		args = append(args, a.qualify(p.Name)+"="+p.Version)
	}
	out, err := a.run(ctx, "", prog, args...)
	if err != nil {
		return fmt.Errorf("debian: %w", err)
	}
	uris, err := parsePrintURIs(out)
	if err != nil {
		return err
	}
	for _, p := range pkgs {
		u, ok := uris[p.SHA256]
		if !ok {
			return fmt.Errorf("debian: apt-get download --print-uris gave no URL for %s with sha256 %s", p.Ref(), p.SHA256)
		}
		p.URL = u.URL
	}
	return nil
}

// URI is one line of apt-get --print-uris.
type URI struct {
	URL, File string
	Size      int64
	SHA256    string
}

// parsePrintURIs parses "'URL' FILE SIZE SHA256:HEX" lines, by checksum.
func parsePrintURIs(out []byte) (map[string]URI, error) {
	m := map[string]URI{}
	for n, line := range strings.Split(string(out), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if line[0] != '\'' {
			continue // apt's notices
		}
		end := strings.Index(line[1:], "'")
		if end < 0 {
			return nil, fmt.Errorf("debian: --print-uris line %d: unterminated URL: %q", n+1, line)
		}
		u := URI{URL: line[1 : end+1]}
		f := strings.Fields(line[end+2:])
		if len(f) < 3 {
			return nil, fmt.Errorf("debian: --print-uris line %d: want 'URL' FILE SIZE HASH, got %q", n+1, line)
		}
		u.File = f[0]
		size, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("debian: --print-uris line %d: size %q", n+1, f[1])
		}
		u.Size = size
		algo, sum, _ := strings.Cut(f[2], ":")
		if !strings.EqualFold(algo, "SHA256") || !sha256RE.MatchString(strings.ToLower(sum)) {
			continue // an older apt printing MD5Sum: matched by nothing
		}
		u.SHA256 = strings.ToLower(sum)
		m[u.SHA256] = u
	}
	return m, nil
}

// Download fetches package p into dir (apt-get download name=version).
func (a *Apt) Download(ctx context.Context, dir string, p Package) error {
	prog, err := a.tool("apt-get", a.AptGet)
	if err != nil {
		return err
	}
	if _, err := a.run(ctx, dir, prog, "download", "-q", a.qualify(p.Name)+"="+p.Version); err != nil {
		return fmt.Errorf("debian: %w", err)
	}
	return nil
}
