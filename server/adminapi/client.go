package adminapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// ErrAPI is wrapped by every *APIError.
var ErrAPI = errors.New("adminapi: request failed")

// APIError is an error answer of the server.
type APIError struct {
	Status  int
	Message string
	Field   string
}

func (e *APIError) Error() string {
	s := fmt.Sprintf("server: %d %s: %s", e.Status, http.StatusText(e.Status), e.Message)
	if e.Field != "" && !strings.Contains(e.Message, e.Field) {
		s += " (field " + e.Field + ")"
	}
	return s
}

// Unwrap makes errors.Is(err, ErrAPI) true.
func (e *APIError) Unwrap() error { return ErrAPI }

// Client talks to a server's admin API.
type Client struct {
	// Server is the base URL, e.g. http://localhost:8026.
	Server string
	// Token is the bearer token.
	Token string
	// HTTP is the client to use; default one with a 30 s timeout.
	HTTP *http.Client
}

func (c *Client) http() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return &http.Client{Timeout: 30 * time.Second}
}

// do sends a request with an optional JSON body and decodes a JSON answer
// into out (nil: none expected).
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	u, err := url.Parse(strings.TrimSuffix(c.Server, "/") + BasePath + path)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("adminapi: bad server URL %q", c.Server)
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("adminapi: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return fmt.Errorf("adminapi: %w", err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := c.http().Do(req)
	if err != nil {
		return fmt.Errorf("adminapi: %s %s: %w", method, u.Path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("adminapi: %s %s: %w", method, u.Path, err)
	}
	if resp.StatusCode >= 300 {
		var e Error
		if json.Unmarshal(data, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(data))
			if len(e.Error) > 200 {
				e.Error = e.Error[:200]
			}
		}
		return &APIError{Status: resp.StatusCode, Message: e.Error, Field: e.Field}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("adminapi: %s %s: bad answer: %w", method, u.Path, err)
	}
	return nil
}

func esc(s string) string { return url.PathEscape(s) }

// Nodes lists the nodes (without facts).
func (c *Client) Nodes(ctx context.Context) ([]Node, error) {
	var l NodeList
	return l.Nodes, c.do(ctx, http.MethodGet, "/nodes", nil, &l)
}

// Node returns one node with facts and commands.
func (c *Client) Node(ctx context.Context, id string) (Node, error) {
	var n Node
	return n, c.do(ctx, http.MethodGet, "/nodes/"+esc(id), nil, &n)
}

// DeleteNode forgets a node.
func (c *Client) DeleteNode(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/nodes/"+esc(id), nil, nil)
}

// UnbindNode releases a node from its policy.
func (c *Client) UnbindNode(ctx context.Context, id string) (Node, error) {
	var n Node
	return n, c.do(ctx, http.MethodDelete, "/nodes/"+esc(id)+"/policy", nil, &n)
}

// QueueCommand queues reboot, poweroff or register for a node.
func (c *Client) QueueCommand(ctx context.Context, id, command string) (Command, error) {
	var cmd Command
	return cmd, c.do(ctx, http.MethodPost, "/nodes/"+esc(id)+"/commands", CommandRequest{Command: command}, &cmd)
}

// Commands lists a node's commands.
func (c *Client) Commands(ctx context.Context, id string) ([]Command, error) {
	var l CommandList
	return l.Commands, c.do(ctx, http.MethodGet, "/nodes/"+esc(id)+"/commands", nil, &l)
}

// Tags lists the tags.
func (c *Client) Tags(ctx context.Context) ([]Tag, error) {
	var l TagList
	return l.Tags, c.do(ctx, http.MethodGet, "/tags", nil, &l)
}

// Tag returns one tag.
func (c *Client) Tag(ctx context.Context, name string) (Tag, error) {
	var t Tag
	return t, c.do(ctx, http.MethodGet, "/tags/"+esc(name), nil, &t)
}

// CreateTag adds a tag.
func (c *Client) CreateTag(ctx context.Context, name string, rule json.RawMessage) (Tag, error) {
	var t Tag
	return t, c.do(ctx, http.MethodPost, "/tags", TagRequest{Name: name, Rule: rule}, &t)
}

// UpdateTag replaces a tag's rule.
func (c *Client) UpdateTag(ctx context.Context, name string, rule json.RawMessage) (Tag, error) {
	var t Tag
	return t, c.do(ctx, http.MethodPut, "/tags/"+esc(name), TagRequest{Rule: rule}, &t)
}

// DeleteTag removes a tag.
func (c *Client) DeleteTag(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, "/tags/"+esc(name), nil, nil)
}

// Policies lists the policies in binding order.
func (c *Client) Policies(ctx context.Context) ([]Policy, error) {
	var l PolicyList
	return l.Policies, c.do(ctx, http.MethodGet, "/policies", nil, &l)
}

// Policy returns one policy.
func (c *Client) Policy(ctx context.Context, name string) (Policy, error) {
	var p Policy
	return p, c.do(ctx, http.MethodGet, "/policies/"+esc(name), nil, &p)
}

// PolicyOptions change how a policy is saved.
type PolicyOptions struct {
	// AllowUnknownTags saves a policy naming a tag that does not exist
	// (the server refuses it otherwise): ?allow_unknown_tags=true.
	AllowUnknownTags bool
}

// CreatePolicy adds a policy.
func (c *Client) CreatePolicy(ctx context.Context, p Policy, opts ...PolicyOptions) (Policy, error) {
	var out Policy
	return out, c.do(ctx, http.MethodPost, "/policies"+policyQuery(opts), p, &out)
}

// UpdatePolicy replaces a policy.
func (c *Client) UpdatePolicy(ctx context.Context, p Policy, opts ...PolicyOptions) (Policy, error) {
	var out Policy
	return out, c.do(ctx, http.MethodPut, "/policies/"+esc(p.Name)+policyQuery(opts), p, &out)
}

func policyQuery(opts []PolicyOptions) string {
	for _, o := range opts {
		if o.AllowUnknownTags {
			return "?allow_unknown_tags=true"
		}
	}
	return ""
}

// DeletePolicy removes a policy.
func (c *Client) DeletePolicy(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, "/policies/"+esc(name), nil, nil)
}
