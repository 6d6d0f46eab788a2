package wire

import (
	"encoding/json"
	"fmt"
)

// MaxReplyBody bounds what an agent reads of a reply.
const MaxReplyBody = 1 << 20

// ParseReply decodes a checkin or register reply. It fails only on
// malformed JSON; a reply with a non-zero errcode decodes fine and its
// Command() is "". A client_config that does not validate is dropped and
// reported in cfgErr, so the caller keeps its running config.
func ParseReply(data []byte) (r Reply, cfgErr error, err error) {
	if len(data) > MaxReplyBody {
		return r, nil, fmt.Errorf("wire: reply larger than %d bytes", MaxReplyBody)
	}
	var raw struct {
		ErrCode      json.RawMessage `json:"errcode"`
		Result       string          `json:"result"`
		HTTPErrCode  int             `json:"http_err_code"`
		Response     json.RawMessage `json:"response"`
		ClientConfig json.RawMessage `json:"client_config"`
		Error        string          `json:"error"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return r, nil, fmt.Errorf("wire: reply: %w", err)
	}
	r.Result, r.HTTPErrCode, r.Error = raw.Result, raw.HTTPErrCode, raw.Error
	// The original server sent errcode as a number; be lenient with strings.
	r.ErrCode = 1
	if len(raw.ErrCode) > 0 {
		var n int
		if json.Unmarshal(raw.ErrCode, &n) == nil {
			r.ErrCode = n
		} else {
			var s string
			if json.Unmarshal(raw.ErrCode, &s) == nil && s == "0" {
				r.ErrCode = 0
			}
		}
	}
	if len(raw.Response) > 0 && string(raw.Response) != "null" {
		var cr CommandReply
		// A register reply carries the node in "response"; only a
		// command-shaped object counts as a command.
		if json.Unmarshal(raw.Response, &cr) == nil && cr.CommandName != "" {
			r.Response = &cr
		}
	}
	if len(raw.ClientConfig) > 0 && string(raw.ClientConfig) != "null" {
		c, err := ParseClientConfig(raw.ClientConfig)
		if err != nil {
			cfgErr = err
		} else {
			r.ClientConfig = &c
		}
	}
	return r, cfgErr, nil
}
