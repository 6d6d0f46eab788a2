package tce

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/razor-mk/razor-mk/tcz"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Paths of Tiny Core's extension mechanism, relative to the root.
const (
	// LoopDir holds an extension's mount: /tmp/tcloop/NAME.
	LoopDir = "tmp/tcloop"
	// InstalledDir holds the install scripts and markers.
	InstalledDir = "usr/local/tce.installed"
)

// DefaultScriptTimeout bounds an extension's install script.
const DefaultScriptTimeout = 2 * time.Minute

// Source is where extensions come from: a directory (DirSource) or a
// mirror (MirrorSource).
type Source interface {
	// Deps returns an extension's dependencies as its .dep lists them
	// (placeholders kept; none without a .dep), or an error wrapping
	// ErrNotFound when the extension is not there.
	Deps(ctx context.Context, name string) ([]string, error)
	// Path returns a local file holding the extension, verified.
	Path(ctx context.Context, name string) (string, error)
}

// DirSource is a directory of extensions with their .dep files, like
// Tiny Core's optional/ directories.
type DirSource struct {
	Dir string
}

// Deps reads Dir/NAME.dep.
func (d DirSource) Deps(_ context.Context, name string) ([]string, error) {
	if _, err := d.Path(context.Background(), name); err != nil {
		return nil, err
	}
	data, err := readLimited(filepath.Join(d.Dir, name+".dep"), tcz.MaxDepFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	deps, err := tcz.ParseDep(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(d.Dir, name+".dep"), err)
	}
	return deps, nil
}

// Path returns Dir/NAME when it is a regular file.
func (d DirSource) Path(_ context.Context, name string) (string, error) {
	p := filepath.Join(d.Dir, name)
	fi, err := os.Stat(p)
	if err != nil || !fi.Mode().IsRegular() {
		return "", fmt.Errorf("%w: %s", ErrNotFound, p)
	}
	return p, nil
}

func readLimited(p string, max int64) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", ErrBadSidecar, p, max)
	}
	return data, nil
}

// Mounter mounts extension images read-only.
type Mounter interface {
	// Mount mounts the squashfs image on dir (which exists), read-only.
	Mount(image, dir string) error
	// Unmount undoes Mount.
	Unmount(dir string) error
}

// Installer installs extensions into a root file system. The zero value
// installs into / with loop mounts, running install scripts.
type Installer struct {
	// Root is the file system to install into; "" means "/".
	Root string
	// Copy copies extensions into Root instead of linking to their mount
	// (Tiny Core's copy2fs); the mount is released afterwards.
	Copy bool
	// Unpack installs every extension by reading its image in Go and
	// copying the tree into Root (copy2fs semantics, no mount). Without
	// it, an extension is unpacked so only when mounting fails for want
	// of kernel support (ErrNoKernelSupport: no loop devices or no
	// squashfs), as on a Tiny Core 4.x kernel without loop.ko.
	Unpack bool
	// Mounter mounts the images; nil means loop mounts (Linux).
	Mounter Mounter
	// RunScript runs an install script; nil executes it (a script
	// without "#!" through /bin/sh) with ScriptTimeout.
	RunScript func(ctx context.Context, script string) ([]byte, error)
	// ScriptTimeout bounds a script; 0 means DefaultScriptTimeout.
	ScriptTimeout time.Duration
	// KernelRelease replaces "-KERNEL.tcz"; "" means uname -r.
	KernelRelease string
	// Output receives the install scripts' output; nil discards it (it is
	// logged either way).
	Output io.Writer
	// Logger receives a line per extension; nil discards.
	Logger *slog.Logger

	mu     sync.Mutex
	failed map[string]error
}

// Failure is an extension that could not be installed.
type Failure struct {
	Name string
	Err  error
}

// Report says what an Install did.
type Report struct {
	// Installed are the extensions installed, in order.
	Installed []string
	// Present are the extensions found installed already.
	Present []string
	// Failed are the extensions that failed, with the reason.
	Failed []Failure
}

// FailedNames returns the failed extensions' names, in order.
func (r *Report) FailedNames() []string {
	var out []string
	for _, f := range r.Failed {
		if !slices.Contains(out, f.Name) {
			out = append(out, f.Name)
		}
	}
	return out
}

// Merge appends another report's entries.
func (r *Report) Merge(o Report) {
	r.Installed = append(r.Installed, o.Installed...)
	r.Present = append(r.Present, o.Present...)
	r.Failed = append(r.Failed, o.Failed...)
}

func (in *Installer) root() string {
	if in.Root == "" {
		return "/"
	}
	return in.Root
}

func (in *Installer) log() *slog.Logger {
	if in.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return in.Logger
}

func (in *Installer) kernel() string {
	if in.KernelRelease == "" {
		in.KernelRelease = kernelRelease()
	}
	return in.KernelRelease
}

// Installed reports whether an extension is installed: its marker (or
// install script) exists in /usr/local/tce.installed.
func (in *Installer) Installed(name string) bool {
	_, err := os.Lstat(filepath.Join(in.root(), InstalledDir, strings.TrimSuffix(name, ".tcz")))
	return err == nil
}

// Install installs each extension of names with its dependencies from
// src, dependencies first and each once, skipping installed ones. A
// failure affects the extension and those that need it, not the others.
func (in *Installer) Install(ctx context.Context, src Source, names []string) Report {
	var rep Report
	fail := func(name string, err error) {
		in.log().Error("extension failed", "extension", name, "err", err)
		rep.Failed = append(rep.Failed, Failure{Name: name, Err: err})
		in.mu.Lock()
		if in.failed == nil {
			in.failed = map[string]error{}
		}
		in.failed[name] = err
		in.mu.Unlock()
	}
	done := map[string]bool{}
	for _, root := range names {
		name, err := tcz.CanonicalName(root)
		if err != nil {
			fail(root, err)
			continue
		}
		name = tcz.WithKernel(name, in.kernel())
		if in.Installed(name) {
			if !done[name] {
				rep.Present = append(rep.Present, name)
				done[name] = true
			}
			continue
		}
		order, deps, err := in.resolve(ctx, src, name)
		if err != nil {
			fail(name, err)
			continue
		}
		for _, n := range order {
			if done[n] {
				continue
			}
			done[n] = true
			if err := ctx.Err(); err != nil {
				fail(n, err)
				continue
			}
			if bad := in.failedDep(deps[n]); bad != "" {
				fail(n, fmt.Errorf("%w: %s", ErrDependency, bad))
				continue
			}
			if err := in.installOne(ctx, src, n); err != nil {
				fail(n, err)
				continue
			}
			in.mu.Lock()
			delete(in.failed, n)
			in.mu.Unlock()
			rep.Installed = append(rep.Installed, n)
		}
	}
	return rep
}

func (in *Installer) failedDep(deps []string) string {
	in.mu.Lock()
	defer in.mu.Unlock()
	for _, d := range deps {
		if _, bad := in.failed[d]; bad {
			return d
		}
	}
	return ""
}

// resolve returns name's closure in load order, leaving out what is
// installed, and each member's dependencies.
func (in *Installer) resolve(ctx context.Context, src Source, name string) ([]string, map[string][]string, error) {
	const visiting, finished = 1, 2
	state := map[string]int{}
	deps := map[string][]string{}
	var order, stack []string
	var visit func(n string) error
	visit = func(n string) error {
		switch state[n] {
		case finished:
			return nil
		case visiting:
			i := len(stack) - 1
			for i > 0 && stack[i] != n {
				i--
			}
			return fmt.Errorf("%w: %s", ErrCycle, strings.Join(append(slices.Clone(stack[i:]), n), " → "))
		}
		if in.Installed(n) {
			state[n] = finished
			return nil
		}
		if len(state) >= maxClosure {
			return fmt.Errorf("tce: more than %d extensions in the dependency closure of %s", maxClosure, name)
		}
		state[n] = visiting
		stack = append(stack, n)
		ds, err := src.Deps(ctx, n)
		if err != nil {
			if len(stack) > 1 {
				return fmt.Errorf("%w (required by %s)", err, strings.Join(stack[:len(stack)-1], " → "))
			}
			return err
		}
		for _, d := range ds {
			d = tcz.WithKernel(d, in.kernel())
			deps[n] = append(deps[n], d)
			if err := visit(d); err != nil {
				return err
			}
		}
		stack = stack[:len(stack)-1]
		state[n] = finished
		order = append(order, n)
		return nil
	}
	if err := visit(name); err != nil {
		return nil, nil, err
	}
	return order, deps, nil
}

// installOne mounts, links (or copies) and completes one extension.
func (in *Installer) installOne(ctx context.Context, src Source, name string) error {
	start := time.Now()
	image, err := src.Path(ctx, name)
	if err != nil {
		return err
	}
	base := strings.TrimSuffix(name, ".tcz")
	mnt := filepath.Join(in.root(), LoopDir, base)
	if err := os.MkdirAll(mnt, 0o755); err != nil {
		return fmt.Errorf("tce: %s: %w", name, err)
	}
	m := in.Mounter
	if m == nil {
		m = &LoopMounter{}
	}
	if in.Unpack {
		os.Remove(mnt)
		return in.unpackOne(ctx, image, name, start, nil)
	}
	if !mounted(mnt) {
		if err := m.Mount(image, mnt); err != nil {
			os.Remove(mnt)
			if errors.Is(err, ErrNoKernelSupport) {
				return in.unpackOne(ctx, image, name, start, err)
			}
			return fmt.Errorf("tce: mounting %s: %w", name, err)
		}
	}
	release := func() {
		if err := m.Unmount(mnt); err != nil {
			in.log().Warn("unmounting extension", "extension", name, "err", err)
			return
		}
		os.Remove(mnt)
	}
	var kept int
	switch {
	case isMeta(mnt):
		release()
	case in.Copy:
		kept, err = copyTree(mnt, in.root())
		release()
	default:
		kept, err = linkTree(mnt, in.root())
	}
	if err != nil {
		return fmt.Errorf("tce: installing %s: %w", name, err)
	}
	if kept > 0 {
		in.log().Info("extension: existing files kept", "extension", name, "files", kept)
	}
	in.afterLoad(ctx, mnt)
	if err := in.complete(ctx, name); err != nil {
		return err
	}
	in.log().Info("extension installed", "extension", name, "copy", in.Copy, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// unpackOne installs an extension by reading its image in Go (copy2fs
// semantics), then runs its install script or writes its marker.
// because is the mount error that led here, if any.
func (in *Installer) unpackOne(ctx context.Context, image, name string, start time.Time, because error) error {
	u, err := unpackTree(image, in.root())
	if err != nil {
		return fmt.Errorf("tce: unpacking %s: %w", name, err)
	}
	if u.kept > 0 {
		in.log().Info("extension: existing files kept", "extension", name, "files", u.kept)
	}
	if in.root() == "/" {
		if u.libs {
			in.runTool(ctx, "ldconfig")
		}
		if u.modules {
			in.runTool(ctx, "depmod", "-a")
		}
	}
	if err := in.complete(ctx, name); err != nil {
		return err
	}
	attrs := []any{"extension", name, "unpacked", true, "entries", u.entries, "took", time.Since(start).Round(time.Millisecond)}
	if because != nil {
		attrs = append(attrs, "why", because.Error())
	}
	in.log().Info("extension installed", attrs...)
	return nil
}

// mounted reports whether dir holds something (a mount from an earlier
// run whose marker was not written).
func mounted(dir string) bool {
	ents, err := os.ReadDir(dir)
	return err == nil && len(ents) > 0
}

// isMeta reports whether an extension's tree is empty to depth 2 (only
// dependencies), as tce-load tests it.
func isMeta(mnt string) bool {
	ents, err := os.ReadDir(mnt)
	if err != nil {
		return false
	}
	for _, e := range ents {
		if !e.IsDir() {
			return false
		}
		sub, err := os.ReadDir(filepath.Join(mnt, e.Name()))
		if err != nil || len(sub) > 0 {
			return false
		}
	}
	return true
}

// afterLoad refreshes the library cache and, for an extension with
// modules for the running kernel, the module index, when the tools exist
// (Tiny Core has both; the debian base neither).
func (in *Installer) afterLoad(ctx context.Context, mnt string) {
	if in.root() != "/" {
		return
	}
	run := func(tool string, args ...string) { in.runTool(ctx, tool, args...) }
	for _, d := range []string{"usr/local/lib", "lib", "usr/lib"} {
		if fi, err := os.Stat(filepath.Join(mnt, d)); err == nil && fi.IsDir() {
			run("ldconfig")
			break
		}
	}
	if fi, err := os.Stat(filepath.Join(mnt, "usr/local/lib/modules", in.kernel())); err == nil && fi.IsDir() {
		run("depmod", "-a")
	}
}

// runTool runs a system tool when it exists, logging a failure.
func (in *Installer) runTool(ctx context.Context, tool string, args ...string) {
	p, err := exec.LookPath(tool)
	if err != nil {
		return
	}
	c, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(c, p, args...).CombinedOutput(); err != nil {
		in.log().Warn(tool+" failed", "err", err, "output", strings.TrimSpace(string(out)))
	}
}

// complete runs the extension's install script, or writes its marker.
func (in *Installer) complete(ctx context.Context, name string) error {
	base := strings.TrimSuffix(name, ".tcz")
	dir := filepath.Join(in.root(), InstalledDir)
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		// Tiny Core's tc-config makes it group-writable (root:staff 775).
		if err := os.MkdirAll(dir, 0o775); err != nil {
			return fmt.Errorf("tce: %w", err)
		}
		os.Chmod(dir, 0o775)
	}
	script := filepath.Join(dir, base)
	fi, err := os.Stat(script)
	if err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
		out, err := in.runScript(ctx, script)
		if len(out) > 0 {
			in.log().Info("install script output", "extension", name, "output", strings.TrimSpace(string(out)))
			if in.Output != nil {
				in.Output.Write(out)
			}
		}
		if err != nil {
			return fmt.Errorf("%w: %s: %w", ErrScript, script, err)
		}
		return nil
	}
	if _, err := os.Lstat(script); err == nil {
		// A file that is not an executable script: it is the marker.
		return nil
	}
	f, err := os.OpenFile(script, os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("tce: marker: %w", err)
	}
	return f.Close()
}

func (in *Installer) runScript(ctx context.Context, script string) ([]byte, error) {
	timeout := in.ScriptTimeout
	if timeout <= 0 {
		timeout = DefaultScriptTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if in.RunScript != nil {
		return in.RunScript(ctx, script)
	}
	head := make([]byte, 4)
	if f, err := os.Open(script); err == nil {
		n, _ := io.ReadFull(f, head)
		head = head[:n]
		f.Close()
	}
	var cmd *exec.Cmd
	if bytes.HasPrefix(head, []byte("#!")) || bytes.HasPrefix(head, []byte("\x7fELF")) {
		cmd = exec.CommandContext(ctx, script)
	} else {
		cmd = exec.CommandContext(ctx, "/bin/sh", script)
	}
	cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root"}
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = 5 * time.Second
	var out bytes.Buffer
	cmd.Stdout = &limitedBuffer{b: &out, max: 64 << 10}
	cmd.Stderr = cmd.Stdout
	err := cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("%w after %s", ctx.Err(), timeout)
	}
	return out.Bytes(), err
}

type limitedBuffer struct {
	b   *bytes.Buffer
	max int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := l.max - l.b.Len(); room > 0 {
		l.b.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}
