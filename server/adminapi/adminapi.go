// Package adminapi defines the checkin server's admin API — JSON under
// /api/v1 with a bearer token — once for both sides: the wire types the
// server writes and a Client that the CLI (razor-netboot nodes|tags|
// policies|commands) and tests use.
//
//	GET    /api/v1/nodes                 {"nodes":[Node…]} (without facts)
//	GET    /api/v1/nodes/{id}            Node with facts and commands
//	DELETE /api/v1/nodes/{id}            204
//	POST   /api/v1/nodes/{id}/policy     {"policy":"install"} → BindResult
//	DELETE /api/v1/nodes/{id}/policy     Node (unbound)
//	POST   /api/v1/nodes/{id}/power      {"action":"on|off|cycle|status"} → PowerResult
//	GET    /api/v1/nodes/{id}/commands   {"commands":[Command…]}
//	POST   /api/v1/nodes/{id}/commands   {"command":"reboot"} → 201 Command
//	GET    /api/v1/tags                  {"tags":[Tag…]}
//	POST   /api/v1/tags                  Tag → 201 Tag
//	GET    /api/v1/tags/{name}           Tag
//	PUT    /api/v1/tags/{name}           {"rule":…} → Tag
//	DELETE /api/v1/tags/{name}           204
//	GET    /api/v1/policies              {"policies":[Policy…]}
//	POST   /api/v1/policies              Policy → 201 Policy
//	GET    /api/v1/policies/{name}       Policy
//	PUT    /api/v1/policies/{name}       Policy → Policy
//	DELETE /api/v1/policies/{name}       204
//	GET    /api/v1/tokens                {"tokens":[Token…]}          (role admin)
//	POST   /api/v1/tokens                TokenRequest → 201 Token     (role admin)
//	DELETE /api/v1/tokens/{name}         Token (revoked)              (role admin)
//	GET    /api/v1/bmc                   {"credentials":[BMCCredential…]} (role admin)
//	GET    /api/v1/bmc/{scope}           BMCCredential                (role admin)
//	PUT    /api/v1/bmc/{scope}           BMCRequest → BMCCredential   (role admin)
//	DELETE /api/v1/bmc/{scope}           204                          (role admin)
//
// A scope is global, node:<id|MAC|UUID|serial> or policy:<name>. The
// password of a BMC credential is write-only: no answer carries it.
//
// GET needs role viewer, every other route role operator; deleting a
// node, tokens and BMC credentials need role admin (see tokens.go), as
// in the dashboard.
//
// Errors are {"error": "...", "field": "..."} with a 4xx or 5xx status:
// 400 bad input (field names the culprit, e.g. "rule[2][1]" or
// "target.kernel"), 401 no, unknown or revoked token, 403 a role that may
// not do this (see tokens.go), 404 unknown, 409 exists or in
// use, 413 body too large, 502 the BMC failed (unreachable, wrong
// password, command refused), 503 out-of-band power not configured.
package adminapi

import (
	"encoding/json"
	"time"
)

// Version is the admin API's version, the v1 of /api/v1.
const Version = "v1"

// BasePath prefixes every admin route.
const BasePath = "/api/v1"

// MaxBody bounds an admin request body.
const MaxBody = 1 << 20

// Node is a discovered machine.
type Node struct {
	ID              string     `json:"id"`
	UUID            string     `json:"uuid,omitempty"`
	MACs            []string   `json:"macs"` // AA:BB:CC:DD:EE:FF
	State           string     `json:"state"`
	Tags            []string   `json:"tags"`
	Policy          string     `json:"policy,omitempty"`
	BoundAt         *time.Time `json:"bound_at,omitempty"`
	BootState       string     `json:"boot_state,omitempty"`
	BootStateAt     *time.Time `json:"boot_state_at,omitempty"`
	LastState       string     `json:"last_state"`
	Created         time.Time  `json:"created"`
	Registered      time.Time  `json:"registered"`
	LastCheckin     *time.Time `json:"last_checkin,omitempty"`
	PendingCommands int        `json:"pending_commands"`
	// IP, Serial and Product are the facts ipaddress, serialnumber and
	// productname (listings).
	IP       string            `json:"ip,omitempty"`
	Serial   string            `json:"serial,omitempty"`
	Product  string            `json:"product,omitempty"`
	Facts    map[string]string `json:"facts,omitempty"`
	Commands []Command         `json:"commands,omitempty"`
}

// Command is an admin command queued for a node.
type Command struct {
	ID        int64      `json:"id"`
	Node      string     `json:"node"`
	Command   string     `json:"command"` // reboot, poweroff, register
	Queued    time.Time  `json:"queued"`
	Delivered *time.Time `json:"delivered,omitempty"`
}

// Tag is a named rule over facts.
type Tag struct {
	Name    string          `json:"name"`
	Rule    json.RawMessage `json:"rule"`
	Refs    []string        `json:"refs,omitempty"`
	Nodes   int             `json:"nodes"` // nodes carrying the tag now
	Created *time.Time      `json:"created,omitempty"`
	Updated *time.Time      `json:"updated,omitempty"`
}

// Policy binds matching nodes to a boot target.
type Policy struct {
	Name string `json:"name"`
	// Order ranks policies, lowest first (then by name).
	Order int `json:"order"`
	// Enabled defaults to true when a request leaves it out.
	Enabled *bool `json:"enabled,omitempty"`
	// Tags a node must all carry: stored tags or system tags.
	Tags []string `json:"tags"`
	// MaxCount bounds the bound nodes; 0 is unlimited.
	MaxCount int        `json:"max_count"`
	Target   Target     `json:"target"`
	Bound    int        `json:"bound"` // read-only
	Created  *time.Time `json:"created,omitempty"`
	Updated  *time.Time `json:"updated,omitempty"`
}

// IsEnabled reports Enabled with its default.
func (p Policy) IsEnabled() bool { return p.Enabled == nil || *p.Enabled }

// Target is how a bound node boots. Kind kernel: Kernel (URL), Initrd
// (URL) and Cmdline are Go templates over the node ({{.Server}},
// {{.Node}}, {{.MAC}}, {{.UUID}}, {{fact "name"}}…); kind ipxe: Script is
// an iPXE script template; kind local: Local is exit (default) or
// sanboot; kind poweroff. Once serves a kernel or ipxe target on the first
// boot after binding only, and the local disk afterwards.
type Target struct {
	Kind    string `json:"kind"`
	Kernel  string `json:"kernel,omitempty"`
	Initrd  string `json:"initrd,omitempty"`
	Cmdline string `json:"cmdline,omitempty"`
	Script  string `json:"script,omitempty"`
	Local   string `json:"local,omitempty"`
	Once    bool   `json:"once,omitempty"`
	// Loaders restricts the boot loaders the target runs under ("ipxe",
	// "grub"); empty: every loader its kind can run under.
	Loaders []string `json:"loaders,omitempty" yaml:"loaders,omitempty"`
	// PowerCycle: an admin's bind (POST /nodes/{id}/policy) of a node
	// not running the microkernel power-cycles it through its BMC.
	PowerCycle bool `json:"power_cycle,omitempty" yaml:"power_cycle,omitempty"`
}

// CommandRequest is the body of POST /api/v1/nodes/{id}/commands.
type CommandRequest struct {
	Command string `json:"command"`
}

// TagRequest is the body of PUT /api/v1/tags/{name} (and, with Name, of
// POST /api/v1/tags).
type TagRequest struct {
	Name string          `json:"name,omitempty"`
	Rule json.RawMessage `json:"rule"`
}

// Error is every error body.
type Error struct {
	Error string `json:"error"`
	Field string `json:"field,omitempty"`
}

// Lists.
type (
	NodeList struct {
		Nodes []Node `json:"nodes"`
	}
	CommandList struct {
		Commands []Command `json:"commands"`
	}
	TagList struct {
		Tags []Tag `json:"tags"`
	}
	PolicyList struct {
		Policies []Policy `json:"policies"`
	}
)
