package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/orbit-go/orbit/persistence/config"
	"github.com/orbit-go/orbit/server"
	"github.com/orbit-go/orbit/server/audit"
	"github.com/spf13/cobra"
)

// defaultConfig is the embedded default: one memory provider with a
// compressed disk backup in dataDir, default for both directories.
func defaultConfig(dataDir string) (*config.Config, error) {
	mem := config.DefaultMemoryConfig()
	mem.DiskBackup = &config.DiskBackupConfig{
		Path: filepath.Join(dataDir, "orbit-backup.orbit"), SyncInterval: 30, Compression: config.CompressionZstd,
	}
	return config.NewBuilder().WithMemory("memory", mem, true).Build()
}

// serveFlags are the flags serve reads itself; the server settings' flags
// are read from the flag set by resolveSettings.
type serveFlags struct {
	config, dataDir string
	failFast        bool
}

func newServeCmd() *cobra.Command {
	var f serveFlags
	t := server.DefaultTimings()
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the Orbit server (default: memory provider with disk backup in ./data)",
		Long: `Runs the Orbit server: gRPC node membership and addressable placement on
port 50051, and an admin HTTP listener with /metrics, /healthz and /readyz.

Without --config it runs on the embedded default: namespace "default", one
memory provider with a zstd-compressed disk backup in --data-dir, written
every 30 s and on shutdown, restored on start. With --config it uses the
default providers of that file (see docs/configuration.md).

The server's own settings (listeners, namespace, timings, TLS, logging) come
from, in increasing precedence: the defaults shown below, the configuration
file's [server] table, ORBIT_SERVER_<KEY> environment variables
(ORBIT_SERVER_TIMINGS__NODE_LEASE_TTL=5s for a key of a sub-table), and the
flags given on the command line. "config show FILE" prints the result.

When a default provider cannot be opened at start (its backend is down),
serve starts anyway: grpc.health.v1 answers NOT_SERVING and /readyz 503 with
the reason, other calls are refused with Unavailable, and the opening is
retried every second or so until it succeeds; then the server serves.
--fail-fast exits 1 instead (for scripts).

SIGTERM or Ctrl-C drains in-flight calls (up to --shutdown-timeout), takes
the final backup and exits 0.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return serve(cmd, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.config, "config", "", "configuration file (TOML or JSON); default: the embedded memory configuration")
	fl.String("namespace", defaultNamespace, "namespace of requests that name none ([server] namespace)")
	fl.Int("port", defaultPort, "gRPC port, on every interface unless the listen address names a host")
	fl.String("listen", "", "gRPC listen address, overrides --port (e.g. 127.0.0.1:50051; [server] listen)")
	fl.String("admin-addr", defaultAdminAddr, `admin HTTP listen address for /metrics, /healthz, /readyz (loopback unless set; ":9464" is every interface; "" or "off" disables it; [server] admin_addr)`)
	fl.BoolVar(&f.failFast, "fail-fast", false, "exit 1 when a default provider cannot be opened at start (default: start, answer NOT_SERVING and /readyz 503, and retry until it opens)")
	fl.StringVar(&f.dataDir, "data-dir", "data", "folder of the embedded default's disk backup (ignored with --config)")
	fl.Duration("node-lease-ttl", t.NodeLeaseTTL, "node lease: a node that stops renewing is out after this long ([server.timings] node_lease_ttl)")
	fl.Duration("node-renew-interval", 0, "how often nodes renew their lease; the rest of the TTL rides out server deaths and backend blips (0: a sixth of --node-lease-ttl)")
	fl.Duration("addressable-lease-ttl", t.AddressableLeaseTTL, "addressable lease duration (renewed by its holder)")
	fl.Duration("sweep-interval", t.SweepInterval, "how often expired nodes and leases are cleaned up")
	fl.Duration("node-cache-ttl", t.NodeCacheTTL, "staleness allowed in the server's view of live nodes")
	fl.Duration("health-interval", t.HealthInterval, "how often the default providers' health is checked")
	fl.String("tls-cert", "", "serve gRPC over TLS with this certificate (PEM; [server.tls] cert_file)")
	fl.String("tls-key", "", "private key of --tls-cert (PEM; [server.tls] key_file)")
	fl.String("tls-client-ca", "", "require client certificates signed by this CA (mTLS; [server.tls] client_ca_file)")
	fl.String("log-level", defaultLogLevel, "debug, info, warn or error ([server.log] level)")
	fl.String("log-format", defaultLogFormat, "text or json ([server.log] format)")
	fl.Bool("access-log", false, "log one line per gRPC call: method, identity, code, duration, trace id ([server.log] access)")
	fl.Bool("pprof", false, "serve Go's profiler at /debug/pprof/ on the admin listener, behind the admin auth when auth is on ([server] pprof)")
	fl.Duration("shutdown-timeout", defaultShutdownTimeout, "time allowed to drain in-flight calls on SIGTERM ([server] shutdown_timeout)")
	return cmd
}

func newLogger(level, format string) (*slog.Logger, error) {
	return newLoggerTo(os.Stderr, level, format)
}

// newLoggerTo is newLogger writing to w. Durations are written as
// duration strings ("1.5s") in both formats (the JSON handler would write
// integer nanoseconds).
func newLoggerTo(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, usagef("log level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv, ReplaceAttr: server.DurationAsString}
	switch strings.ToLower(format) {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, usagef("log format %q: want text or json", format)
}

// loadTLS reads the certificates the settings name (nil: no TLS).
func loadTLS(c config.TLSServerConfig) (*tls.Config, error) {
	if c == (config.TLSServerConfig{}) {
		return nil, nil
	}
	if c.CertFile == "" || c.KeyFile == "" {
		return nil, usagef("a TLS certificate and its key must be given together (--tls-cert and --tls-key, or [server.tls] cert_file and key_file)")
	}
	cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("load TLS certificate %s / key %s: %w", c.CertFile, c.KeyFile, err)
	}
	tc := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if c.ClientCAFile != "" {
		pem, err := os.ReadFile(c.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("read TLS client CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("TLS client CA %s: no PEM certificate found", c.ClientCAFile)
		}
		tc.ClientCAs, tc.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return tc, nil
}

// serveConfig loads the configuration serve runs with: --config's file
// (with its environment overrides), or the embedded default with the
// ORBIT_SERVER_* overrides alone.
func serveConfig(f serveFlags) (*config.Config, error) {
	if f.config != "" {
		return loadConfig(f.config)
	}
	cfg, err := defaultConfig(f.dataDir)
	if err != nil {
		return nil, err
	}
	return withEnv(cfg)
}

func serve(cmd *cobra.Command, f serveFlags) error {
	hup := catchHangups()
	defer signal.Stop(hup)
	cfg, err := serveConfig(f)
	if err != nil {
		printErrors(cmd.ErrOrStderr(), err)
		return exitError{1}
	}
	st, err := resolveSettings(cmd.Flags(), cfg.Server)
	if err != nil {
		return err
	}
	log, err := newLogger(st.logLevel, st.logFormat)
	if err != nil {
		return err
	}
	tp, stopTrace, err := startTracing(cmd.Context(), log) // off unless OTEL_* variables ask for it
	if err != nil {
		return err
	}
	defer stopTracing(log, stopTrace) // after srv.Stop: its last spans are flushed
	tlsCfg, err := loadTLS(st.tls)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	b := server.NewBuilder().WithNamespace(st.namespace).WithListenAddress(st.listen).WithAdminAddress(st.admin).
		WithPersistence(cfg).WithTimings(st.timings).WithLogger(log).WithAuth(cfg.Server.Auth).
		WithLimits(server.LimitsFromConfig(cfg.Server.Limits)). // [server.limits]; defaults when absent
		WithBackendWait(!f.failFast).WithAccessLog(st.accessLog).WithPprof(st.pprof).WithTracerProvider(tp).
		WithBuildInfo(server.BuildInfo{Version: buildVersion(), Revision: readBuildInfo().Revision})
	if tlsCfg != nil {
		b = b.WithTLS(tlsCfg)
	}
	// The audit log is closed (flushed) after srv.Stop has drained the
	// calls that record in it.
	auditLog, err := audit.Open(cfg.Server.Audit, audit.WithLogger(log))
	if err != nil {
		return err
	}
	defer func() {
		if err := auditLog.Close(); err != nil {
			log.Error("closing the audit log", "error", err)
		}
	}()
	b = b.WithAudit(auditLog)
	log.Info("starting orbit-server", "version", buildVersion(), "config", configSource(f), "defaults",
		cfg.Defaults.Addressable+"/"+cfg.Defaults.Cluster, "audit", auditDescription(cfg.Server.Audit),
		"listen", st.listen, "admin", adminDescription(st.admin), "namespace", st.namespace)
	srv, err := b.Build(ctx)
	if err != nil {
		return err
	}
	if err := srv.Start(ctx); err != nil {
		_ = srv.Stop(context.Background())
		return err
	}
	reloadTokensOnHangup(ctx, hup, srv, log)
	<-ctx.Done()
	log.Info("shutting down: draining in-flight calls", "timeout", st.shutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), st.shutdownTimeout)
	defer cancel()
	return srv.Stop(sctx)
}

// adminDescription is the admin listener, for the start line.
func adminDescription(addr string) string {
	if addr == "" {
		return "off"
	}
	return addr
}

// auditDescription is where the audit log goes, for the start line.
func auditDescription(c *config.AuditConfig) string {
	if c.SinkOrDefault() == config.AuditSinkFile {
		return "file " + c.Path
	}
	return c.SinkOrDefault()
}

func configSource(f serveFlags) string {
	if f.config != "" {
		return f.config
	}
	return "embedded default (memory, backup in " + filepath.Join(f.dataDir, "orbit-backup.orbit") + ")"
}
