package client

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/orbit-go/orbit/clock"
	"google.golang.org/grpc"
)

// Option configures Dial.
type Option func(*options) error

type options struct {
	namespace      string
	tls            *tls.Config
	useTLS         bool
	dialOpts       []grpc.DialOption
	clock          clock.Clock
	logger         *slog.Logger
	connectTimeout time.Duration
	callTimeout    time.Duration
	backoffMin     time.Duration
	backoffMax     time.Duration
}

func defaultOptions() options {
	return options{
		clock:          clock.System{},
		connectTimeout: 10 * time.Second,
		callTimeout:    5 * time.Second,
		backoffMin:     50 * time.Millisecond,
		backoffMax:     2 * time.Second,
	}
}

// WithNamespace sets the namespace the client works in: nodes join it, and
// references and node ids whose Namespace is empty are sent with it. The
// default "" lets the server use its own default namespace.
func WithNamespace(ns string) Option {
	return func(o *options) error {
		if err := checkUTF8("namespace", ns); err != nil {
			return err
		}
		o.namespace = ns
		return nil
	}
}

// WithTLS makes the client connect with TLS using cfg (which is cloned; nil
// means a zero tls.Config: the system roots and the address's host name).
// Without it the connection is plaintext, fit for loopback and tests only.
func WithTLS(cfg *tls.Config) Option {
	return func(o *options) error {
		if cfg == nil {
			cfg = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		o.tls = cfg.Clone()
		o.useTLS = true
		return nil
	}
}

// WithDialOptions appends raw gRPC dial options (interceptors, keepalive,
// credentials, ...). They are applied after the client's own options, so a
// transport-credentials option given here replaces the plaintext default.
func WithDialOptions(opts ...grpc.DialOption) Option {
	return func(o *options) error {
		o.dialOpts = append(o.dialOpts, opts...)
		return nil
	}
}

// WithClock sets the time source against which the background renewal of
// node leases reads the server-given RenewAt and ExpiresAt (default: the
// system clock). Waits themselves use real timers of the computed length.
func WithClock(c clock.Clock) Option {
	return func(o *options) error {
		if c == nil {
			return invalid("clock", "must not be nil")
		}
		o.clock = c
		return nil
	}
}

// WithLogger sets where the client logs background events (renewal retries,
// lost leases). The default is to log nothing. Challenge tokens are never
// logged.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		o.logger = l
		return nil
	}
}

// WithConnectTimeout bounds how long Dial waits for the connection to become
// ready when its context has no deadline (default 10 s). Zero makes Dial
// return at once and connect lazily on the first call.
func WithConnectTimeout(d time.Duration) Option {
	return func(o *options) error {
		if d < 0 {
			return invalid("connect_timeout", "is %s, must be >= 0", d)
		}
		o.connectTimeout = d
		return nil
	}
}

// WithCallTimeout bounds each call the client makes on its own: background
// lease renewals (further capped by the time left on the lease) and the
// Leave calls of Close. Calls made by the caller use the caller's context.
// The default is 5 s.
func WithCallTimeout(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return invalid("call_timeout", "is %s, must be > 0", d)
		}
		o.callTimeout = d
		return nil
	}
}

// WithRenewBackoff sets the delays between retries of a node-lease renewal
// that failed with a transient error: the first retry waits about min, each
// next one about twice as long (each ±50% at random: cenkalti/backoff's
// exponential backoff), never more than max and never past half the time
// left on the lease.
// Defaults: 50 ms and 2 s.
func WithRenewBackoff(min, max time.Duration) Option {
	return func(o *options) error {
		if min <= 0 || max < min {
			return invalid("renew_backoff", "need 0 < min <= max, got %s and %s", min, max)
		}
		o.backoffMin, o.backoffMax = min, max
		return nil
	}
}

// WithBearerToken sends token with every call, as gRPC metadata
// "authorization: Bearer TOKEN", for a server with [server.auth] mode "on".
// Like grpc's own per-RPC credentials that require transport security, it
// is never sent over a plaintext connection: Dial without transport
// security fails (orbit.ErrInvalidArgument) before anything is sent. Use it with WithTLS (or
// WithInsecureBearerToken on loopback in tests). The token is never
// logged or part of an error.
func WithBearerToken(token string) Option { return bearerOption(token, true) }

// WithInsecureBearerToken is WithBearerToken that also sends the token
// over plaintext: anyone on the path can read and reuse it. For loopback
// tests only.
func WithInsecureBearerToken(token string) Option { return bearerOption(token, false) }

// WithBearerTokenFile reads the token of WithBearerToken from path when
// Dial runs (surrounding white space trimmed): the file an orchestrator
// mounts. (For a token in an environment variable, pass
// WithBearerToken(os.Getenv(NAME)).)
func WithBearerTokenFile(path string) Option {
	return func(o *options) error {
		b, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("orbit client: bearer token file: %w", err)
		}
		if err := bearerOption(strings.TrimSpace(string(b)), true)(o); err != nil {
			return fmt.Errorf("orbit client: bearer token file %s: %w", path, err)
		}
		return nil
	}
}

func bearerOption(token string, requireTLS bool) Option {
	return func(o *options) error {
		if token == "" {
			return invalid("bearer_token", "must not be empty")
		}
		for _, r := range token {
			if r < 0x21 || r > 0x7e {
				return invalid("bearer_token", "must be printable ASCII without spaces (the token is not shown)")
			}
		}
		o.dialOpts = append(o.dialOpts, grpc.WithPerRPCCredentials(bearerCreds{token: token, requireTLS: requireTLS}))
		return nil
	}
}

// bearerCreds are per-RPC credentials carrying a bearer token.
type bearerCreds struct {
	token      string
	requireTLS bool
}

func (b bearerCreds) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + b.token}, nil
}

func (b bearerCreds) RequireTransportSecurity() bool { return b.requireTLS }

// String hides the token from %v of the options.
func (b bearerCreds) String() string { return "bearer token (not shown)" }
