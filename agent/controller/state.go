package controller

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Files the controller keeps in its state directory. The directory is a
// tmpfs in the microkernel, so "since boot" holds for both.
const (
	// FirstCheckinFile holds "true" until a registration has succeeded
	// since boot, then "false"; a missing file means true.
	FirstCheckinFile = "first_checkin"
	// RegisteredFactsFile holds, as JSON, the facts of the last
	// successful registration, so that a restarted controller does not
	// register again unless they changed.
	RegisteredFactsFile = "registered_facts.json"
)

// state is what the controller remembers across in-process restarts and
// process restarts within one boot.
type state struct {
	dir          string // "" : memory only
	firstCheckin bool
	facts        map[string]string // of the last successful registration
	factsHash    string
}

// loadState reads dir; missing files mean a fresh boot. Unreadable or
// corrupt files are reported and treated as missing.
func loadState(dir string) (*state, error) {
	st := &state{dir: dir, firstCheckin: true}
	if dir == "" {
		return st, nil
	}
	var errs []error
	data, err := os.ReadFile(filepath.Join(dir, FirstCheckinFile))
	switch {
	case err == nil:
		switch v := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(string(data)), "---")); v {
		case "true":
		case "false":
			st.firstCheckin = false
		default:
			errs = append(errs, fmt.Errorf("%s: want true or false, got %q", FirstCheckinFile, truncate(v, 20)))
		}
	case !errors.Is(err, fs.ErrNotExist):
		errs = append(errs, err)
	}
	data, err = os.ReadFile(filepath.Join(dir, RegisteredFactsFile))
	switch {
	case err == nil:
		var facts map[string]string
		if err := json.Unmarshal(data, &facts); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", RegisteredFactsFile, err))
		} else {
			st.facts, st.factsHash = facts, factsHash(facts)
		}
	case !errors.Is(err, fs.ErrNotExist):
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return st, fmt.Errorf("controller: state %s: %w", dir, err)
	}
	return st, nil
}

// registered records a successful registration of facts.
func (st *state) registered(facts map[string]string) error {
	st.firstCheckin = false
	st.facts, st.factsHash = facts, factsHash(facts)
	if st.dir == "" {
		return nil
	}
	data, err := json.Marshal(facts)
	if err != nil {
		return fmt.Errorf("controller: state: %w", err)
	}
	if err := os.MkdirAll(st.dir, 0o755); err != nil {
		return fmt.Errorf("controller: state: %w", err)
	}
	if err := writeFileAtomic(filepath.Join(st.dir, RegisteredFactsFile), data, 0o644); err != nil {
		return fmt.Errorf("controller: state: %w", err)
	}
	if err := writeFileAtomic(filepath.Join(st.dir, FirstCheckinFile), []byte("false\n"), 0o644); err != nil {
		return fmt.Errorf("controller: state: %w", err)
	}
	return nil
}

// factsHash is a digest of a fact map; json.Marshal sorts map keys, so
// equal maps hash equally.
func factsHash(facts map[string]string) string {
	data, _ := json.Marshal(facts)
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// changedFacts names the facts that differ between old and new, sorted,
// at most limit of them.
func changedFacts(old, new map[string]string, limit int) []string {
	var out []string
	for k, v := range new {
		if ov, ok := old[k]; !ok || ov != v {
			out = append(out, k)
		}
	}
	for k := range old {
		if _, ok := new[k]; !ok {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	if len(out) > limit {
		out = append(out[:limit], "…")
	}
	return out
}

// writeFileAtomic replaces path with data: a temporary file in the same
// directory, fsync, rename over path, fsync of the directory. Readers see
// the old or the new content, never a partial one.
func writeFileAtomic(path string, data []byte, perm os.FileMode) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err = tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if err = tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}
