package adminapi

import (
	"context"
	"net/http"
	"time"
)

// BMCCredential is a stored BMC login as the API shows it: the password
// never leaves the server, only whether one is set.
type BMCCredential struct {
	// Scope is global, node:<id> or policy:<name>.
	Scope string `json:"scope"`
	// Host is the BMC's address; empty: the node's bmc_ipaddress fact.
	Host string `json:"host,omitempty"`
	// Port is the BMC's UDP port; 0: 623.
	Port        int        `json:"port,omitempty"`
	Username    string     `json:"username"`
	PasswordSet bool       `json:"password_set"`
	Updated     *time.Time `json:"updated,omitempty"`
}

// BMCRequest is the body of PUT /api/v1/bmc/{scope}.
type BMCRequest struct {
	Host     string `json:"host,omitempty"`
	Port     int    `json:"port,omitempty"`
	Username string `json:"username"`
	Password string `json:"password"`
}

// BMCList is the answer of GET /api/v1/bmc.
type BMCList struct {
	Credentials []BMCCredential `json:"credentials"`
}

// PowerRequest is the body of POST /api/v1/nodes/{id}/power.
type PowerRequest struct {
	// Action is on, off, cycle or status.
	Action string `json:"action"`
}

// PowerResult is what a power action did.
type PowerResult struct {
	Node   string `json:"node"`
	Action string `json:"action"`
	// State is on or off: as read for status, as requested otherwise
	// (the BMC accepted the command).
	State string `json:"state"`
	// BMC is user@host:port; Credential the scope whose credential was
	// used.
	BMC        string `json:"bmc"`
	Credential string `json:"credential"`
}

// BindRequest is the body of POST /api/v1/nodes/{id}/policy.
type BindRequest struct {
	Policy string `json:"policy"`
}

// BindResult is the answer of POST /api/v1/nodes/{id}/policy: the bound
// node, and the power cycle done when the policy's target has
// power_cycle and the node was not running the microkernel (PowerError
// when it failed: the binding stands).
type BindResult struct {
	Node       Node         `json:"node"`
	Power      *PowerResult `json:"power,omitempty"`
	PowerError string       `json:"power_error,omitempty"`
}

// BMCs lists the BMC credentials (role admin).
func (c *Client) BMCs(ctx context.Context) ([]BMCCredential, error) {
	var l BMCList
	return l.Credentials, c.do(ctx, http.MethodGet, "/bmc", nil, &l)
}

// BMC returns the credential of scope (role admin).
func (c *Client) BMC(ctx context.Context, scope string) (BMCCredential, error) {
	var b BMCCredential
	return b, c.do(ctx, http.MethodGet, "/bmc/"+esc(scope), nil, &b)
}

// SetBMC creates or replaces the credential of scope (role admin).
func (c *Client) SetBMC(ctx context.Context, scope string, r BMCRequest) (BMCCredential, error) {
	var b BMCCredential
	return b, c.do(ctx, http.MethodPut, "/bmc/"+esc(scope), r, &b)
}

// DeleteBMC removes the credential of scope (role admin).
func (c *Client) DeleteBMC(ctx context.Context, scope string) error {
	return c.do(ctx, http.MethodDelete, "/bmc/"+esc(scope), nil, nil)
}

// Power carries out a power action on a node through its BMC.
func (c *Client) Power(ctx context.Context, id, action string) (PowerResult, error) {
	var r PowerResult
	return r, c.do(ctx, http.MethodPost, "/nodes/"+esc(id)+"/power", PowerRequest{Action: action}, &r)
}

// BindNode binds a node to a policy.
func (c *Client) BindNode(ctx context.Context, id, policy string) (BindResult, error) {
	var r BindResult
	return r, c.do(ctx, http.MethodPost, "/nodes/"+esc(id)+"/policy", BindRequest{Policy: policy}, &r)
}
