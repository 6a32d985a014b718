package main

// The operator commands (nodes, leases, locate, node run) talk to a running
// server through package client. This file holds what they share: the
// connection flags, the --output flag and the parsing of TYPE/KEY
// arguments. See docs/cli.md.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/orbit-go/orbit"
	"github.com/orbit-go/orbit/client"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// envServerAddr names the environment variable that replaces the default
// --server address. (Not ORBIT_SERVER_*: those variables configure `serve`'s
// [server] table, and an unknown one is an error there.)
const envServerAddr = "ORBIT_ADDR"

// defaultServerAddr is the --server default when ORBIT_ADDR is unset:
// `serve --listen 127.0.0.1:50051` on the same machine.
const defaultServerAddr = "127.0.0.1:50051"

// connFlags are the flags with which every operator command reaches a
// server. One value is shared by the subcommands of a group (persistent
// flags of the group).
type connFlags struct {
	server        string
	namespace     string
	tlsCA         string
	tlsCert       string
	tlsKey        string
	tlsServerName string
	insecure      bool
	tokenFile     string
	timeout       time.Duration
	output        string
}

// addConnFlags registers the connection flags and --output on fs.
func addConnFlags(fs *pflag.FlagSet, f *connFlags) {
	fs.StringVar(&f.server, "server", "", "server address host:port, or several as host:port,host:port (default $"+envServerAddr+", else "+defaultServerAddr+")")
	fs.StringVar(&f.namespace, "namespace", "", `namespace to work in (default: the server's default namespace, "default" unless serve --namespace)`)
	fs.StringVar(&f.tlsCA, "tls-ca", "", "connect with TLS, trusting the CA certificates of this PEM file instead of the system roots")
	fs.StringVar(&f.tlsCert, "tls-cert", "", "connect with TLS presenting this client certificate (PEM; with --tls-key): mTLS")
	fs.StringVar(&f.tlsKey, "tls-key", "", "private key of --tls-cert (PEM)")
	fs.StringVar(&f.tlsServerName, "tls-server-name", "", "connect with TLS and verify the server certificate against this name instead of the address's host")
	fs.BoolVar(&f.insecure, "insecure", false, "plaintext, no TLS: the default for a loopback --server (127.0.0.1, ::1, localhost); any other server gets TLS with the system roots unless this is given")
	fs.StringVar(&f.tokenFile, "token-file", "", "send the bearer token read from this file (surrounding white space trimmed); over TLS, or plaintext to loopback only")
	fs.DurationVar(&f.timeout, "timeout", 10*time.Second, "time allowed for connecting and for each call")
	fs.StringVarP(&f.output, "output", "o", "table", "output format: table or json")
}

// serverAddr is --server, else $ORBIT_ADDR, else the loopback default.
func (f *connFlags) serverAddr() string {
	if f.server != "" {
		return f.server
	}
	if v := strings.TrimSpace(os.Getenv(envServerAddr)); v != "" {
		return v
	}
	return defaultServerAddr
}

// check validates the flags that can be judged without touching a file or
// the network; its errors are usage errors.
func (f *connFlags) check() error {
	switch f.output {
	case "table", "json":
	default:
		return usagef("--output %q: want table or json", f.output)
	}
	if f.timeout <= 0 {
		return usagef("--timeout %s: must be > 0", f.timeout)
	}
	if (f.tlsCert == "") != (f.tlsKey == "") {
		return usagef("--tls-cert and --tls-key must be given together")
	}
	if f.insecure && f.wantTLS() {
		return usagef("--insecure (plaintext) cannot be combined with --tls-ca, --tls-cert, --tls-key or --tls-server-name")
	}
	if f.tokenFile != "" && !f.useTLS() && !targetIsLocal(f.serverAddr()) {
		return usagef("--token-file: refusing to send a bearer token over plaintext to %s, which is not a loopback address: use TLS (--tls-ca, or drop --insecure)", f.serverAddr())
	}
	return nil
}

// wantTLS reports whether a TLS flag was given.
func (f *connFlags) wantTLS() bool {
	return f.tlsCA != "" || f.tlsCert != "" || f.tlsKey != "" || f.tlsServerName != ""
}

// useTLS reports whether the connection uses TLS: when a TLS flag is
// given, or else when the server is not on loopback and --insecure is not
// given (TLS with the system roots).
func (f *connFlags) useTLS() bool {
	if f.wantTLS() {
		return true
	}
	return !f.insecure && !targetIsLocal(f.serverAddr())
}

// tlsConfig builds the client TLS configuration from the flags.
func (f *connFlags) tlsConfig() (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: f.tlsServerName}
	if f.tlsCA != "" {
		pem, err := os.ReadFile(f.tlsCA)
		if err != nil {
			return nil, fmt.Errorf("read --tls-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--tls-ca %s: no PEM certificate found", f.tlsCA)
		}
		cfg.RootCAs = pool
	}
	if f.tlsCert != "" {
		cert, err := tls.LoadX509KeyPair(f.tlsCert, f.tlsKey)
		if err != nil {
			return nil, fmt.Errorf("load --tls-cert %s / --tls-key %s: %w", f.tlsCert, f.tlsKey, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// dial checks the flags and connects to the server within --timeout. The
// caller closes the client. Flag errors are usage errors; an unreadable
// file or an unreachable server are not. The token never appears in an
// error.
func (f *connFlags) dial(ctx context.Context) (*client.Client, error) {
	if err := f.check(); err != nil {
		return nil, err
	}
	addr := f.serverAddr()
	opts := []client.Option{client.WithNamespace(f.namespace), client.WithCallTimeout(f.timeout)}
	if f.useTLS() {
		cfg, err := f.tlsConfig()
		if err != nil {
			return nil, err
		}
		opts = append(opts, client.WithTLS(cfg))
	}
	if f.tokenFile != "" {
		if f.useTLS() {
			opts = append(opts, client.WithBearerTokenFile(f.tokenFile))
		} else {
			// Plaintext to loopback only (check refused anything else).
			b, err := os.ReadFile(f.tokenFile)
			if err != nil {
				return nil, fmt.Errorf("read --token-file: %w", err)
			}
			opts = append(opts, client.WithInsecureBearerToken(strings.TrimSpace(string(b))))
		}
	}
	dctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	c, err := client.Dial(dctx, addr, opts...)
	if err != nil {
		if errors.Is(err, orbit.ErrUnavailable) {
			return nil, fmt.Errorf("connect to %s (--server): no server answered within %s (is `orbit-server serve` running there, and are the TLS flags right?): %w", addr, f.timeout, err)
		}
		return nil, fmt.Errorf("connect to %s (--server): %w", addr, err)
	}
	return c, nil
}

// callCtx bounds one call by --timeout.
func (f *connFlags) callCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, f.timeout)
}

// call dials the server, runs one call with a fresh --timeout context and
// closes the connection: the shape of every command that makes one call.
func (f *connFlags) call(ctx context.Context, fn func(ctx context.Context, c *client.Client) error) error {
	c, err := f.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	cctx, cancel := f.callCtx(ctx)
	defer cancel()
	return fn(cctx, c)
}

// targetIsLocal reports whether every server of a client target is on this
// machine: a loopback IP, "localhost" or a unix socket. Anything it cannot
// parse is not local.
func targetIsLocal(target string) bool {
	if target == "" {
		return false
	}
	for _, part := range strings.Split(target, ",") {
		part = strings.TrimSpace(part)
		if strings.HasPrefix(part, "unix:") {
			continue
		}
		part = strings.TrimPrefix(part, "dns:///")
		host, _, err := net.SplitHostPort(part)
		if err != nil {
			return false
		}
		if strings.EqualFold(host, "localhost") {
			continue
		}
		ip := net.ParseIP(host)
		if ip == nil || !ip.IsLoopback() {
			return false
		}
	}
	return true
}

// keyKinds are the values of --key-kind.
var keyKinds = []string{"string", "int32", "int64", "none"}

// parseRef parses a TYPE/KEY argument: the type is before the first '/',
// the key after it (it may itself contain '/'). kind says how KEY is read:
// "string" (the default), "int32", "int64", or "none" (no key: the
// argument is TYPE alone). Errors are usage errors naming the argument.
// The namespace is left empty: the client fills in its own.
func parseRef(arg, kind string) (orbit.AddressableReference, error) {
	switch kind {
	case "string", "int32", "int64", "none":
	default:
		return orbit.AddressableReference{}, usagef("--key-kind %q: want one of %s", kind, strings.Join(keyKinds, ", "))
	}
	typ, key, hasKey := strings.Cut(arg, "/")
	if kind == "none" {
		if hasKey && key != "" {
			return orbit.AddressableReference{}, usagef("argument %q: --key-kind none takes TYPE without a key", arg)
		}
	} else if !hasKey {
		return orbit.AddressableReference{}, usagef("argument %q: want TYPE/KEY, e.g. Greeter/alice", arg)
	}
	if err := orbit.ValidateIdentifier("type", typ, orbit.MaxTypeLen); err != nil {
		return orbit.AddressableReference{}, usageError{fmt.Errorf("argument %q: %w", arg, err)}
	}
	ref := orbit.AddressableReference{Type: typ}
	switch kind {
	case "string":
		if err := orbit.ValidateIdentifier("key", key, orbit.MaxKeyLen); err != nil {
			return orbit.AddressableReference{}, usageError{fmt.Errorf("argument %q: %w", arg, err)}
		}
		ref.Key = orbit.StringKey(key)
	case "int32", "int64":
		bits := 32
		if kind == "int64" {
			bits = 64
		}
		k, err := orbit.ParseAddressableKey("i" + kind[3:] + ":" + key)
		if err != nil {
			return orbit.AddressableReference{}, usagef("argument %q: key %q is not an integer of %d bits", arg, key, bits)
		}
		ref.Key = k
	default: // "none"
		ref.Key = orbit.NoKey()
	}
	return ref, nil
}

// addKeyKindFlag registers --key-kind on cmd.
func addKeyKindFlag(cmd *cobra.Command, kind *string) {
	cmd.Flags().StringVar(kind, "key-kind", "string", "how KEY of TYPE/KEY is read: string, int32, int64, or none (TYPE alone)")
}

// exactlyOneArg is cobra.ExactArgs(1) naming the expected argument.
func exactlyOneArg(name string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) != 1 {
			return usagef("want exactly one argument %s, got %d", name, len(args))
		}
		return nil
	}
}
