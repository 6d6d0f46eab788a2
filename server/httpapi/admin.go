package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/razor-mk/razor-mk/server/adminapi"
	"github.com/razor-mk/razor-mk/server/core"
	"github.com/razor-mk/razor-mk/server/power"
	"github.com/razor-mk/razor-mk/server/secretbox"
	"github.com/razor-mk/razor-mk/server/store"
	"github.com/razor-mk/razor-mk/wire"
)

func (h *Handler) adminRoutes() {
	b := adminapi.BasePath
	routes := []struct {
		pattern string
		fn      http.HandlerFunc
	}{
		{"GET " + b + "/nodes", h.listNodes},
		{"GET " + b + "/nodes/{id}", h.getNode},
		{"DELETE " + b + "/nodes/{id}", h.deleteNode},
		{"POST " + b + "/nodes/{id}/policy", h.bindNode},
		{"DELETE " + b + "/nodes/{id}/policy", h.unbindNode},
		{"POST " + b + "/nodes/{id}/power", h.powerNode},
		{"GET " + b + "/nodes/{id}/commands", h.listCommands},
		{"POST " + b + "/nodes/{id}/commands", h.queueCommand},
		{"GET " + b + "/tags", h.listTags},
		{"POST " + b + "/tags", h.createTag},
		{"GET " + b + "/tags/{name}", h.getTag},
		{"PUT " + b + "/tags/{name}", h.updateTag},
		{"DELETE " + b + "/tags/{name}", h.deleteTag},
		{"GET " + b + "/policies", h.listPolicies},
		{"POST " + b + "/policies", h.createPolicy},
		{"GET " + b + "/policies/{name}", h.getPolicy},
		{"PUT " + b + "/policies/{name}", h.updatePolicy},
		{"DELETE " + b + "/policies/{name}", h.deletePolicy},
	}
	for _, rt := range routes {
		// Reading needs a viewer, acting an operator; deleting a node
		// (its facts and history) is an admin's.
		need := store.RoleOperator
		switch {
		case strings.HasPrefix(rt.pattern, "GET "):
			need = store.RoleViewer
		case rt.pattern == "DELETE "+b+"/nodes/{id}":
			need = store.RoleAdmin
		}
		h.mux.Handle(rt.pattern, h.observe("admin", h.admin(need, rt.fn)))
	}
	for _, rt := range []struct {
		pattern string
		fn      http.HandlerFunc
	}{
		{"GET " + b + "/tokens", h.listTokens},
		{"POST " + b + "/tokens", h.createToken},
		{"DELETE " + b + "/tokens/{name}", h.revokeToken},
		// BMC credentials, even without their passwords, are an
		// admin's: they say who may switch which machine.
		{"GET " + b + "/bmc", h.listBMC},
		{"GET " + b + "/bmc/{scope}", h.getBMC},
		{"PUT " + b + "/bmc/{scope}", h.setBMC},
		{"DELETE " + b + "/bmc/{scope}", h.deleteBMC},
	} {
		h.mux.Handle(rt.pattern, h.observe("admin", h.admin(store.RoleAdmin, rt.fn)))
	}
	// Anything else under the API: a JSON 404 (after the token check, so
	// that the API's shape is not probed anonymously).
	h.mux.Handle(b+"/", h.observe("admin", h.admin(store.RoleViewer, func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "", fmt.Sprintf("no route %s %s", r.Method, r.URL.Path))
	})))
}

// fail maps a core error to an admin API error.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	var ie *core.InputError
	switch {
	case errors.As(err, &ie):
		writeError(w, http.StatusBadRequest, ie.Field, ie.Error())
	case errors.Is(err, store.ErrNotFound):
		writeError(w, http.StatusNotFound, "", trimPrefixes(err.Error()))
	case errors.Is(err, store.ErrExists), errors.Is(err, store.ErrInUse), errors.Is(err, store.ErrBound), errors.Is(err, store.ErrStale), errors.Is(err, store.ErrDelivered):
		writeError(w, http.StatusConflict, "", trimPrefixes(err.Error()))
	case errors.Is(err, core.ErrNoBMC):
		writeError(w, http.StatusConflict, "", trimCore(err.Error()))
	case errors.Is(err, power.ErrBMC):
		writeError(w, http.StatusBadGateway, "", trimCore(err.Error()))
	case errors.Is(err, core.ErrNoPower):
		writeError(w, http.StatusServiceUnavailable, "", trimCore(err.Error()))
	case errors.Is(err, secretbox.ErrWrongKey), errors.Is(err, secretbox.ErrCorrupt), errors.Is(err, secretbox.ErrNoKey):
		h.log.Error("BMC credential cannot be opened", "method", r.Method, "path", r.URL.Path, "err", err)
		writeError(w, http.StatusInternalServerError, "", trimCore(err.Error()))
	case errors.Is(err, store.ErrUnavailable):
		h.log.Warn("admin request failed: store unavailable", "method", r.Method, "path", r.URL.Path, "err", err)
		writeError(w, http.StatusServiceUnavailable, "", "store unavailable, try again later")
	default:
		h.log.Error("admin request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		writeError(w, http.StatusInternalServerError, "", "internal error")
	}
}

// trimPrefixes drops the package prefixes of wrapped errors for the
// operator: "core: node node9: store: not found: node node9" → "not found:
// node node9".
func trimPrefixes(s string) string {
	if i := strings.LastIndex(s, "store: "); i >= 0 {
		return s[i+len("store: "):]
	}
	return s
}

// trimCore drops the "core: " prefixes of an error.
func trimCore(s string) string {
	for {
		t, ok := strings.CutPrefix(s, "core: ")
		if !ok {
			return s
		}
		s = t
	}
}

// decode reads a JSON body strictly into v; the error names the field.
func (h *Handler) decode(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := h.readBody(w, r, adminapi.MaxBody)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(w, http.StatusRequestEntityTooLarge, "body", fmt.Sprintf("body: larger than %d bytes", adminapi.MaxBody))
			return false
		}
		writeError(w, http.StatusBadRequest, "body", "body: "+err.Error())
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		field, msg := "body", err.Error()
		var te *json.UnmarshalTypeError
		var se *json.SyntaxError
		switch {
		case errors.As(err, &te):
			field = te.Field
			msg = fmt.Sprintf("%s: want a JSON %s, got %s", te.Field, te.Type, te.Value)
		case errors.As(err, &se):
			msg = fmt.Sprintf("body: bad JSON at byte %d: %v", se.Offset, err)
		case strings.HasPrefix(msg, "json: unknown field "):
			field = strings.Trim(strings.TrimPrefix(msg, "json: unknown field "), `"`)
			msg = field + ": unknown field"
		case errors.Is(err, io.EOF):
			msg = "body: empty, want a JSON object"
		default:
			msg = "body: " + msg
		}
		writeError(w, http.StatusBadRequest, field, msg)
		return false
	}
	if dec.More() {
		writeError(w, http.StatusBadRequest, "body", "body: more than one JSON value")
		return false
	}
	return true
}

func tp(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func colonMACs(ms []string) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = wire.ColonMAC(m)
	}
	return out
}

func nodeJSON(n core.NodeInfo) adminapi.Node {
	return adminapi.Node{
		ID: n.ID, UUID: n.UUID, MACs: colonMACs(n.MACs), State: n.State, Tags: n.Tags,
		Policy: n.Policy, BoundAt: tp(n.BoundAt), BootState: string(n.BootState), BootStateAt: tp(n.BootStateAt),
		LastState: n.LastState, Created: n.Created.UTC(), Registered: n.Registered.UTC(), LastCheckin: tp(n.LastCheckin),
		PendingCommands: n.Pending, Facts: n.Facts,
		IP: n.IP, Serial: n.Serial, Product: n.Product,
	}
}

func commandJSON(c store.Command) adminapi.Command {
	return adminapi.Command{ID: c.ID, Node: c.NodeID, Command: c.Name, Queued: c.Queued.UTC(), Delivered: tp(c.Delivered)}
}

func (h *Handler) listNodes(w http.ResponseWriter, r *http.Request) {
	f, ok := nodeFilter(w, r)
	if !ok {
		return
	}
	ns, err := h.o.Core.FilterNodes(r.Context(), f)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := adminapi.NodeList{Nodes: make([]adminapi.Node, len(ns))}
	for i, n := range ns {
		out.Nodes[i] = nodeJSON(n)
	}
	writeJSON(w, http.StatusOK, out)
}

func (h *Handler) getNode(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	n, err := h.o.Core.Node(r.Context(), id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	cs, err := h.o.Core.Commands(r.Context(), n.ID) // id may have been a MAC, UUID or serial
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := nodeJSON(n)
	for _, c := range cs {
		out.Commands = append(out.Commands, commandJSON(c))
	}
	writeJSON(w, http.StatusOK, out)
}

func (h *Handler) deleteNode(w http.ResponseWriter, r *http.Request) {
	if err := h.o.Core.DeleteNode(r.Context(), r.PathValue("id")); err != nil {
		h.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) unbindNode(w http.ResponseWriter, r *http.Request) {
	n, err := h.o.Core.Unbind(r.Context(), r.PathValue("id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, nodeJSON(n))
}

func (h *Handler) listCommands(w http.ResponseWriter, r *http.Request) {
	cs, err := h.o.Core.Commands(r.Context(), r.PathValue("id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := adminapi.CommandList{Commands: make([]adminapi.Command, len(cs))}
	for i, c := range cs {
		out.Commands[i] = commandJSON(c)
	}
	writeJSON(w, http.StatusOK, out)
}

func (h *Handler) queueCommand(w http.ResponseWriter, r *http.Request) {
	var req adminapi.CommandRequest
	if !h.decode(w, r, &req) {
		return
	}
	c, err := h.o.Core.QueueCommand(r.Context(), r.PathValue("id"), req.Command)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, commandJSON(c))
}

func tagJSON(t core.TagInfo) adminapi.Tag {
	return adminapi.Tag{Name: t.Name, Rule: t.Rule, Refs: t.Refs, Nodes: t.Nodes, Created: tp(t.Created), Updated: tp(t.Updated)}
}

func (h *Handler) listTags(w http.ResponseWriter, r *http.Request) {
	ts, err := h.o.Core.Tags(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := adminapi.TagList{Tags: make([]adminapi.Tag, len(ts))}
	for i, t := range ts {
		out.Tags[i] = tagJSON(t)
	}
	writeJSON(w, http.StatusOK, out)
}

func (h *Handler) getTag(w http.ResponseWriter, r *http.Request) {
	t, err := h.o.Core.Tag(r.Context(), r.PathValue("name"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, tagJSON(t))
}

func (h *Handler) createTag(w http.ResponseWriter, r *http.Request) {
	var req adminapi.TagRequest
	if !h.decode(w, r, &req) {
		return
	}
	t, err := h.o.Core.CreateTag(r.Context(), req.Name, req.Rule)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, tagJSON(t))
}

func (h *Handler) updateTag(w http.ResponseWriter, r *http.Request) {
	var req adminapi.TagRequest
	if !h.decode(w, r, &req) {
		return
	}
	name := r.PathValue("name")
	if req.Name != "" && req.Name != name {
		writeError(w, http.StatusBadRequest, "name", fmt.Sprintf("name: %q differs from the URL's %q (tags cannot be renamed)", req.Name, name))
		return
	}
	t, err := h.o.Core.UpdateTag(r.Context(), name, req.Rule)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, tagJSON(t))
}

func (h *Handler) deleteTag(w http.ResponseWriter, r *http.Request) {
	if err := h.o.Core.DeleteTag(r.Context(), r.PathValue("name")); err != nil {
		h.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func policyJSON(p store.Policy) adminapi.Policy {
	en := p.Enabled
	tags := p.Tags
	if tags == nil {
		tags = []string{}
	}
	return adminapi.Policy{
		Name: p.Name, Order: p.Order, Enabled: &en, Tags: tags, MaxCount: p.MaxCount, Bound: p.Count,
		Target: adminapi.Target{Kind: string(p.Target.Kind), Kernel: p.Target.Kernel, Initrd: p.Target.Initrd,
			Cmdline: p.Target.Cmdline, Script: p.Target.Script, Local: p.Target.Local, Once: p.Target.Once, Loaders: p.Target.Loaders,
			PowerCycle: p.Target.PowerCycle},
		Created: tp(p.Created), Updated: tp(p.Updated),
	}
}

func policyFrom(p adminapi.Policy) store.Policy {
	t := p.Target
	return store.Policy{
		Name: p.Name, Order: p.Order, Enabled: p.IsEnabled(), Tags: p.Tags, MaxCount: p.MaxCount,
		Target: store.Target{Kind: store.TargetKind(t.Kind), Kernel: t.Kernel, Initrd: t.Initrd, Cmdline: t.Cmdline,
			Script: t.Script, Local: t.Local, Once: t.Once, Loaders: t.Loaders, PowerCycle: t.PowerCycle},
	}
}

func (h *Handler) listPolicies(w http.ResponseWriter, r *http.Request) {
	ps, err := h.o.Core.Policies(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := adminapi.PolicyList{Policies: make([]adminapi.Policy, len(ps))}
	for i, p := range ps {
		out.Policies[i] = policyJSON(p)
	}
	writeJSON(w, http.StatusOK, out)
}

func (h *Handler) getPolicy(w http.ResponseWriter, r *http.Request) {
	p, err := h.o.Core.Policy(r.Context(), r.PathValue("name"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, policyJSON(p))
}

// policyOptions reads ?allow_unknown_tags=true (or 1).
func policyOptions(r *http.Request) core.PolicyOptions {
	v := r.URL.Query().Get("allow_unknown_tags")
	return core.PolicyOptions{AllowUnknownTags: v == "true" || v == "1"}
}

func (h *Handler) createPolicy(w http.ResponseWriter, r *http.Request) {
	var req adminapi.Policy
	if !h.decode(w, r, &req) {
		return
	}
	p, err := h.o.Core.CreatePolicy(r.Context(), policyFrom(req), policyOptions(r))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, policyJSON(p))
}

func (h *Handler) updatePolicy(w http.ResponseWriter, r *http.Request) {
	var req adminapi.Policy
	if !h.decode(w, r, &req) {
		return
	}
	name := r.PathValue("name")
	if req.Name == "" {
		req.Name = name
	}
	if req.Name != name {
		writeError(w, http.StatusBadRequest, "name", fmt.Sprintf("name: %q differs from the URL's %q (policies cannot be renamed)", req.Name, name))
		return
	}
	p, err := h.o.Core.UpdatePolicy(r.Context(), policyFrom(req), policyOptions(r))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, policyJSON(p))
}

func (h *Handler) deletePolicy(w http.ResponseWriter, r *http.Request) {
	if err := h.o.Core.DeletePolicy(r.Context(), r.PathValue("name")); err != nil {
		h.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
