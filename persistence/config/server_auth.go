package config

import (
	"encoding/hex"
	"fmt"
	"strings"
)

// AuthConfig is the [server.auth] table: who may call the server's gRPC API
// and admin port, and with which role in which namespace.
//
//	[server.auth]
//	mode = "on"
//	tokens = ["ops:sha256:16225f9bd861a225e7827126cd7414e690dd59c2f77c0540634a58d0b5c232f3"]
//	token_files = ["/etc/orbit/tokens"]
//	grants = ["ops=admin@*", "spiffe://example.org/ns/prod/*=node@prod"]
//
// No token is ever held in clear: tokens and the lines of token_files are
// NAME:sha256:HEX, the SHA-256 of the token (`orbit-server token hash`).
// A digest is no credential (the server hashes what a caller presents), but
// an entry written by mistake may be a token in clear, so tokens is marked
// secret: renderings (`config show`) replace its entries and validation
// never shows a malformed one.
type AuthConfig struct {
	// Mode is "off" (the default: every caller may do everything) or "on".
	Mode string `toml:"mode"`
	// Tokens are bearer token digests, NAME:sha256:HEX.
	Tokens []string `toml:"tokens" secret:"true"`
	// TokenFiles are files of NAME:sha256:HEX lines (blank lines and lines
	// starting with '#' ignored), read when the server starts.
	TokenFiles []string `toml:"token_files"`
	// Grants are IDENTITY=ROLE@NAMESPACE; IDENTITY may end with '*' and may
	// start with "token:" or "certificate:" to match one kind only;
	// NAMESPACE "*" is every namespace.
	Grants []string `toml:"grants"`
}

// Auth modes.
const (
	AuthOff = "off"
	AuthOn  = "on"
)

// AuthRoles are the roles a grant may give, least to most powerful.
var AuthRoles = []string{"reader", "client", "node", "admin"}

// Enabled reports whether mode is "on" (a nil table is off).
func (c *AuthConfig) Enabled() bool { return c != nil && c.Mode == AuthOn }

// TokenDigest is a parsed NAME:sha256:HEX entry.
type TokenDigest struct {
	Name string
	Sum  [32]byte
}

// ParseTokenDigest parses NAME:sha256:HEX. Its error never contains s: a
// malformed entry may be a token in clear.
func ParseTokenDigest(s string) (TokenDigest, error) {
	name, rest, ok := strings.Cut(strings.TrimSpace(s), ":")
	algo, hexSum, ok2 := strings.Cut(rest, ":")
	if !ok || !ok2 || algo != "sha256" {
		return TokenDigest{}, fmt.Errorf("not NAME:sha256:HEX (a token must never be written in clear: " +
			"store its digest, printed by `orbit-server token hash` or `orbit-server token new NAME`)")
	}
	if err := checkPrincipalName(name); err != nil {
		return TokenDigest{}, fmt.Errorf("token name: %w", err)
	}
	var d TokenDigest
	if len(hexSum) != 64 {
		return d, fmt.Errorf("token %s: the SHA-256 must be 64 hexadecimal digits, got %d characters", quoteString(name), len(hexSum))
	}
	if _, err := hex.Decode(d.Sum[:], []byte(hexSum)); err != nil {
		return TokenDigest{}, fmt.Errorf("token %s: the SHA-256 is not hexadecimal", quoteString(name))
	}
	d.Name = name
	return d, nil
}

// checkPrincipalName accepts a non-empty name of printable characters
// without spaces, ':' '=' '@' or '*'.
func checkPrincipalName(name string) error {
	if name == "" {
		return fmt.Errorf("must not be empty")
	}
	for _, r := range name {
		if r <= ' ' || r == 0x7f || strings.ContainsRune(":=@*", r) {
			return fmt.Errorf("%s: only printable characters without spaces, ':', '=', '@' or '*'", quoteString(name))
		}
	}
	return nil
}

// AuthGrant is a parsed IDENTITY=ROLE@NAMESPACE entry.
type AuthGrant struct {
	// Kind is "token", "certificate" or "" (either).
	Kind string
	// Identity is the name or, ending with '*', the prefix it matches.
	Identity string
	// Role is one of AuthRoles.
	Role string
	// Namespace is a namespace or "*" (every one).
	Namespace string
}

// ParseAuthGrant parses IDENTITY=ROLE@NAMESPACE.
func ParseAuthGrant(s string) (AuthGrant, error) {
	i := strings.LastIndex(s, "=")
	if i < 0 {
		return AuthGrant{}, fmt.Errorf("%s: want IDENTITY=ROLE@NAMESPACE", quoteString(s))
	}
	who, what := s[:i], s[i+1:]
	role, ns, ok := strings.Cut(what, "@")
	if !ok {
		return AuthGrant{}, fmt.Errorf("%s: want IDENTITY=ROLE@NAMESPACE (no '@NAMESPACE'; '@*' is every namespace)", quoteString(s))
	}
	g := AuthGrant{Identity: who, Role: role, Namespace: ns}
	for _, k := range []string{"token", "certificate"} {
		if rest, found := strings.CutPrefix(who, k+":"); found {
			g.Kind, g.Identity = k, rest
		}
	}
	switch {
	case g.Identity == "":
		return AuthGrant{}, fmt.Errorf("%s: the identity must not be empty ('*' is every authenticated caller)", quoteString(s))
	case strings.Contains(strings.TrimSuffix(g.Identity, "*"), "*"):
		return AuthGrant{}, fmt.Errorf("%s: '*' may only end the identity", quoteString(s))
	case strings.ContainsAny(g.Identity, " \t\n"):
		return AuthGrant{}, fmt.Errorf("%s: the identity must not contain spaces", quoteString(s))
	}
	known := false
	for _, r := range AuthRoles {
		known = known || r == role
	}
	if !known {
		return AuthGrant{}, fmt.Errorf("unknown role %s (want %s)", quoteString(role), strings.Join(AuthRoles, ", "))
	}
	if ns != "*" && (ns == "" || strings.ContainsAny(ns, "*/ \t\n")) {
		return AuthGrant{}, fmt.Errorf("namespace %s: want a namespace name or '*' (every namespace)", quoteString(ns))
	}
	return g, nil
}

// validate checks the table; path is its position in the file. Problems
// name the key and the index of a bad entry; a malformed token entry is
// never shown.
func (c *AuthConfig) validate(p *problems, path string) {
	switch c.Mode {
	case "", AuthOff, AuthOn:
	default:
		p.add(path+".mode", "must be %q or %q, got %s", AuthOff, AuthOn, quoteString(c.Mode))
	}
	names := map[string]int{}
	for i, t := range c.Tokens {
		key := fmt.Sprintf("%s.tokens[%d]", path, i)
		d, err := ParseTokenDigest(t)
		if err != nil {
			p.add(key, "%v", err)
			continue
		}
		if j, dup := names[d.Name]; dup {
			p.add(key, "token name %s is also tokens[%d]", quoteString(d.Name), j)
		}
		names[d.Name] = i
	}
	for i, f := range c.TokenFiles {
		if strings.TrimSpace(f) == "" {
			p.add(fmt.Sprintf("%s.token_files[%d]", path, i), "must not be empty")
		}
	}
	for i, g := range c.Grants {
		if _, err := ParseAuthGrant(g); err != nil {
			p.add(fmt.Sprintf("%s.grants[%d]", path, i), "%v", err)
		}
	}
	if c.Mode == AuthOn && len(c.Grants) == 0 {
		p.add(path+".grants", `must not be empty when mode is "on" (no caller could do anything)`)
	}
}
