package config

import (
	"net"
	"strconv"
	"strings"
	"time"
)

// The server's own settings in the [server] table, beside its auth, limits
// and audit sub-tables. Every key is optional: an absent key (or its zero
// value) means the server's default, and a command-line flag given
// explicitly wins over the file. Environment variables ORBIT_SERVER_<KEY>
// (ORBIT_SERVER_TIMINGS__NODE_LEASE_TTL for a key of a sub-table) win over
// the file too (see Config.ApplyEnv).
//
//	[server]
//	namespace = "default"              # namespace of requests that name none
//	listen = ":50051"                  # gRPC listen address
//	admin_addr = "127.0.0.1:9464"      # /metrics, /healthz, /readyz; "off" disables
//	shutdown_timeout = "15s"           # drain time on SIGTERM
//	pprof = false                      # /debug/pprof/ on the admin listener
//
//	[server.timings]
//	node_lease_ttl = "3s"
//	node_renew_interval = "500ms"      # "0s" or absent: a sixth of node_lease_ttl
//	addressable_lease_ttl = "60s"
//	sweep_interval = "5s"
//	node_cache_ttl = "500ms"
//	health_interval = "5s"
//
//	[server.tls]
//	cert_file = "/etc/orbit/tls/server.crt"
//	key_file = "/etc/orbit/tls/server.key"
//	client_ca_file = "/etc/orbit/tls/clients-ca.crt"   # require client certificates (mTLS)
//
//	[server.log]
//	level = "info"                     # debug, info, warn or error
//	format = "text"                    # text or json
//	access = false                     # one line per gRPC call

// AdminOff is the admin_addr value that disables the admin listener.
const AdminOff = "off"

// TimingsConfig is the [server.timings] table. Durations are strings such
// as "500ms", "3s" or "1m"; zero or absent means the server's default.
type TimingsConfig struct {
	// NodeLeaseTTL: a node that stops renewing is out after this long.
	NodeLeaseTTL time.Duration `toml:"node_lease_ttl" json:"node_lease_ttl"`
	// NodeRenewInterval: how often nodes are told to renew (zero: a sixth
	// of NodeLeaseTTL).
	NodeRenewInterval time.Duration `toml:"node_renew_interval" json:"node_renew_interval"`
	// AddressableLeaseTTL is the duration of an addressable's lease.
	AddressableLeaseTTL time.Duration `toml:"addressable_lease_ttl" json:"addressable_lease_ttl"`
	// SweepInterval: how often expired nodes and leases are cleaned up.
	SweepInterval time.Duration `toml:"sweep_interval" json:"sweep_interval"`
	// NodeCacheTTL is the staleness allowed in the server's view of live
	// nodes; it must stay below NodeLeaseTTL.
	NodeCacheTTL time.Duration `toml:"node_cache_ttl" json:"node_cache_ttl"`
	// HealthInterval: how often the default providers' health is checked.
	HealthInterval time.Duration `toml:"health_interval" json:"health_interval"`
}

// TLSServerConfig is the [server.tls] table: gRPC (and the admin listener)
// over TLS. CertFile and KeyFile go together; ClientCAFile additionally
// requires client certificates signed by that CA (mTLS).
type TLSServerConfig struct {
	CertFile     string `toml:"cert_file" json:"cert_file"`
	KeyFile      string `toml:"key_file" json:"key_file"`
	ClientCAFile string `toml:"client_ca_file" json:"client_ca_file"`
}

// LogConfig is the [server.log] table.
type LogConfig struct {
	// Level is debug, info (the default), warn or error.
	Level string `toml:"level" json:"level"`
	// Format is text (the default) or json.
	Format string `toml:"format" json:"format"`
	// Access logs one line per gRPC call (method, identity, code,
	// duration, trace id) at level info; off by default.
	Access bool `toml:"access" json:"access"`
}

// maxServerDuration bounds every duration of the [server] table: beyond a
// day is a typo (a unit missing: "3000" hours, not ms).
const maxServerDuration = 24 * time.Hour

// timingKeys pairs each key of the table with its value, in file order.
func (c *TimingsConfig) timingKeys() []struct {
	key string
	v   time.Duration
} {
	return []struct {
		key string
		v   time.Duration
	}{
		{"node_lease_ttl", c.NodeLeaseTTL}, {"node_renew_interval", c.NodeRenewInterval},
		{"addressable_lease_ttl", c.AddressableLeaseTTL}, {"sweep_interval", c.SweepInterval},
		{"node_cache_ttl", c.NodeCacheTTL}, {"health_interval", c.HealthInterval},
	}
}

// validate checks each duration alone (0 <= d <= 24h) and the one relation
// the file can decide alone: node_renew_interval and node_cache_ttl below an
// explicit node_lease_ttl. The server checks the merged timings again.
func (c *TimingsConfig) validate(p *problems, path string) {
	for _, k := range c.timingKeys() {
		checkDuration(p, path+"."+k.key, k.v)
	}
	if c.NodeLeaseTTL > 0 {
		if c.NodeRenewInterval >= c.NodeLeaseTTL {
			p.add(path+".node_renew_interval", "is %s, must be shorter than node_lease_ttl (%s)", c.NodeRenewInterval, c.NodeLeaseTTL)
		}
		if c.NodeCacheTTL >= c.NodeLeaseTTL {
			p.add(path+".node_cache_ttl", "is %s, must be shorter than node_lease_ttl (%s)", c.NodeCacheTTL, c.NodeLeaseTTL)
		}
	}
}

func checkDuration(p *problems, path string, d time.Duration) {
	switch {
	case d < 0:
		p.add(path, "is %s, must be >= 0 (0 = the default)", d)
	case d > maxServerDuration:
		p.add(path, "is %s, more than %s (a unit missing?)", d, maxServerDuration)
	}
}

func (c *TLSServerConfig) validate(p *problems, path string) {
	if (c.CertFile == "") != (c.KeyFile == "") {
		p.add(path, "cert_file and key_file must be given together")
	}
	if c.ClientCAFile != "" && c.CertFile == "" {
		p.add(path+".client_ca_file", "needs cert_file and key_file (mTLS is TLS with client certificates)")
	}
}

func (c *LogConfig) validate(p *problems, path string) {
	switch strings.ToLower(c.Level) {
	case "", "debug", "info", "warn", "error":
	default:
		p.add(path+".level", "is %s, want debug, info, warn or error", quoteString(c.Level))
	}
	switch strings.ToLower(c.Format) {
	case "", "text", "json":
	default:
		p.add(path+".format", "is %s, want text or json", quoteString(c.Format))
	}
}

// validateSettings checks the [server] table's own keys.
func (s ServerConfig) validateSettings(p *problems) {
	if s.Namespace != "" && !validName(s.Namespace) {
		p.add("server.namespace", "is %s: use letters, digits, '_' and '-'", quoteString(s.Namespace))
	}
	if s.Listen != "" {
		checkListenAddr(p, "server.listen", s.Listen)
	}
	if s.AdminAddr != "" && s.AdminAddr != AdminOff {
		checkListenAddr(p, "server.admin_addr", s.AdminAddr)
	}
	checkDuration(p, "server.shutdown_timeout", s.ShutdownTimeout)
	if s.Timings != nil {
		s.Timings.validate(p, "server.timings")
	}
	if s.TLS != nil {
		s.TLS.validate(p, "server.tls")
	}
	if s.Log != nil {
		s.Log.validate(p, "server.log")
	}
}

// checkListenAddr accepts "host:port" and ":port" with a port in 0..65535.
func checkListenAddr(p *problems, path, addr string) {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		p.add(path, "is %s, want host:port or :port", quoteString(addr))
		return
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		p.add(path, "is %s: the port must be a number from 0 to 65535", quoteString(addr))
	}
}
