package httpapi

import (
	"net/http"

	"github.com/razor-mk/razor-mk/server/adminapi"
	"github.com/razor-mk/razor-mk/server/core"
	"github.com/razor-mk/razor-mk/server/power"
)

// bmcJSON shows a credential: never its password.
func bmcJSON(b core.BMCInfo) adminapi.BMCCredential {
	return adminapi.BMCCredential{Scope: b.Scope, Host: b.Host, Port: b.Port, Username: b.Username,
		PasswordSet: b.PasswordSet, Updated: tp(b.Updated)}
}

func powerJSON(r core.PowerResult) adminapi.PowerResult {
	return adminapi.PowerResult{Node: r.Node, Action: string(r.Action), State: string(r.State), BMC: r.BMC, Credential: r.Credential}
}

func (h *Handler) listBMC(w http.ResponseWriter, r *http.Request) {
	bs, err := h.o.Core.BMCs(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := adminapi.BMCList{Credentials: make([]adminapi.BMCCredential, len(bs))}
	for i, b := range bs {
		out.Credentials[i] = bmcJSON(b)
	}
	writeJSON(w, http.StatusOK, out)
}

func (h *Handler) getBMC(w http.ResponseWriter, r *http.Request) {
	b, err := h.o.Core.BMC(r.Context(), r.PathValue("scope"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, bmcJSON(b))
}

func (h *Handler) setBMC(w http.ResponseWriter, r *http.Request) {
	var req adminapi.BMCRequest
	if !h.decode(w, r, &req) {
		return
	}
	b, err := h.o.Core.SetBMC(r.Context(), r.PathValue("scope"), core.BMCInput{Host: req.Host, Port: req.Port, Username: req.Username, Password: req.Password})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, bmcJSON(b))
}

func (h *Handler) deleteBMC(w http.ResponseWriter, r *http.Request) {
	if err := h.o.Core.DeleteBMC(r.Context(), r.PathValue("scope")); err != nil {
		h.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) powerNode(w http.ResponseWriter, r *http.Request) {
	var req adminapi.PowerRequest
	if !h.decode(w, r, &req) {
		return
	}
	res, err := h.o.Core.Power(r.Context(), r.PathValue("id"), power.Action(req.Action))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, powerJSON(res))
}

func (h *Handler) bindNode(w http.ResponseWriter, r *http.Request) {
	var req adminapi.BindRequest
	if !h.decode(w, r, &req) {
		return
	}
	res, err := h.o.Core.Bind(r.Context(), r.PathValue("id"), req.Policy)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := adminapi.BindResult{Node: nodeJSON(res.Node)}
	if res.Power != nil {
		p := powerJSON(*res.Power)
		out.Power = &p
	}
	if res.PowerErr != nil {
		out.PowerError = trimCore(res.PowerErr.Error())
	}
	writeJSON(w, http.StatusOK, out)
}
