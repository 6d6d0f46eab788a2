package initramfs

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
)

// ChangeKind says whether a path was added, removed or changed.
type ChangeKind string

// The change kinds.
const (
	Added   ChangeKind = "added"
	Removed ChangeKind = "removed"
	Changed ChangeKind = "changed"
)

// Change is one difference between two archives.
type Change struct {
	Name string
	Kind ChangeKind
	// Fields lists what changed, for Changed: type, mode, owner, size,
	// content, target (of a symlink or hardlink), device.
	Fields []FieldChange
}

// FieldChange is one changed attribute, rendered for people.
type FieldChange struct {
	Field    string
	Old, New string
}

// String renders the change on one line: "+ name", "- name", or
// "~ name: size 10 -> 12, content".
func (c Change) String() string {
	switch c.Kind {
	case Added:
		return "+ " + c.Name
	case Removed:
		return "- " + c.Name
	}
	parts := make([]string, 0, len(c.Fields))
	for _, f := range c.Fields {
		if f.Old == "" && f.New == "" {
			parts = append(parts, f.Field)
		} else {
			parts = append(parts, fmt.Sprintf("%s %s -> %s", f.Field, f.Old, f.New))
		}
	}
	return "~ " + c.Name + ": " + strings.Join(parts, ", ")
}

// Diff compares two archives path by path and returns the paths only in
// new (added), only in old (removed) and in both but different (changed),
// sorted by name. Contents are compared byte for byte (Source files are
// read; one that cannot be read counts as changed content).
func Diff(old, new *Archive) []Change {
	var out []Change
	for _, r := range old.Records() {
		n, ok := new.recs[r.Name]
		if !ok {
			out = append(out, Change{Name: r.Name, Kind: Removed})
			continue
		}
		if f := compareRecords(r, n); len(f) > 0 {
			out = append(out, Change{Name: r.Name, Kind: Changed, Fields: f})
		}
	}
	for _, r := range new.Records() {
		if _, ok := old.recs[r.Name]; !ok {
			out = append(out, Change{Name: r.Name, Kind: Added})
		}
	}
	slices.SortStableFunc(out, func(x, y Change) int { return compareNames(x.Name, y.Name) })
	return out
}

func compareRecords(o, n Record) []FieldChange {
	var f []FieldChange
	if o.Type != n.Type {
		f = append(f, FieldChange{"type", o.Type.String(), n.Type.String()})
	}
	if o.Type != TypeHardlink && n.Type != TypeHardlink {
		if o.ModeString() != n.ModeString() {
			f = append(f, FieldChange{"mode", o.ModeString(), n.ModeString()})
		}
		if o.UID != n.UID || o.GID != n.GID {
			f = append(f, FieldChange{"owner", fmt.Sprintf("%d:%d", o.UID, o.GID), fmt.Sprintf("%d:%d", n.UID, n.GID)})
		}
	}
	if o.Type == TypeFile && n.Type == TypeFile {
		os, ns := o.Size(), n.Size()
		if os != ns {
			f = append(f, FieldChange{"size", fmt.Sprint(os), fmt.Sprint(ns)})
		}
		oc, oerr := o.Content()
		nc, nerr := n.Content()
		if oerr != nil || nerr != nil || !bytes.Equal(oc, nc) {
			f = append(f, FieldChange{Field: "content"})
		}
	}
	if (o.Type == TypeSymlink || o.Type == TypeHardlink) && o.Type == n.Type && o.Target != n.Target {
		f = append(f, FieldChange{"target", o.Target, n.Target})
	}
	if (o.Type == TypeCharDevice || o.Type == TypeBlockDevice) && o.Type == n.Type && (o.Major != n.Major || o.Minor != n.Minor) {
		f = append(f, FieldChange{"device", fmt.Sprintf("%d,%d", o.Major, o.Minor), fmt.Sprintf("%d,%d", n.Major, n.Minor)})
	}
	return f
}
