// Package auth authenticates the callers of the Orbit server's gRPC API and
// admin port and authorizes what they may do.
//
// Identity is the leaf of the package: who called, as established by the
// transport (mTLS certificate) or a bearer token, carried in the request's
// context. The rate limiter and the audit log read it with FromContext;
// nothing else in the server decides who a caller is.
package auth

import (
	"context"
	"net"

	"google.golang.org/grpc/peer"
)

// Kind is how a caller was identified.
type Kind string

// Identity kinds.
const (
	// Anonymous: no credential was presented (or auth is off).
	Anonymous Kind = "anonymous"
	// Certificate: a verified mTLS client certificate.
	Certificate Kind = "certificate"
	// Token: a bearer token that matched a configured token's hash.
	Token Kind = "token"
)

// Identity is an authenticated (or anonymous) caller.
type Identity struct {
	// Name is the certificate's SPIFFE ID (URI SAN), else its first DNS
	// SAN, else its subject common name (CertificateName); or the
	// configured token's name; "" when anonymous.
	Name string
	// Kind is how Name was established.
	Kind Kind
	// Peer is the caller's network address ("" when unknown).
	Peer string
}

// String is "kind:name" ("anonymous" when there is no name), the form used
// in logs and audit events. It never contains a credential.
func (id Identity) String() string {
	if id.Name == "" {
		return string(Anonymous)
	}
	return string(id.Kind) + ":" + id.Name
}

type ctxKey struct{}

// NewContext returns ctx carrying id.
func NewContext(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// FromContext returns the identity the auth interceptor put in ctx. When
// there is none (auth is off), it returns an anonymous identity with the
// gRPC peer's address, so callers can always key on it.
func FromContext(ctx context.Context) Identity {
	if id, ok := ctx.Value(ctxKey{}).(Identity); ok {
		return id
	}
	return Identity{Kind: Anonymous, Peer: PeerAddress(ctx)}
}

// PeerAddress is the gRPC peer's address in ctx, "" when unknown.
func PeerAddress(ctx context.Context) string {
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		return p.Addr.String()
	}
	return ""
}

// PeerHost is the host part of the gRPC peer's address (no port), the key
// of per-caller limits for anonymous callers: one host opening many
// connections is still one caller.
func PeerHost(ctx context.Context) string {
	a := PeerAddress(ctx)
	if h, _, err := net.SplitHostPort(a); err == nil {
		return h
	}
	return a
}
