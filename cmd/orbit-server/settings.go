package main

import (
	"net"
	"strconv"
	"time"

	"github.com/orbit-go/orbit/persistence/config"
	"github.com/orbit-go/orbit/server"
	"github.com/spf13/pflag"
)

// Defaults of the server settings that are not server.Timings.
const (
	defaultNamespace       = "default"
	defaultPort            = 50051
	defaultAdminAddr       = "127.0.0.1:9464"
	defaultShutdownTimeout = 15 * time.Second
	defaultLogLevel        = "info"
	defaultLogFormat       = "text"
)

// settings are the server's own settings as serve runs with them: the
// defaults, then the configuration file's [server] table (after its
// ORBIT_SERVER_* environment overrides), then the flags given explicitly
// on the command line.
type settings struct {
	namespace       string
	listen          string // gRPC listen address
	admin           string // admin listen address; "" = disabled
	shutdownTimeout time.Duration
	timings         server.Timings
	tls             config.TLSServerConfig
	logLevel        string
	logFormat       string
	accessLog       bool // one log line per gRPC call
	pprof           bool // /debug/pprof/ on the admin listener
}

// defaultSettings are the settings when neither file nor flag says more.
func defaultSettings() settings {
	return settings{
		namespace: defaultNamespace, listen: ":" + strconv.Itoa(defaultPort), admin: defaultAdminAddr,
		shutdownTimeout: defaultShutdownTimeout, timings: server.DefaultTimings(),
		logLevel: defaultLogLevel, logFormat: defaultLogFormat,
	}
}

// applyFile overlays the keys the [server] table sets (zero = not set).
func (s *settings) applyFile(c config.ServerConfig) {
	setString(&s.namespace, c.Namespace)
	setString(&s.listen, c.Listen)
	switch c.AdminAddr {
	case "":
	case config.AdminOff:
		s.admin = ""
	default:
		s.admin = c.AdminAddr
	}
	setDuration(&s.shutdownTimeout, c.ShutdownTimeout)
	s.pprof = s.pprof || c.Pprof
	if t := c.Timings; t != nil {
		setDuration(&s.timings.NodeLeaseTTL, t.NodeLeaseTTL)
		setDuration(&s.timings.NodeRenewInterval, t.NodeRenewInterval)
		setDuration(&s.timings.AddressableLeaseTTL, t.AddressableLeaseTTL)
		setDuration(&s.timings.SweepInterval, t.SweepInterval)
		setDuration(&s.timings.NodeCacheTTL, t.NodeCacheTTL)
		setDuration(&s.timings.HealthInterval, t.HealthInterval)
	}
	if c.TLS != nil {
		s.tls = *c.TLS
	}
	if l := c.Log; l != nil {
		setString(&s.logLevel, l.Level)
		setString(&s.logFormat, l.Format)
		s.accessLog = s.accessLog || l.Access
	}
}

// applyFlags overlays the flags of serve's flag set fl that were given on
// the command line (a flag left at its default does not override the file).
func (s *settings) applyFlags(fl *pflag.FlagSet) {
	given := fl.Changed
	str := func(name string, dst *string) {
		if given(name) {
			*dst, _ = fl.GetString(name)
		}
	}
	dur := func(name string, dst *time.Duration) {
		if given(name) {
			*dst, _ = fl.GetDuration(name)
		}
	}
	str("namespace", &s.namespace)
	if given("port") {
		port, _ := fl.GetInt("port")
		host, _, err := net.SplitHostPort(s.listen)
		if err != nil {
			host = ""
		}
		s.listen = net.JoinHostPort(host, strconv.Itoa(port))
	}
	str("listen", &s.listen)
	str("admin-addr", &s.admin)
	if s.admin == config.AdminOff {
		s.admin = ""
	}
	dur("shutdown-timeout", &s.shutdownTimeout)
	dur("node-lease-ttl", &s.timings.NodeLeaseTTL)
	dur("node-renew-interval", &s.timings.NodeRenewInterval)
	dur("addressable-lease-ttl", &s.timings.AddressableLeaseTTL)
	dur("sweep-interval", &s.timings.SweepInterval)
	dur("node-cache-ttl", &s.timings.NodeCacheTTL)
	dur("health-interval", &s.timings.HealthInterval)
	str("tls-cert", &s.tls.CertFile)
	str("tls-key", &s.tls.KeyFile)
	str("tls-client-ca", &s.tls.ClientCAFile)
	str("log-level", &s.logLevel)
	str("log-format", &s.logFormat)
	boolean := func(name string, dst *bool) {
		if given(name) {
			*dst, _ = fl.GetBool(name)
		}
	}
	boolean("access-log", &s.accessLog)
	boolean("pprof", &s.pprof)
}

// resolveSettings is what serve runs with: defaults, then the file's
// [server] table, then the flags given.
func resolveSettings(fl *pflag.FlagSet, file config.ServerConfig) (settings, error) {
	if port, _ := fl.GetInt("port"); port < 0 || port > 65535 {
		return settings{}, usagef("--port %d: want a port from 0 to 65535", port)
	}
	st := defaultSettings()
	st.applyFile(file)
	st.applyFlags(fl)
	return st, nil
}

// effective returns c with its settings replaced by s, for `config show`:
// every setting is printed with the value serve would use.
func (s settings) effective(c config.ServerConfig) config.ServerConfig {
	c.Namespace, c.Listen, c.ShutdownTimeout = s.namespace, s.listen, s.shutdownTimeout
	c.AdminAddr = s.admin
	if c.AdminAddr == "" {
		c.AdminAddr = config.AdminOff
	}
	c.Timings = &config.TimingsConfig{
		NodeLeaseTTL: s.timings.NodeLeaseTTL, NodeRenewInterval: s.timings.RenewInterval(),
		AddressableLeaseTTL: s.timings.AddressableLeaseTTL, SweepInterval: s.timings.SweepInterval,
		NodeCacheTTL: s.timings.NodeCacheTTL, HealthInterval: s.timings.HealthInterval,
	}
	if s.tls != (config.TLSServerConfig{}) {
		t := s.tls
		c.TLS = &t
	}
	c.Log = &config.LogConfig{Level: s.logLevel, Format: s.logFormat, Access: s.accessLog}
	c.Pprof = s.pprof
	return c
}

func setString(dst *string, v string) {
	if v != "" {
		*dst = v
	}
}

func setDuration(dst *time.Duration, v time.Duration) {
	if v != 0 {
		*dst = v
	}
}
