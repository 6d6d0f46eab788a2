package store

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"
)

// Credential scopes: a credential belongs to one node, to the nodes bound
// to one policy, or to every node.
const (
	// ScopeGlobal is the credential of every node without a more
	// specific one.
	ScopeGlobal = "global"
	scopeNode   = "node:"
	scopePolicy = "policy:"
)

// NodeScope is the scope of node id's own credential.
func NodeScope(id string) string { return scopeNode + id }

// PolicyScope is the scope of the credential of the nodes bound to a
// policy.
func PolicyScope(name string) string { return scopePolicy + name }

var scopeForm = regexp.MustCompile(`^(global|node:[A-Za-z0-9._-]{1,64}|policy:[A-Za-z0-9][A-Za-z0-9._-]{0,127})$`)

// ValidScope checks a credential scope: "global", "node:<id>" or
// "policy:<name>".
func ValidScope(s string) error {
	if !scopeForm.MatchString(s) {
		return fmt.Errorf("store: credential scope %q: want global, node:<id> or policy:<name>", s)
	}
	return nil
}

// ScopeNode returns the node id of a node scope.
func ScopeNode(scope string) (string, bool) { return strings.CutPrefix(scope, scopeNode) }

// ScopePolicy returns the policy name of a policy scope.
func ScopePolicy(scope string) (string, bool) { return strings.CutPrefix(scope, scopePolicy) }

// BMCCredential is how to log in to BMCs over IPMI: a node's own, or
// the one shared by a policy's nodes or by every node. The password
// reaches the store sealed (package secretbox, bound to the scope), and
// the store keeps it as opaque bytes: neither a database dump nor a
// store error can reveal it.
type BMCCredential struct {
	Scope string
	// Host is the BMC's address; "" takes it from the node's
	// bmc_ipaddress fact (the usual case for shared credentials).
	Host string
	// Port is the BMC's UDP port; 0 is IPMI's 623.
	Port     int
	Username string
	// Sealed is the sealed password, never empty.
	Sealed  []byte
	Updated time.Time
}

// Validate checks what both stores check before a write.
func (c BMCCredential) Validate() error {
	if err := ValidScope(c.Scope); err != nil {
		return err
	}
	if c.Username == "" || len(c.Username) > 16 || !printable(c.Username) {
		return fmt.Errorf("store: credential %s: username: want 1-16 printable bytes", c.Scope)
	}
	if !printable(c.Host) {
		return fmt.Errorf("store: credential %s: host: control characters or invalid UTF-8", c.Scope)
	}
	if c.Port < 0 || c.Port > 65535 {
		return fmt.Errorf("store: credential %s: port %d out of range", c.Scope, c.Port)
	}
	if len(c.Host) > 253 {
		return fmt.Errorf("store: credential %s: host longer than 253 bytes", c.Scope)
	}
	if len(c.Sealed) == 0 || len(c.Sealed) > 1024 {
		return fmt.Errorf("store: credential %s: sealed password: want 1-1024 bytes, got %d", c.Scope, len(c.Sealed))
	}
	return nil
}

// printable reports whether s is valid UTF-8 without control characters.
func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// BMCCredentials is the BMC credential part of a Store. Deleting a node
// or a policy deletes its credential.
type BMCCredentials interface {
	// PutBMCCredential creates or replaces the credential of c.Scope.
	PutBMCCredential(ctx context.Context, c BMCCredential) (BMCCredential, error)
	// GetBMCCredential returns the credential of scope; ErrNotFound.
	GetBMCCredential(ctx context.Context, scope string) (BMCCredential, error)
	// ListBMCCredentials returns every credential ordered by scope.
	ListBMCCredentials(ctx context.Context) ([]BMCCredential, error)
	// DeleteBMCCredential removes the credential of scope; ErrNotFound.
	DeleteBMCCredential(ctx context.Context, scope string) error
}
