package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"

	"github.com/orbit-go/orbit"
	"github.com/orbit-go/orbit/persistence/config"
	"github.com/orbit-go/orbit/server/auth"
	"google.golang.org/grpc"
)

// WithAuth sets the [server.auth] table: with mode "on" every gRPC call
// (but health) and the admin port's /metrics and /readyz need an identity
// (bearer token or verified client certificate) granted the method's role
// in the request's namespace. nil or mode "off": no authentication (the
// server warns at start when it listens beyond loopback).
func (b *Builder) WithAuth(c *config.AuthConfig) *Builder { b.auth = c; return b }

// buildAuth prepares the authenticator of c (nil when auth is off):
// the digests of tokens and token_files, and the grants. Auth on needs an
// identity source: a token, or TLS that verifies client certificates.
func buildAuth(c *config.AuthConfig, tlsCfg *tls.Config, namespace string) (*auth.Authenticator, error) {
	if !c.Enabled() {
		return nil, nil
	}
	tokens, err := loadTokens(c)
	if err != nil {
		return nil, err
	}
	var grants []config.AuthGrant
	for i, s := range c.Grants {
		g, err := config.ParseAuthGrant(s)
		if err != nil {
			return nil, fmt.Errorf("server.auth.grants[%d]: %w", i, err)
		}
		grants = append(grants, g)
	}
	verifies := tlsCfg != nil && (tlsCfg.ClientAuth == tls.VerifyClientCertIfGiven || tlsCfg.ClientAuth == tls.RequireAndVerifyClientCert)
	if tokens.Len() == 0 && !verifies {
		return nil, errors.New(`server.auth: mode is "on" but no caller can be identified: ` +
			"configure tokens or token_files, or TLS that verifies client certificates")
	}
	return auth.New(tokens, auth.NewPolicy(grants), namespace), nil
}

// loadTokens reads the digests of c.Tokens and of every token file.
func loadTokens(c *config.AuthConfig) (*auth.Tokens, error) {
	var ds []config.TokenDigest
	for i, s := range c.Tokens {
		d, err := config.ParseTokenDigest(s)
		if err != nil {
			return nil, fmt.Errorf("server.auth.tokens[%d]: %w", i, err)
		}
		ds = append(ds, d)
	}
	for i, f := range c.TokenFiles {
		fds, err := auth.LoadTokenFile(f)
		if err != nil {
			return nil, fmt.Errorf("server.auth.token_files[%d]: %w", i, err)
		}
		ds = append(ds, fds...)
	}
	return auth.NewTokens(ds), nil
}

// ReloadTokens re-reads the token digests of the configuration (tokens and
// token_files), for rotation without a restart (orbit-server serve calls it
// on SIGHUP). On error the tokens in force are kept. No-op with auth off.
func (s *Server) ReloadTokens() error {
	if s.authn == nil {
		return nil
	}
	t, err := loadTokens(s.authCfg)
	if err != nil {
		return fmt.Errorf("server: reload tokens: %w", err)
	}
	s.authn.SetTokens(t)
	s.log.Info("bearer tokens reloaded", "tokens", t.Len())
	return nil
}

// authInterceptors are the auth interceptors for the chain (none when auth
// is off).
func (s *Server) authInterceptors() ([]grpc.UnaryServerInterceptor, []grpc.StreamServerInterceptor) {
	if s.authn == nil {
		return nil, nil
	}
	u, st := s.identityHooks(s.authn.UnaryInterceptor, s.authn.StreamInterceptor) // the access log learns the identity
	return []grpc.UnaryServerInterceptor{u}, []grpc.StreamServerInterceptor{st}
}

// ownedBy returns n when the caller of ctx may act as node n (it joined it,
// or is admin in its namespace, or auth is off), else a PermissionDenied
// status (auth.MayActAsNode).
func ownedBy(ctx context.Context, n orbit.NodeInfo) (orbit.NodeInfo, error) {
	if err := auth.MayActAsNode(ctx, n.ID.Namespace, n.ID.String(), n.Owner); err != nil {
		return orbit.NodeInfo{}, err
	}
	return n, nil
}

// checkOwner is ownedBy for a node known by id (the node lease renewal,
// whose token the directory checks itself). No lookup when auth is off.
func (s *Server) checkOwner(ctx context.Context, id orbit.NodeID) error {
	if !auth.Enforced(ctx) {
		return nil
	}
	if v, err := s.cache.get(ctx, id.Namespace); err == nil {
		if n, ok := v.byKey[id.Key]; ok {
			_, err := ownedBy(ctx, n)
			return err
		}
	}
	n, err := s.nodes.Get(ctx, id)
	if err != nil {
		return toStatus(err)
	}
	_, err = ownedBy(ctx, n)
	return err
}
