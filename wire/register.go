package wire

import (
	"bytes"
	"encoding/json"
	"mime"
	"net/url"
	"strings"
)

// Limits on a registration's facts.
const (
	MaxFactsBody   = 1 << 20 // bytes of a register request body
	MaxFacts       = 10000
	MaxFactNameLen = 256
	MaxFactValLen  = 64 << 10
)

// RegisterRequest is the body of POST <register path>.
type RegisterRequest struct {
	HWID      string            `json:"hw_id"`
	UUID      string            `json:"uuid,omitempty"`
	Facts     map[string]string `json:"attributes_hash"`
	LastState string            `json:"last_state"`
	Token     string            `json:"token,omitempty"`
}

// ContentTypeJSON is what our agent sends.
const ContentTypeJSON = "application/json"

// Encode returns the JSON body our agent posts.
func (r RegisterRequest) Encode() ([]byte, error) {
	if r.LastState == "" {
		r.LastState = "idle"
	}
	return json.Marshal(r)
}

// EncodeForm returns the body the original Razor microkernel posted: a
// form with one field, json_hash, holding "@"-prefixed keys.
func (r RegisterRequest) EncodeForm() (string, error) {
	ls := r.LastState
	if ls == "" {
		ls = "idle"
	}
	b, err := json.Marshal(map[string]any{
		"@hw_id":           r.HWID,
		"@attributes_hash": r.Facts,
		"@last_state":      ls,
	})
	if err != nil {
		return "", err
	}
	return url.Values{"json_hash": {string(b)}}.Encode(), nil
}

// ParseRegister decodes a register request body of any generation:
// a form field json_hash (Razor, "@"-prefixed keys), or a JSON body with
// hw_id or mac_id (Hanlon, ours), with any content type that is not a form.
// It validates and normalises identity and facts, naming the bad field.
func ParseRegister(contentType string, body []byte) (RegisterRequest, error) {
	return ParseRegisterRequest(contentType, nil, body)
}

// ParseRegisterRequest is ParseRegister that also takes the request's URL
// query: like the original server (Express's req.param), it reads
// json_hash from the body first and from the query string when the body
// has none.
func ParseRegisterRequest(contentType string, query url.Values, body []byte) (RegisterRequest, error) {
	var r RegisterRequest
	if len(body) > MaxFactsBody {
		return r, bad("body", "larger than %d bytes", MaxFactsBody)
	}
	raw := body
	mt, _, _ := mime.ParseMediaType(contentType)
	inQuery := query.Get("json_hash")
	if len(inQuery) > MaxFactsBody {
		return r, bad("json_hash", "larger than %d bytes", MaxFactsBody)
	}
	switch {
	case mt == "application/x-www-form-urlencoded" || (mt == "" && bytes.HasPrefix(body, []byte("json_hash="))):
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return r, bad("body", "form: %v", err)
		}
		jh := form.Get("json_hash")
		if jh == "" {
			jh = inQuery
		}
		if jh == "" {
			return r, missing("json_hash")
		}
		raw = []byte(jh)
	case len(bytes.TrimSpace(body)) == 0 && inQuery != "":
		raw = []byte(inQuery)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return r, bad("body", "JSON: %v", err)
	}
	field := func(k string) (json.RawMessage, bool) {
		if v, ok := m[k]; ok {
			return v, true
		}
		v, ok := m["@"+k]
		return v, ok
	}
	str := func(k string) (string, error) {
		v, ok := field(k)
		if !ok || string(v) == "null" {
			return "", nil
		}
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return "", bad(k, "not a string")
		}
		return s, nil
	}
	hw, err := str("hw_id")
	if err != nil {
		return r, err
	}
	mac, err := str("mac_id")
	if err != nil {
		return r, err
	}
	if hw == "" {
		hw = mac
	}
	if hw != "" {
		if r.HWID, err = NormalizeHWID(hw); err != nil {
			return r, bad("hw_id", "%v", err)
		}
	}
	u, err := str("uuid")
	if err != nil {
		return r, err
	}
	if u != "" {
		n, ok := NormalizeUUID(u)
		if ok {
			r.UUID = n
		}
	}
	if r.HWID == "" && r.UUID == "" {
		return r, missing("hw_id")
	}
	if r.LastState, err = str("last_state"); err != nil {
		return r, err
	}
	if r.LastState == "" {
		r.LastState = "idle"
	}
	if len(r.LastState) > 64 {
		return r, bad("last_state", "longer than 64 bytes")
	}
	if r.Token, err = str("token"); err != nil {
		return r, err
	}
	if len(r.Token) > 128 {
		return r, bad("token", "longer than 128 bytes")
	}
	fv, ok := field("attributes_hash")
	if !ok || string(fv) == "null" {
		return r, missing("attributes_hash")
	}
	if r.Facts, err = parseFacts(fv); err != nil {
		return r, err
	}
	if len(r.Facts) == 0 {
		return r, bad("attributes_hash", "empty")
	}
	return r, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}
