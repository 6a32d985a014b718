package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

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

type serveFlags struct {
	config, namespace, listen, admin, dataDir string
	port                                      int
	timings                                   server.Timings
	tlsCert, tlsKey, tlsClientCA              string
	logLevel, logFormat                       string
	shutdownTimeout                           time.Duration
}

func newServeCmd() *cobra.Command {
	f := serveFlags{timings: server.DefaultTimings()}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the Orbit server (default: memory provider with disk backup in ./data)",
		Long: `Runs the Orbit server: gRPC node membership and addressable placement on
port 50051, and an admin HTTP listener with /metrics, /healthz and /readyz.

Without --config it runs on the embedded default: namespace "default", one
memory provider with a zstd-compressed disk backup in --data-dir, written
every 30 s and on shutdown, restored on start. With --config it uses the
default providers of that file (see docs/configuration.md).

SIGTERM or Ctrl-C drains in-flight calls (up to --shutdown-timeout), takes
the final backup and exits 0.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return serve(cmd, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.config, "config", "", "configuration file (TOML or JSON); default: the embedded memory configuration")
	fl.StringVar(&f.namespace, "namespace", "default", "namespace of requests that name none")
	fl.IntVar(&f.port, "port", 50051, "gRPC port (all interfaces)")
	fl.StringVar(&f.listen, "listen", "", "gRPC listen address, overrides --port (e.g. 127.0.0.1:50051)")
	fl.StringVar(&f.admin, "admin-addr", "127.0.0.1:9464", `admin HTTP listen address for /metrics, /healthz, /readyz (loopback unless set; ":9464" is every interface; "" disables it)`)
	fl.StringVar(&f.dataDir, "data-dir", "data", "folder of the embedded default's disk backup (ignored with --config)")
	fl.DurationVar(&f.timings.NodeLeaseTTL, "node-lease-ttl", f.timings.NodeLeaseTTL, "node lease: a node that stops renewing is out after this long")
	fl.DurationVar(&f.timings.NodeRenewInterval, "node-renew-interval", 0, "how often nodes renew their lease; the rest of the TTL rides out server deaths and backend blips (0: a sixth of --node-lease-ttl)")
	fl.DurationVar(&f.timings.AddressableLeaseTTL, "addressable-lease-ttl", f.timings.AddressableLeaseTTL, "addressable lease duration (renewed by its holder)")
	fl.DurationVar(&f.timings.SweepInterval, "sweep-interval", f.timings.SweepInterval, "how often expired nodes and leases are cleaned up")
	fl.DurationVar(&f.timings.NodeCacheTTL, "node-cache-ttl", f.timings.NodeCacheTTL, "staleness allowed in the server's view of live nodes")
	fl.DurationVar(&f.timings.HealthInterval, "health-interval", f.timings.HealthInterval, "how often the default providers' health is checked")
	fl.StringVar(&f.tlsCert, "tls-cert", "", "serve gRPC over TLS with this certificate (PEM)")
	fl.StringVar(&f.tlsKey, "tls-key", "", "private key of --tls-cert (PEM)")
	fl.StringVar(&f.tlsClientCA, "tls-client-ca", "", "require client certificates signed by this CA (mTLS)")
	fl.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	fl.StringVar(&f.logFormat, "log-format", "text", "text or json")
	fl.DurationVar(&f.shutdownTimeout, "shutdown-timeout", 15*time.Second, "time allowed to drain in-flight calls on SIGTERM")
	return cmd
}

func newLogger(level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch strings.ToLower(format) {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", format)
}

func loadTLS(f serveFlags) (*tls.Config, error) {
	if f.tlsCert == "" && f.tlsKey == "" && f.tlsClientCA == "" {
		return nil, nil
	}
	if f.tlsCert == "" || f.tlsKey == "" {
		return nil, errors.New("--tls-cert and --tls-key must be given together")
	}
	cert, err := tls.LoadX509KeyPair(f.tlsCert, f.tlsKey)
	if err != nil {
		return nil, fmt.Errorf("load --tls-cert %s / --tls-key %s: %w", f.tlsCert, f.tlsKey, err)
	}
	c := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if f.tlsClientCA != "" {
		pem, err := os.ReadFile(f.tlsClientCA)
		if err != nil {
			return nil, fmt.Errorf("read --tls-client-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--tls-client-ca %s: no PEM certificate found", f.tlsClientCA)
		}
		c.ClientCAs, c.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return c, nil
}

func serve(cmd *cobra.Command, f serveFlags) error {
	log, err := newLogger(f.logLevel, f.logFormat)
	if err != nil {
		return err
	}
	var cfg *config.Config
	if f.config != "" {
		if cfg, err = loadConfig(f.config); err != nil {
			printErrors(cmd.ErrOrStderr(), err)
			return exitError{1}
		}
	} else if cfg, err = defaultConfig(f.dataDir); err != nil {
		return err
	}
	tlsCfg, err := loadTLS(f)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	b := server.NewBuilder().WithNamespace(f.namespace).WithPort(f.port).WithAdminAddress(f.admin).
		WithPersistence(cfg).WithTimings(f.timings).WithLogger(log).WithAuth(cfg.Server.Auth).
		WithLimits(server.LimitsFromConfig(cfg.Server.Limits)) // [server.limits]; defaults when absent
	if f.listen != "" {
		b = b.WithListenAddress(f.listen)
	}
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
		cfg.Defaults.Addressable+"/"+cfg.Defaults.Cluster, "audit", auditDescription(cfg.Server.Audit))
	srv, err := b.Build(ctx)
	if err != nil {
		return err
	}
	if err := srv.Start(ctx); err != nil {
		_ = srv.Stop(context.Background())
		return err
	}
	reloadTokensOnHangup(ctx, srv, log)
	<-ctx.Done()
	log.Info("shutting down: draining in-flight calls", "timeout", f.shutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), f.shutdownTimeout)
	defer cancel()
	return srv.Stop(sctx)
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
