package httpapi

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/razor-mk/razor-mk/server/bootscript"
	"github.com/razor-mk/razor-mk/server/core"
	"github.com/razor-mk/razor-mk/server/store"
	"github.com/razor-mk/razor-mk/wire"
)

// nodeFailure turns an error into a node API error reply.
func nodeFailure(err error) wire.Reply {
	var fe *wire.FieldError
	switch {
	case errors.As(err, &fe):
		r := wire.Failure(http.StatusBadRequest, fe.Error())
		r.Field = fe.Field
		return r
	case errors.Is(err, core.ErrTokenMismatch):
		r := wire.Failure(http.StatusForbidden, "token: not the current boot token of this node")
		r.Field = "token"
		return r
	case errors.Is(err, core.ErrTokenMissing):
		r := wire.Failure(http.StatusForbidden, "token: this node must present its boot token (razor.token=)")
		r.Field = "token"
		return r
	case errors.Is(err, store.ErrUnavailable):
		return wire.Failure(http.StatusServiceUnavailable, "store unavailable, try again later")
	}
	return wire.Failure(http.StatusInternalServerError, "internal error")
}

// checkin answers GET <base>/node/checkin.
func (h *Handler) checkin(base string) http.HandlerFunc {
	replies, secureReplies := h.replies[base], h.secureReplies[base]
	return func(w http.ResponseWriter, r *http.Request) {
		req, err := wire.ParseCheckinQuery(r.URL.Query())
		if err != nil {
			h.refuseInput(r, "checkin", err, r.URL.Query().Get("hw_id"))
			writeNode(w, nodeFailure(err))
			return
		}
		d, err := h.o.Core.Checkin(r.Context(), req)
		if err != nil {
			h.logNodeError("checkin", req.HWID, req.UUID, r, err)
			writeNode(w, nodeFailure(err))
			return
		}
		rs := replies
		if r.TLS != nil {
			rs = secureReplies
		}
		body, ok := rs[d.Command]
		if !ok {
			body = h.okReply(base, d.Command, r.TLS != nil)
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	}
}

// registerReply is the register answer: the envelope with the stored
// node in response, as the original returned it ("@"-prefixed keys).
type registerReply struct {
	ErrCode      int            `json:"errcode"`
	Result       string         `json:"result"`
	HTTPErrCode  int            `json:"http_err_code"`
	Response     registeredNode `json:"response"`
	ClientConfig any            `json:"client_config"`
}

type registeredNode struct {
	UUID       string   `json:"@uuid"`
	HWID       []string `json:"@hw_id"`
	SMBIOSUUID string   `json:"@smbios_uuid,omitempty"`
	Tags       []string `json:"@tags"`
	Status     string   `json:"@status"`
	LastState  string   `json:"@last_state"`
	Timestamp  int64    `json:"@timestamp"`
	Policy     string   `json:"@policy,omitempty"`
}

// register answers POST <base>/node/register.
func (h *Handler) register(base string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := h.readBody(w, r, wire.MaxFactsBody)
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				f := wire.Failure(http.StatusRequestEntityTooLarge, "body: larger than 1 MiB")
				f.Field = "body"
				writeNode(w, f)
				return
			}
			f := wire.Failure(http.StatusBadRequest, "body: "+err.Error())
			f.Field = "body"
			writeNode(w, f)
			return
		}
		req, err := wire.ParseRegisterRequest(r.Header.Get("Content-Type"), r.URL.Query(), body)
		if err != nil {
			h.refuseInput(r, "register", err, "")
			writeNode(w, nodeFailure(err))
			return
		}
		ni, _, err := h.o.Core.Register(r.Context(), req)
		if err != nil {
			h.logNodeError("register", req.HWID, req.UUID, r, err)
			writeNode(w, nodeFailure(err))
			return
		}
		rn := registeredNode{
			UUID: ni.ID, HWID: ni.MACs, SMBIOSUUID: ni.UUID, Tags: ni.Tags, Status: ni.State,
			LastState: ni.LastState, Timestamp: ni.Registered.Unix(), Policy: ni.Policy,
		}
		writeJSONRaw(w, http.StatusOK, registerReply{ErrCode: 0, Result: "Ok", HTTPErrCode: http.StatusOK, Response: rn, ClientConfig: h.clientConfig(base, r.TLS != nil)})
	}
}

func writeJSONRaw(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeNode(w, wire.Failure(http.StatusInternalServerError, "cannot encode the answer"))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(b)
}

// boot answers GET /boot.ipxe: without mac or uuid, the chain script that
// makes iPXE come back with them; with them, the node's script.
func (h *Handler) boot(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	q := r.URL.Query()
	if q.Get("mac") == "" && q.Get("uuid") == "" {
		h.o.Metrics.BootScript("chain")
		io.WriteString(w, bootscript.Chain(strings.TrimSuffix(h.o.ServerURL, "/")+"/boot.ipxe", h.o.BootRetry))
		return
	}
	res := h.o.Core.Boot(r.Context(), core.BootRequest{
		MAC: q.Get("mac"), UUID: q.Get("uuid"), Serial: q.Get("serial"), Arch: q.Get("arch"), Platform: q.Get("platform"),
		IP: remoteAddr(r),
	})
	io.WriteString(w, res.Script)
}

// bootGRUB serves the per-node GRUB configuration, the same decision as
// /boot.ipxe in GRUB's language (the TFTP server serves it as
// grub/node.cfg?…, for Debian's signed GRUB, which has no HTTP); without
// an identity, the configuration that reads it and asks again.
func (h *Handler) bootGRUB(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	q := r.URL.Query()
	if q.Get("mac") == "" && q.Get("uuid") == "" {
		h.o.Metrics.BootScript("chain")
		io.WriteString(w, bootscript.GRUBChain("/boot.grub", h.o.BootRetry))
		return
	}
	res := h.o.Core.Boot(r.Context(), core.BootRequest{
		MAC: q.Get("mac"), UUID: q.Get("uuid"), Serial: q.Get("serial"), Arch: q.Get("arch"), Platform: q.Get("platform"),
		IP: remoteAddr(r), Loader: bootscript.LoaderGRUB,
	})
	io.WriteString(w, res.Script)
}

// logNodeError logs a failed node request; a token refusal is a warning
// naming the node and the peer, never the token.
func (h *Handler) logNodeError(what, hwid, uuid string, r *http.Request, err error) {
	switch {
	case errors.Is(err, core.ErrTokenMismatch):
		h.log.Warn(what+" refused: stale or unknown boot token", "mac", hwid, "uuid", uuid, "remote", clientIP(r), "path", r.URL.Path)
	case errors.Is(err, core.ErrTokenMissing):
		h.log.Warn(what+" refused: boot token missing", "mac", hwid, "uuid", uuid, "remote", clientIP(r), "path", r.URL.Path)
	default:
		h.log.Error(what+" failed", "mac", hwid, "err", err)
	}
}
