package modprobe

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/razor-mk/razor-mk/kmod"
)

// Options configures a Prober. Only Dir is required.
type Options struct {
	// Dir is the modules directory holding modules.dep and modules.alias,
	// e.g. /lib/modules/6.1.0-26-amd64.
	Dir string
	// Load inserts a module; nil means LoadFile (the real syscalls).
	Load LoadFunc
	// Loaded names the modules already in the kernel (see ReadProcModules).
	Loaded []string
	// Blacklist names modules never loaded for a device alias, as
	// modprobe's "blacklist" and the kernel's modprobe.blacklist=. A module
	// asked for by name is still loaded.
	Blacklist []string
	// Params holds module parameters by module name ("key=value ..."),
	// e.g. from the kernel command line's "virtio_net.napi_tx=1".
	Params map[string]string
	// Logger receives one line per module loaded or failed; nil discards.
	Logger *slog.Logger
}

// Prober loads modules by name or by device modalias, with their
// dependencies, remembering what it loaded and what failed so that
// nothing is tried twice. It is safe for concurrent use: modules for
// different devices load in parallel, and a module several callers need
// is loaded once while the others wait for it.
type Prober struct {
	dir       string
	load      LoadFunc
	log       *slog.Logger
	deps      map[string]Module
	aliases   []Alias
	builtin   map[string]bool
	blacklist map[string]bool
	params    map[string]string

	mu     sync.Mutex
	state  map[string]*loadState
	loaded []string // loaded by this Prober, in order
}

// loadState is one module's load, finished when done is closed.
type loadState struct {
	done chan struct{}
	err  error // nil: loaded
}

func finished(err error) *loadState {
	s := &loadState{done: make(chan struct{}), err: err}
	close(s.done)
	return s
}

// NewProber reads Dir's modules.dep, modules.alias and (if present)
// modules.builtin. A missing modules.dep or modules.alias is an error
// wrapping fs.ErrNotExist.
func NewProber(cfg Options) (*Prober, error) {
	p := &Prober{
		dir:       cfg.Dir,
		load:      cfg.Load,
		log:       cfg.Logger,
		builtin:   map[string]bool{},
		blacklist: map[string]bool{},
		params:    map[string]string{},
		state:     map[string]*loadState{},
	}
	if p.load == nil {
		p.load = LoadFile
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	var err error
	if p.deps, err = readIndex(filepath.Join(cfg.Dir, "modules.dep"), ParseDep); err != nil {
		return nil, err
	}
	if p.aliases, err = readIndex(filepath.Join(cfg.Dir, "modules.alias"), ParseAliases); err != nil {
		return nil, err
	}
	builtin, err := readIndex(filepath.Join(cfg.Dir, "modules.builtin"), kmod.ParseBuiltin)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	for _, n := range builtin {
		p.builtin[n] = true
	}
	for _, n := range cfg.Loaded {
		p.state[kmod.Name(n)] = finished(nil)
	}
	for _, n := range cfg.Blacklist {
		p.blacklist[kmod.Name(n)] = true
	}
	for n, v := range cfg.Params {
		p.params[kmod.Name(n)] = v
	}
	return p, nil
}

func readIndex[T any](path string, parse func(io.Reader) (T, error)) (T, error) {
	f, err := os.Open(path)
	if err != nil {
		var zero T
		return zero, fmt.Errorf("modprobe: %w", err)
	}
	defer f.Close()
	v, err := parse(f)
	if err != nil {
		return v, fmt.Errorf("%s: %w", path, err)
	}
	return v, nil
}

// ReadProcModules returns the module names listed in /proc/modules
// format (the first field of each line).
func ReadProcModules(r io.Reader) ([]string, error) {
	sc := bufio.NewScanner(r)
	var out []string
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) > 0 {
			out = append(out, f[0])
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("modprobe: reading loaded modules: %w", err)
	}
	return out, nil
}

// Probe loads the module name (or makes sure it is built in or already
// loaded) after its dependencies, with params added to any configured
// ones. It returns the modules it newly loaded.
func (p *Prober) Probe(name, params string) ([]string, error) {
	name = kmod.Name(name)
	if p.builtin[name] {
		return nil, nil
	}
	order, err := LoadOrder(p.deps, name)
	if err != nil {
		return nil, err
	}
	var fresh []string
	for _, m := range order {
		if p.builtin[m.Name] {
			continue
		}
		p.mu.Lock()
		st, seen := p.state[m.Name]
		if !seen {
			st = &loadState{done: make(chan struct{})}
			p.state[m.Name] = st
		}
		p.mu.Unlock()
		if seen {
			<-st.done
			if st.err != nil {
				return fresh, fmt.Errorf("modprobe: %s: earlier failure: %w", name, st.err)
			}
			continue
		}
		args := p.params[m.Name]
		if m.Name == name && params != "" {
			args = strings.TrimSpace(args + " " + params)
		}
		path := m.Path
		if !filepath.IsAbs(path) {
			path = filepath.Join(p.dir, path)
		}
		st.err = p.load(path, args)
		close(st.done)
		if st.err != nil {
			p.log.Warn("module load failed", "module", m.Name, "err", st.err)
			return fresh, fmt.Errorf("modprobe: %s: %w", name, st.err)
		}
		p.mu.Lock()
		p.loaded = append(p.loaded, m.Name)
		p.mu.Unlock()
		fresh = append(fresh, m.Name)
		p.log.Info("module loaded", "module", m.Name, "params", args)
	}
	return fresh, nil
}

// ProbeAlias loads every non-blacklisted module whose alias matches
// modalias, as "modprobe <modalias>" does. It returns the modules it newly
// loaded and the errors of those that failed, joined.
func (p *Prober) ProbeAlias(modalias string) ([]string, error) {
	var fresh []string
	var errs []error
	for _, m := range Lookup(p.aliases, modalias) {
		if p.blacklist[m] {
			p.log.Debug("module blacklisted", "module", m, "modalias", modalias)
			continue
		}
		got, err := p.Probe(m, "")
		fresh = append(fresh, got...)
		if err != nil {
			errs = append(errs, err)
		}
	}
	return fresh, errors.Join(errs...)
}

// Loaded returns the modules this Prober loaded, in load order.
func (p *Prober) Loaded() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.loaded)
}
