package auth

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
)

// ErrUnknownToken: a bearer token was presented that matches no configured
// digest. (The token is never part of an error.)
var ErrUnknownToken = errors.New("bearer token not recognised")

// ErrMalformedAuthorization: the authorization header or metadata is not
// "Bearer TOKEN".
var ErrMalformedAuthorization = errors.New(`authorization: want "Bearer TOKEN"`)

// Authenticator establishes who is calling (bearer token or verified
// client certificate) and decides, by its Policy, what they may do. It is
// safe for concurrent use; SetTokens swaps the token set atomically
// (rotation).
type Authenticator struct {
	tokens    atomic.Pointer[Tokens]
	policy    *Policy
	defaultNS string
}

// New returns an authenticator; defaultNamespace is the namespace of a
// request that names none (the server's).
func New(tokens *Tokens, policy *Policy, defaultNamespace string) *Authenticator {
	a := &Authenticator{policy: policy, defaultNS: defaultNamespace}
	if tokens == nil {
		tokens = NewTokens(nil)
	}
	a.tokens.Store(tokens)
	return a
}

// SetTokens replaces the token set: calls presenting a token of the old
// set only are refused from now on.
func (a *Authenticator) SetTokens(t *Tokens) {
	if t == nil {
		t = NewTokens(nil)
	}
	a.tokens.Store(t)
}

// TokenCount is the number of token digests in force.
func (a *Authenticator) TokenCount() int { return a.tokens.Load().Len() }

// Policy returns the grants in force.
func (a *Authenticator) Policy() *Policy { return a.policy }

// identify is the caller's identity from a bearer token (authorization
// value, "" when none) or, failing a token, a verified certificate. A
// presented token must be valid even over an mTLS connection, and names
// the caller then: it is the more specific credential.
func (a *Authenticator) identify(authorization string, st *tls.ConnectionState, peerAddr string) (Identity, error) {
	if authorization != "" {
		scheme, tok, ok := strings.Cut(authorization, " ")
		tok = strings.TrimSpace(tok)
		if !ok || !strings.EqualFold(scheme, "bearer") || tok == "" {
			return Identity{Kind: Anonymous, Peer: peerAddr}, ErrMalformedAuthorization
		}
		name, ok := a.tokens.Load().Match(tok)
		if !ok {
			return Identity{Kind: Anonymous, Peer: peerAddr}, ErrUnknownToken
		}
		return Identity{Name: name, Kind: Token, Peer: peerAddr}, nil
	}
	if id, ok := FromTLS(st, peerAddr); ok {
		return id, nil
	}
	return Identity{Kind: Anonymous, Peer: peerAddr}, nil
}

// IdentifyGRPC is the identity of a gRPC call: the "authorization"
// metadata, else the verified client certificate of the connection.
func (a *Authenticator) IdentifyGRPC(ctx context.Context) (Identity, error) {
	var authz string
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		if v := md.Get("authorization"); len(v) > 0 {
			authz = v[0]
		}
	}
	var st *tls.ConnectionState
	if p, ok := peer.FromContext(ctx); ok {
		if ti, ok := p.AuthInfo.(credentials.TLSInfo); ok {
			st = &ti.State
		}
	}
	return a.identify(authz, st, PeerAddress(ctx))
}

// IdentifyHTTP is the identity of an admin-port request: its
// Authorization header, else its verified client certificate.
func (a *Authenticator) IdentifyHTTP(r *http.Request) (Identity, error) {
	return a.identify(r.Header.Get("Authorization"), r.TLS, r.RemoteAddr)
}

// Check returns nil when id has role in namespace ns (AnyNamespace: in
// some namespace), else an error naming the role and the namespace:
// ErrUnauthenticated for an anonymous caller, ErrPermissionDenied for an
// identified one.
func (a *Authenticator) Check(id Identity, role Role, ns string) error {
	if a.policy.Allows(id, role, ns) {
		return nil
	}
	where := fmt.Sprintf("namespace %q", ns)
	if ns == AnyNamespace {
		where = "any namespace"
	}
	if id.Kind == Anonymous || id.Name == "" {
		return &DeniedError{Anonymous: true, Role: role, Namespace: ns,
			msg: fmt.Sprintf("role %q in %s is required; no credential was presented (a client certificate or a bearer token)", role, where)}
	}
	return &DeniedError{Role: role, Namespace: ns,
		msg: fmt.Sprintf("%s lacks role %q in %s", id, role, where)}
}

// DeniedError is a refused authorization. Its message names the missing
// role and namespace, never a credential.
type DeniedError struct {
	// Anonymous: no credential was presented (gRPC Unauthenticated, HTTP
	// 401); else the identity lacks the role (PermissionDenied, 403).
	Anonymous bool
	Role      Role
	Namespace string
	msg       string
}

func (e *DeniedError) Error() string { return e.msg }
