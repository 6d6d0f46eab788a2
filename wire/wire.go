// Package wire defines the node protocol spoken between mk-agent and the
// checkin server, once, for both sides. It keeps the original Razor
// microkernel's paths and JSON shapes (GET checkin with query parameters, a
// reply envelope gated on errcode, POST register with a form field
// json_hash or a JSON body) and documents our additions: a per-boot node
// token, a long-poll wait, and the poweroff command.
//
// The package has no dependencies beyond the standard library so that the
// agent stays small.
package wire

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Protocol version of our additions; reported by the server in replies and
// by the agent in its User-Agent.
const ProtocolVersion = "1"

// Default endpoints and port of the original Razor node API.
const (
	DefaultPort = 8026
	// DefaultBasePath is the node API's base URI (DHCP option 226's default).
	DefaultBasePath     = "/razor/api"
	DefaultCheckinPath  = DefaultBasePath + "/node/checkin"
	DefaultRegisterPath = DefaultBasePath + "/node/register"
	// HanlonBasePath is Hanlon's base URI; the server accepts the node API
	// under it too.
	HanlonBasePath = "/hanlon/api/v1"
)

// The Razor/Hanlon site DHCP options: the server tells the microkernel where
// the node API is (Hanlon's install guide names them hanlon_server,
// hanlon_port and hanlon_base_uri).
const (
	OptionServer  = 224 // server IPv4 address, 4 bytes
	OptionPort    = 225 // server port, an unsigned integer (16 bits when we send it)
	OptionBaseURI = 226 // base URI of the node API, text
)

// MaxWait is the longest long-poll a server honours.
const MaxWait = 300 * time.Second

// Command is what the server tells a node to do next.
type Command string

// Commands. The first three are the original microkernel's; poweroff came
// with Hanlon 1.2.
const (
	Acknowledge Command = "acknowledge"
	Register    Command = "register"
	Reboot      Command = "reboot"
	Poweroff    Command = "poweroff"
)

// Valid reports whether c is a command a node understands.
func (c Command) Valid() bool {
	switch c {
	case Acknowledge, Register, Reboot, Poweroff:
		return true
	}
	return false
}

// Errors returned by the parsers in this package; callers use errors.Is.
var (
	ErrMissingField = errors.New("wire: missing field")
	ErrBadField     = errors.New("wire: bad field")
)

// FieldError names the request field that is wrong.
type FieldError struct {
	Field string
	Err   error  // ErrMissingField or ErrBadField
	Msg   string // human detail, may be empty
}

func (e *FieldError) Error() string {
	if e.Msg == "" {
		return fmt.Sprintf("%v: %s", e.Err, e.Field)
	}
	return fmt.Sprintf("%v: %s: %s", e.Err, e.Field, e.Msg)
}

func (e *FieldError) Unwrap() error { return e.Err }

func missing(field string) error { return &FieldError{Field: field, Err: ErrMissingField} }

func bad(field, format string, args ...any) error {
	return &FieldError{Field: field, Err: ErrBadField, Msg: fmt.Sprintf(format, args...)}
}

// CheckinRequest is the query of GET <checkin path>.
type CheckinRequest struct {
	// HWID is the node's Ethernet MACs, normalised (see NormalizeHWID).
	// Sent as hw_id (Razor) or mac_id (Hanlon).
	HWID string
	// UUID is the SMBIOS system UUID, normalised, or "" (Hanlon's uuid=).
	UUID string
	// LastState is what the node was doing; the original always sends "idle".
	LastState string
	// FirstCheckin is true until a registration has succeeded after boot.
	FirstCheckin bool
	// Token is the per-boot node token from the kernel command line
	// (razor.token=), or "". Our addition.
	Token string
	// Wait asks the server to hold an acknowledge for up to this long,
	// answering early when a command is queued for the node. Our addition.
	Wait time.Duration
}

// Query encodes r as the URL query the original microkernel sends:
// hw_id=<MACS>&last_state=idle[&first_checkin=true], then our additions.
func (r CheckinRequest) Query() url.Values {
	q := url.Values{}
	if r.HWID != "" {
		q.Set("hw_id", r.HWID)
	}
	if r.UUID != "" {
		q.Set("uuid", r.UUID)
	}
	ls := r.LastState
	if ls == "" {
		ls = "idle"
	}
	q.Set("last_state", ls)
	if r.FirstCheckin {
		q.Set("first_checkin", "true")
	}
	if r.Token != "" {
		q.Set("token", r.Token)
	}
	if r.Wait > 0 {
		q.Set("wait", strconv.Itoa(int(r.Wait/time.Second)))
	}
	return q
}

// ParseCheckinQuery decodes a checkin query from any generation of the
// microkernel: hw_id (Razor), mac_id and uuid (Hanlon), "@"-prefixed keys
// (Razor's sanitize_hash). At least one of hw_id/mac_id/uuid is required;
// last_state defaults to "idle".
func ParseCheckinQuery(q url.Values) (CheckinRequest, error) {
	if jh := q.Get("json_hash"); jh != "" {
		// The original server also took the parameters as one JSON
		// object in json_hash (its POST form); they fill in what the
		// query itself leaves out.
		var m map[string]any
		if err := json.Unmarshal([]byte(jh), &m); err != nil {
			return CheckinRequest{}, bad("json_hash", "not a JSON object: %v", err)
		}
		merged := url.Values{}
		for k, v := range m {
			switch x := v.(type) {
			case string:
				merged.Set(k, x)
			case bool:
				if x || !strings.HasSuffix(k, "first_checkin") {
					merged.Set(k, strconv.FormatBool(x))
				}
			case float64:
				merged.Set(k, strconv.FormatFloat(x, 'f', -1, 64))
			}
		}
		for k, vs := range q {
			if k != "json_hash" {
				merged[k] = vs
			}
		}
		q = merged
	}
	get := func(k string) string {
		if v := q.Get(k); v != "" {
			return v
		}
		return q.Get("@" + k)
	}
	var r CheckinRequest
	hw, mac := get("hw_id"), get("mac_id")
	if hw != "" && mac != "" && NormalizeHWIDLoose(hw) != NormalizeHWIDLoose(mac) {
		return r, bad("hw_id", "hw_id and mac_id disagree")
	}
	if hw == "" {
		hw = mac
	}
	if hw != "" {
		n, err := NormalizeHWID(hw)
		if err != nil {
			return r, bad("hw_id", "%v", err)
		}
		r.HWID = n
	}
	if u := get("uuid"); u != "" {
		n, ok := NormalizeUUID(u)
		if !ok && r.HWID == "" {
			// Razor accepted uuid as an alias of hw_id.
			h, err := NormalizeHWID(u)
			if err != nil {
				return r, bad("uuid", "neither an SMBIOS UUID nor MACs: %q", u)
			}
			r.HWID = h
		} else {
			r.UUID = n
		}
	}
	if r.HWID == "" && r.UUID == "" {
		return r, missing("hw_id")
	}
	r.LastState = get("last_state")
	if r.LastState == "" {
		r.LastState = "idle"
	}
	if len(r.LastState) > 64 {
		return r, bad("last_state", "longer than 64 bytes")
	}
	// The original server took the parameter's presence, whatever its
	// value, as true (a Ruby string is never false), and its microkernels
	// only send it while it is true.
	if q.Has("first_checkin") || q.Has("@first_checkin") {
		r.FirstCheckin = true
	}
	r.Token = get("token")
	if len(r.Token) > 128 {
		return r, bad("token", "longer than 128 bytes")
	}
	if w := get("wait"); w != "" {
		n, err := strconv.Atoi(w)
		if err != nil || n < 0 {
			return r, bad("wait", "not a non-negative number of seconds: %q", w)
		}
		r.Wait = min(time.Duration(n)*time.Second, MaxWait)
	}
	return r, nil
}

// Reply is the envelope of every node API answer. A node acts on a reply
// only when ErrCode is 0.
type Reply struct {
	ErrCode      int           `json:"errcode"`
	Result       string        `json:"result"`
	HTTPErrCode  int           `json:"http_err_code"`
	Response     *CommandReply `json:"response,omitempty"`
	ClientConfig *ClientConfig `json:"client_config,omitempty"`
	// Error names what was wrong when ErrCode is not 0. Our addition.
	Error string `json:"error,omitempty"`
	// Field is the request field that was wrong, when one was. Our
	// addition.
	Field string `json:"field,omitempty"`
}

// CommandReply carries the command of a checkin reply.
type CommandReply struct {
	CommandName  Command        `json:"command_name"`
	CommandParam map[string]any `json:"command_param"`
}

// OK returns a successful checkin reply carrying cmd and cfg.
func OK(cmd Command, cfg *ClientConfig) Reply {
	return Reply{
		ErrCode:      0,
		Result:       "Ok",
		HTTPErrCode:  200,
		Response:     &CommandReply{CommandName: cmd, CommandParam: map[string]any{}},
		ClientConfig: cfg,
	}
}

// Failure returns an error reply with the given HTTP status; errcode is
// non-zero so an original microkernel ignores it.
func Failure(status int, msg string) Reply {
	return Reply{ErrCode: 1, Result: msg, HTTPErrCode: status, Error: msg}
}

// Command returns the reply's command, or "" when the reply must be ignored
// (errcode not 0, no response, or an unknown command).
func (r Reply) Command() Command {
	if r.ErrCode != 0 || r.Response == nil || !r.Response.CommandName.Valid() {
		return ""
	}
	return r.Response.CommandName
}
