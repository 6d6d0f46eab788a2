package webui

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/razor-mk/razor-mk/server/core"
	"github.com/razor-mk/razor-mk/server/store"
)

type tagData struct {
	Tags  []core.TagInfo
	Tag   core.TagInfo
	Rule  string
	Nodes []nodeRow
	New   bool
	Field string // the field an error is about
	Error string
}

func (u *UI) tagsPage(w http.ResponseWriter, r *http.Request, s *session) {
	tags, err := u.o.Fleet.Tags(r.Context())
	if err != nil {
		u.fail(w, r, err)
		return
	}
	u.render(w, r, "tags", s, tagData{Tags: tags, New: true})
}

func (u *UI) tagPage(w http.ResponseWriter, r *http.Request, s *session) {
	t, err := u.o.Fleet.Tag(r.Context(), r.PathValue("name"))
	if err != nil {
		u.fail(w, r, err)
		return
	}
	d := tagData{Tag: t, Rule: string(t.Rule)}
	nodes, err := u.o.Fleet.Nodes(r.Context())
	if err != nil {
		u.fail(w, r, err)
		return
	}
	for _, n := range nodes {
		if slices.Contains(n.Tags, t.Name) {
			d.Nodes = append(d.Nodes, u.row(n, map[string]string{}))
		}
	}
	u.render(w, r, "tag", s, d)
}

// tagSave creates (POST /ui/tags) or updates (POST /ui/tags/{name}) a tag;
// a bad rule shows the form again with the error at its field.
func (u *UI) tagSave(w http.ResponseWriter, r *http.Request, s *session) {
	name, create := r.PathValue("name"), false
	if name == "" {
		name, create = strings.TrimSpace(r.PostFormValue("name")), true
	}
	rule := strings.TrimSpace(r.PostFormValue("rule"))
	var err error
	if !json.Valid([]byte(rule)) {
		err = &core.InputError{Field: "rule", Msg: "not JSON: write the rule as a JSON expression, e.g. [\"=\", [\"fact\", \"is_virtual\"], \"true\"]"}
	} else if create {
		_, err = u.o.Fleet.CreateTag(r.Context(), name, json.RawMessage(rule))
	} else {
		_, err = u.o.Fleet.UpdateTag(r.Context(), name, json.RawMessage(rule))
	}
	var ie *core.InputError
	if errors.As(err, &ie) || errors.Is(err, store.ErrExists) {
		d := tagData{Tag: core.TagInfo{Tag: store.Tag{Name: name}}, Rule: rule, New: create, Error: trimPrefixes(err.Error()), Field: "rule"}
		if ie != nil {
			d.Field = ie.Field
		} else {
			d.Field = "name"
		}
		if create {
			d.Tags, _ = u.o.Fleet.Tags(r.Context())
		}
		w.WriteHeader(http.StatusBadRequest)
		u.render(w, r, map[bool]string{true: "tags", false: "tag"}[create], s, d)
		return
	}
	if err != nil {
		u.fail(w, r, err)
		return
	}
	back(w, r, "/ui/tags/"+url.PathEscape(name), "tag "+name+" saved")
}

func (u *UI) tagDelete(w http.ResponseWriter, r *http.Request, _ *session) {
	name := r.PathValue("name")
	if err := u.o.Fleet.DeleteTag(r.Context(), name); err != nil {
		u.fail(w, r, err)
		return
	}
	back(w, r, "/ui/tags", "tag "+name+" deleted")
}
