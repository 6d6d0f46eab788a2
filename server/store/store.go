// Package store defines what the checkin server persists — nodes with
// their facts and MACs, tags, policies, bindings, queued admin commands,
// per-boot node tokens, DHCP leases and sealed BMC credentials — as one
// interface with two implementations (embedded SQLite, PostgreSQL) that
// pass the same conformance suite (package storetest).
//
// The interface speaks in domain operations, not SQL: each method is one
// transaction, so a second implementation needs no knowledge of the first.
// Every write is durable when the method returns nil, except TouchNodes,
// whose checkin timestamps may be lost in a crash (callers batch them).
// Timestamps keep at least microsecond precision.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"time"

	"github.com/razor-mk/razor-mk/netboot/dhcp/leases"
)

// Errors; callers use errors.Is. Lease methods return the errors of
// package leases instead.
var (
	// ErrNotFound: no node, tag, policy or command with that key.
	ErrNotFound = errors.New("store: not found")
	// ErrExists: a tag or policy with that name exists already.
	ErrExists = errors.New("store: already exists")
	// ErrInUse: the tag or policy is referenced (by a policy, another
	// tag's rule, or a bound node) and cannot be deleted.
	ErrInUse = errors.New("store: in use")
	// ErrUnknownRef: a tag's rule refers to a tag that does not exist.
	ErrUnknownRef = errors.New("store: unknown tag")
	// ErrBound: the node is bound to a policy already.
	ErrBound = errors.New("store: node already bound")
	// ErrNoRoom: none of the candidate policies could take the node (all
	// disabled, gone, or at max_count).
	ErrNoRoom = errors.New("store: no policy has room")
	// ErrStale: the node's binding changed since the caller looked.
	ErrStale = errors.New("store: binding changed")
	// ErrDelivered: the command was delivered already (not cancellable).
	ErrDelivered = errors.New("store: command delivered already")
	// ErrClosed: the store has been closed.
	ErrClosed = errors.New("store: closed")
	// ErrUnavailable: a shared store's database cannot be reached just
	// now (a restart, a network failure); nothing was changed, and the
	// call may succeed later.
	ErrUnavailable = errors.New("store: unavailable")
)

// Store is everything the checkin server keeps. Implementations are safe
// for concurrent use.
type Store interface {
	// Leases: the DHCP server's lease store (PutLease atomic, ErrConflict).
	leases.Store
	// AdminTokens: named, hashed admin API tokens with roles.
	AdminTokens
	// Events: the nodes' timelines (events.go).
	EventLog
	// BMCCredentials: sealed IPMI logins of nodes, policies, everyone
	// (bmc.go).
	BMCCredentials

	// RegisterNode records a registration: it finds the node by Match
	// (SMBIOS UUID first, then MAC overlap) or creates one, replaces its
	// facts, merges r.MACs into its MAC list, and takes those MACs away
	// from every other node, all in one transaction.
	RegisterNode(ctx context.Context, r Registration) (RegisterResult, error)
	// GetNode returns one node with its facts.
	GetNode(ctx context.Context, id string) (Node, error)
	// FindNode looks a node up by Match without changing anything; with
	// facts. ErrNotFound when nothing matches.
	FindNode(ctx context.Context, uuid string, macs []string) (Node, error)
	// ListNodes returns every node, ordered by creation (oldest first);
	// with facts only when withFacts.
	ListNodes(ctx context.Context, withFacts bool) ([]Node, error)
	// DeleteNode removes a node, its binding and its commands.
	DeleteNode(ctx context.Context, id string) error
	// TouchNodes records checkin times and last states in one batch;
	// unknown ids are skipped, and an older time never replaces a newer
	// one. Unlike other writes it may be lost in a crash.
	TouchNodes(ctx context.Context, cs []Checkin) error

	// Bind binds the node to the first policy in candidates (in the given
	// order) that exists, is enabled and has fewer than max_count bound
	// nodes (0: unlimited), counting and binding in one transaction so
	// that concurrent binds — from any number of processes — never exceed
	// max_count. ErrBound if the node is bound already, ErrNoRoom if no
	// candidate qualifies.
	Bind(ctx context.Context, nodeID string, candidates []string, at time.Time) (Node, error)
	// Unbind clears the node's binding and boot state. Unbinding an
	// unbound node is not an error.
	Unbind(ctx context.Context, nodeID string) (Node, error)
	// SetBootState records that the node booted its target (BootBooted)
	// or came back to the microkernel after that (BootFailed), but only
	// while it is still bound to policy; ErrStale otherwise.
	SetBootState(ctx context.Context, nodeID, policy string, state BootState, at time.Time) (Node, error)

	// QueueCommand appends a command to the node's queue.
	QueueCommand(ctx context.Context, nodeID, name string, at time.Time) (Command, error)
	// PopCommand marks the node's oldest pending command delivered and
	// returns it; ErrNotFound when none is pending.
	PopCommand(ctx context.Context, nodeID string, at time.Time) (Command, error)
	// ListCommands returns the node's commands, pending and delivered,
	// oldest first.
	ListCommands(ctx context.Context, nodeID string) ([]Command, error)
	// CancelCommand removes the node's pending command id and returns it;
	// ErrNotFound when there is no such command, ErrDelivered when it
	// was delivered already.
	CancelCommand(ctx context.Context, nodeID string, id int64) (Command, error)
	// ExpireCommands removes every pending command queued before
	// before, and returns them.
	ExpireCommands(ctx context.Context, before time.Time) ([]Command, error)

	// PutToken records a boot token under each key (MACs and the SMBIOS
	// UUID of the booting node), replacing older ones.
	PutToken(ctx context.Context, keys []string, token string, at time.Time) error
	// GetToken returns the newest token recorded under any of keys;
	// ErrNotFound when none.
	GetToken(ctx context.Context, keys []string) (Token, error)
	// ListTokens returns every recorded token.
	ListTokens(ctx context.Context) ([]Token, error)

	// CreateTag adds a tag, created and updated at t.Updated; ErrExists,
	// ErrUnknownRef (a ref that is not a tag).
	CreateTag(ctx context.Context, t Tag) (Tag, error)
	// UpdateTag replaces a tag's rule and refs, updated at t.Updated;
	// ErrNotFound, ErrUnknownRef.
	UpdateTag(ctx context.Context, t Tag) (Tag, error)
	GetTag(ctx context.Context, name string) (Tag, error)
	// ListTags returns every tag ordered by name.
	ListTags(ctx context.Context) ([]Tag, error)
	// DeleteTag removes a tag; ErrInUse while a policy or another tag's
	// rule refers to it.
	DeleteTag(ctx context.Context, name string) error

	// CreatePolicy adds a policy, created and updated at p.Updated;
	// ErrExists. Its tags are not checked: they may be stored tags or
	// system tags.
	CreatePolicy(ctx context.Context, p Policy) (Policy, error)
	// UpdatePolicy replaces a policy's settings (not its bound nodes),
	// updated at p.Updated; ErrNotFound.
	UpdatePolicy(ctx context.Context, p Policy) (Policy, error)
	// GetPolicy returns a policy with its bound count.
	GetPolicy(ctx context.Context, name string) (Policy, error)
	// ListPolicies returns every policy with its bound count, ordered by
	// Order then name.
	ListPolicies(ctx context.Context) ([]Policy, error)
	// DeletePolicy removes a policy; ErrInUse while nodes are bound to it.
	DeletePolicy(ctx context.Context, name string) error

	// Close flushes and releases the store.
	Close() error
}

// BootState is what a bound node has done with its policy's target.
type BootState string

// Boot states.
const (
	// BootPending: bound, the target not served yet.
	BootPending BootState = ""
	// BootBooted: /boot.ipxe served the node its target.
	BootBooted BootState = "booted"
	// BootFailed: after booting its target the node checked in from the
	// microkernel again, so the target did not take.
	BootFailed BootState = "failed"
)

// Node is one discovered machine.
type Node struct {
	// ID is short and stable: assigned at creation, never reused.
	ID string
	// Rev increases with every change to the node; comparing revisions
	// orders concurrent updates.
	Rev int64
	// UUID is the SMBIOS system UUID (wire.NormalizeUUID form) or "".
	UUID string
	// MACs are normalised (wire.NormalizeMAC form) and sorted; no MAC is
	// held by two nodes.
	MACs []string
	// Facts from the last registration; nil when listed without facts.
	Facts     map[string]string
	LastState string
	// Created is the first registration, Registered the last one.
	Created     time.Time
	Registered  time.Time
	LastCheckin time.Time // zero if never checked in
	// Policy is the bound policy's name, "" when unbound.
	Policy      string
	BoundAt     time.Time
	BootState   BootState
	BootStateAt time.Time
	// Pending is the number of commands queued and not delivered.
	Pending int
}

// Registration is one register request, normalised.
type Registration struct {
	UUID      string
	MACs      []string
	Facts     map[string]string
	LastState string
	At        time.Time
}

// RegisterResult is what RegisterNode did.
type RegisterResult struct {
	Node    Node // the registered node, with facts
	Created bool
	// Changed lists other nodes that lost MACs to this registration
	// (without facts).
	Changed []Node
	// Deleted lists the ids of unbound nodes left with neither a MAC nor
	// a UUID: duplicates of the registering node, removed.
	Deleted []string
}

// Checkin is one node's latest checkin, for TouchNodes.
type Checkin struct {
	NodeID    string
	At        time.Time
	LastState string
}

// Command is an admin command queued for a node.
type Command struct {
	ID        int64
	NodeID    string
	Name      string
	Queued    time.Time
	Delivered time.Time // zero while pending
}

// Token is a per-boot node token recorded under a key (MAC or UUID).
type Token struct {
	Key    string
	Token  string
	Issued time.Time
}

// Tag is a named rule over facts. The store keeps the rule's canonical
// JSON without interpreting it, and its references to other tags.
type Tag struct {
	Name    string
	Rule    json.RawMessage
	Refs    []string // tag names the rule refers to, sorted
	Created time.Time
	Updated time.Time
}

// Policy says which nodes get which boot target.
type Policy struct {
	Name string
	// Order ranks policies: lower first, then by name.
	Order   int
	Enabled bool
	// Tags a node must all have to match, stored or system tags; sorted.
	Tags []string
	// MaxCount bounds the bound nodes; 0 is unlimited.
	MaxCount int
	Target   Target
	// Count is the number of nodes bound (read-only).
	Count   int
	Created time.Time
	Updated time.Time
}

// TargetKind selects how a bound node boots.
type TargetKind string

// Target kinds.
const (
	// TargetKernel: kernel URL, initrd URL and a command line template.
	TargetKernel TargetKind = "kernel"
	// TargetIPXE: an iPXE script template.
	TargetIPXE TargetKind = "ipxe"
	// TargetLocal: boot from the local disk (iPXE exit or sanboot).
	TargetLocal TargetKind = "local"
	// TargetPoweroff: switch the node off (discover only).
	TargetPoweroff TargetKind = "poweroff"
)

// Target is a policy's boot target; the store persists it as JSON.
type Target struct {
	Kind    TargetKind `json:"kind"`
	Kernel  string     `json:"kernel,omitempty"`
	Initrd  string     `json:"initrd,omitempty"`
	Cmdline string     `json:"cmdline,omitempty"`
	Script  string     `json:"script,omitempty"`
	// Local is "exit" (default: hand back to the firmware, which boots
	// the next device) or "sanboot" (boot the first local disk).
	Local string `json:"local,omitempty"`
	// Once serves a kernel or iPXE target on the first boot after binding
	// only; later boots go to the local disk (an installer's target).
	Once bool `json:"once,omitempty"`
	// Loaders restricts the boot loaders the target may run under
	// ("ipxe", "grub"); empty means every loader its kind can run under
	// (an iPXE script: iPXE only). A node that booted a loader the target
	// cannot run under gets the microkernel and an error event.
	Loaders []string `json:"loaders,omitempty"`
	// PowerCycle: when an admin binds a node that is not running the
	// microkernel (silent past the register timeout: switched off, or
	// running an installed system), the server power-cycles it through
	// its BMC so that it network-boots into this target.
	PowerCycle bool `json:"power_cycle,omitempty"`
}

// Match picks the node a request identifies, from candidates: the node
// with that SMBIOS uuid if any; otherwise the oldest node sharing a MAC
// with macs, skipping nodes that carry a different UUID when uuid is set
// (a MAC that moved to another machine does not make it the same node).
// Implementations use it so that every store resolves identity alike.
func Match(uuid string, macs []string, candidates []Node) (Node, bool) {
	if uuid != "" {
		for _, n := range candidates {
			if n.UUID == uuid {
				return n, true
			}
		}
	}
	var best Node
	found := false
	for _, n := range candidates {
		if uuid != "" && n.UUID != "" && n.UUID != uuid {
			continue
		}
		if !overlaps(n.MACs, macs) {
			continue
		}
		if !found || n.Created.Before(best.Created) || (n.Created.Equal(best.Created) && lessID(n.ID, best.ID)) {
			best, found = n, true
		}
	}
	return best, found
}

// lessID orders ids of the form prefix+number numerically.
func lessID(a, b string) bool {
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	return a < b
}

func overlaps(a, b []string) bool {
	for _, x := range a {
		if slices.Contains(b, x) {
			return true
		}
	}
	return false
}

// MergeMACs returns the sorted union of two MAC lists.
func MergeMACs(a, b []string) []string {
	out := slices.Concat(a, b)
	slices.Sort(out)
	return slices.Compact(out)
}

// Watcher is implemented by a store that several processes share (the
// PostgreSQL store of razor-netboot replicas): it reports what the other
// processes change, so that a process's cache can follow them. Changes
// announce that something changed, not the new state: the receiver reads
// the store.
type Watcher interface {
	// Watch calls fn, from one goroutine, for each change another process
	// has committed, until ctx ends; then it returns nil. After each
	// (re)connection, the first included, it calls fn with ChangeReset:
	// changes may have been missed, so everything is to be reloaded.
	Watch(ctx context.Context, fn func(Change)) error
}

// ChangeKind says what changed.
type ChangeKind string

// Change kinds.
const (
	// ChangeReset: anything may have changed.
	ChangeReset ChangeKind = "reset"
	// ChangeNode: node ID was created or changed (registration, MACs,
	// binding, boot state, a command queued).
	ChangeNode ChangeKind = "node"
	// ChangeNodeDeleted: node ID was deleted.
	ChangeNodeDeleted ChangeKind = "node-deleted"
	// ChangeTags: a tag was created, updated or deleted.
	ChangeTags ChangeKind = "tags"
	// ChangePolicies: a policy was created, updated or deleted.
	ChangePolicies ChangeKind = "policies"
	// ChangeTokens: boot tokens were recorded under Keys.
	ChangeTokens ChangeKind = "tokens"
)

// FactLister is implemented by stores that can list every node with
// only some of its facts, cheaper than ListNodes(ctx, true) when a few
// rules are evaluated over many nodes.
type FactLister interface {
	// ListNodesFacts returns every node's ID, Rev and the named facts
	// (those it has), oldest first; the other fields are zero.
	ListNodesFacts(ctx context.Context, names []string) ([]Node, error)
}

// Change is one announcement of a Watcher.
type Change struct {
	Kind ChangeKind `json:"kind"`
	// ID is the node of ChangeNode and ChangeNodeDeleted, and the tag of
	// ChangeTags ("" when not known: every tag is then re-evaluated).
	ID string `json:"id,omitempty"`
	// Keys are the token keys of ChangeTokens.
	Keys []string `json:"keys,omitempty"`
}
