package webui

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/razor-mk/razor-mk/server/core"
	"github.com/razor-mk/razor-mk/server/store"
)

type policyData struct {
	Policies []store.Policy
	Policy   store.Policy
	Nodes    []nodeRow
	New      bool
	Field    string
	Error    string
	Kinds    []store.TargetKind
}

var targetKinds = []store.TargetKind{store.TargetKernel, store.TargetIPXE, store.TargetLocal, store.TargetPoweroff}

func (u *UI) policiesPage(w http.ResponseWriter, r *http.Request, s *session) {
	ps, err := u.o.Fleet.Policies(r.Context())
	if err != nil {
		u.fail(w, r, err)
		return
	}
	u.render(w, r, "policies", s, policyData{Policies: ps, New: true, Kinds: targetKinds, Policy: store.Policy{Enabled: true, Target: store.Target{Kind: store.TargetKernel}}})
}

func (u *UI) policyPage(w http.ResponseWriter, r *http.Request, s *session) {
	p, err := u.o.Fleet.Policy(r.Context(), r.PathValue("name"))
	if err != nil {
		u.fail(w, r, err)
		return
	}
	d := policyData{Policy: p, Kinds: targetKinds}
	nodes, err := u.o.Fleet.Nodes(r.Context())
	if err != nil {
		u.fail(w, r, err)
		return
	}
	for _, n := range nodes {
		if n.Policy == p.Name {
			d.Nodes = append(d.Nodes, u.row(n, map[string]string{}))
		}
	}
	u.render(w, r, "policy", s, d)
}

// policyFromForm reads a policy form; a field that does not parse is an
// InputError naming it.
func policyFromForm(r *http.Request, name string) (store.Policy, error) {
	f := r.PostFormValue
	p := store.Policy{Name: name, Enabled: f("enabled") == "on", Target: store.Target{
		Kind: store.TargetKind(f("kind")), Kernel: strings.TrimSpace(f("kernel")), Initrd: strings.TrimSpace(f("initrd")),
		Cmdline: strings.TrimSpace(f("cmdline")), Script: f("script"), Local: strings.TrimSpace(f("local")), Once: f("once") == "on",
		PowerCycle: f("power_cycle") == "on",
	}}
	var err error
	if p.Order, err = strconv.Atoi(cmp.Or(strings.TrimSpace(f("order")), "0")); err != nil {
		return p, &core.InputError{Field: "order", Msg: "not a whole number"}
	}
	if p.MaxCount, err = strconv.Atoi(cmp.Or(strings.TrimSpace(f("max_count")), "0")); err != nil {
		return p, &core.InputError{Field: "max_count", Msg: "not a whole number"}
	}
	sep := func(c rune) bool { return c == ',' || c == ' ' }
	for _, t := range strings.FieldsFunc(f("tags"), sep) {
		p.Tags = append(p.Tags, t)
	}
	for _, l := range strings.FieldsFunc(f("loaders"), sep) {
		p.Target.Loaders = append(p.Target.Loaders, l)
	}
	return p, nil
}

func (u *UI) policySave(w http.ResponseWriter, r *http.Request, s *session) {
	name, create := r.PathValue("name"), false
	if name == "" {
		name, create = strings.TrimSpace(r.PostFormValue("name")), true
	}
	p, err := policyFromForm(r, name)
	if err == nil {
		if create {
			_, err = u.o.Fleet.CreatePolicy(r.Context(), p)
		} else {
			_, err = u.o.Fleet.UpdatePolicy(r.Context(), p)
		}
	}
	var ie *core.InputError
	if errors.As(err, &ie) || errors.Is(err, store.ErrExists) {
		d := policyData{Policy: p, New: create, Kinds: targetKinds, Error: trimPrefixes(err.Error()), Field: "name"}
		if ie != nil {
			d.Field = ie.Field
		}
		if create {
			d.Policies, _ = u.o.Fleet.Policies(r.Context())
		}
		w.WriteHeader(http.StatusBadRequest)
		u.render(w, r, map[bool]string{true: "policies", false: "policy"}[create], s, d)
		return
	}
	if err != nil {
		u.fail(w, r, err)
		return
	}
	back(w, r, "/ui/policies/"+url.PathEscape(name), "policy "+name+" saved")
}

func (u *UI) policyToggle(w http.ResponseWriter, r *http.Request, _ *session) {
	p, err := u.o.Fleet.Policy(r.Context(), r.PathValue("name"))
	if err == nil {
		p.Enabled = !p.Enabled
		_, err = u.o.Fleet.UpdatePolicy(r.Context(), p)
	}
	if err != nil {
		u.fail(w, r, err)
		return
	}
	back(w, r, "/ui/policies", fmt.Sprintf("policy %s %s", p.Name, map[bool]string{true: "enabled", false: "disabled"}[p.Enabled]))
}

// policyMove swaps a policy's order with its neighbour's (dir up or down)
// in the order nodes are matched against them.
func (u *UI) policyMove(w http.ResponseWriter, r *http.Request, _ *session) {
	ps, err := u.o.Fleet.Policies(r.Context())
	if err != nil {
		u.fail(w, r, err)
		return
	}
	slices.SortStableFunc(ps, func(a, b store.Policy) int {
		return cmp.Or(cmp.Compare(a.Order, b.Order), strings.Compare(a.Name, b.Name))
	})
	i := slices.IndexFunc(ps, func(p store.Policy) bool { return p.Name == r.PathValue("name") })
	if i < 0 {
		u.fail(w, r, fmt.Errorf("policy %q: %w", r.PathValue("name"), store.ErrNotFound))
		return
	}
	j := i - 1
	if r.PostFormValue("dir") == "down" {
		j = i + 1
	}
	if j < 0 || j >= len(ps) {
		back(w, r, "/ui/policies", "policy "+ps[i].Name+" is already at that end")
		return
	}
	// Renumber in steps of 10 so that the swap needs no collision
	// handling and leaves room for manual orders.
	ps[i], ps[j] = ps[j], ps[i]
	for k := range ps {
		if want := (k + 1) * 10; ps[k].Order != want {
			ps[k].Order = want
			if _, err := u.o.Fleet.UpdatePolicy(r.Context(), ps[k]); err != nil {
				u.fail(w, r, err)
				return
			}
		}
	}
	back(w, r, "/ui/policies", "policy "+ps[j].Name+" moved "+r.PostFormValue("dir"))
}
