package adminapi

import (
	"context"
	"time"
)

// Admin tokens (role admin only):
//
//	GET    /api/v1/tokens          {"tokens":[Token…]} (no secrets)
//	POST   /api/v1/tokens          {"name":…,"role":…} → 201 Token with "token" (shown once)
//	DELETE /api/v1/tokens/{name}   Token (revoked)
//
// Roles: viewer (GET anywhere but tokens), operator (also commands,
// unbind, tags and policies), admin (everything). 401 is an unknown or
// revoked token, 403 a role that may not do the request.

// Token is an admin token as listed; Secret is set only in the answer
// that created it.
type Token struct {
	Name    string     `json:"name"`
	Role    string     `json:"role"`
	Created time.Time  `json:"created"`
	Revoked *time.Time `json:"revoked,omitempty"`
	Secret  string     `json:"token,omitempty"`
}

// TokenRequest creates a token.
type TokenRequest struct {
	Name string `json:"name"`
	Role string `json:"role"`
}

// TokenList is the answer of GET /tokens.
type TokenList struct {
	Tokens []Token `json:"tokens"`
}

// Tokens lists the admin tokens.
func (c *Client) Tokens(ctx context.Context) ([]Token, error) {
	var l TokenList
	err := c.do(ctx, "GET", "/tokens", nil, &l)
	return l.Tokens, err
}

// CreateToken makes a token; the answer's Secret is the token.
func (c *Client) CreateToken(ctx context.Context, name, role string) (Token, error) {
	var t Token
	err := c.do(ctx, "POST", "/tokens", TokenRequest{Name: name, Role: role}, &t)
	return t, err
}

// RevokeToken revokes a token by name.
func (c *Client) RevokeToken(ctx context.Context, name string) (Token, error) {
	var t Token
	err := c.do(ctx, "DELETE", "/tokens/"+esc(name), nil, &t)
	return t, err
}
