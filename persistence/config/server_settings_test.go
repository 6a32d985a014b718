package config_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/orbit-go/orbit/persistence/config"
	"github.com/orbit-go/orbit/persistence/driver"
)

const settingsFile = `
[server]
namespace = "prod"
listen = "127.0.0.1:7000"
admin_addr = "off"
shutdown_timeout = "30s"

[server.timings]
node_lease_ttl = "10s"
node_cache_ttl = "750ms"
sweep_interval = "1m"

[server.tls]
cert_file = "/etc/orbit/tls/server.crt"
key_file = "/etc/orbit/tls/server.key"

[server.log]
level = "debug"
format = "json"
` + serverBase

// The server's own settings decode from [server] with durations as
// strings, survive rendering to TOML and JSON, and parse again equal.
func TestServerSettingsDecodeAndRender(t *testing.T) {
	c, err := config.Parse([]byte(settingsFile), config.FormatTOML, "f.toml")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	s := c.Server
	if s.Namespace != "prod" || s.Listen != "127.0.0.1:7000" || s.AdminAddr != config.AdminOff || s.ShutdownTimeout != 30*time.Second {
		t.Fatalf("settings = %+v", s)
	}
	if s.Timings == nil || s.Timings.NodeLeaseTTL != 10*time.Second || s.Timings.NodeCacheTTL != 750*time.Millisecond ||
		s.Timings.SweepInterval != time.Minute || s.Timings.AddressableLeaseTTL != 0 {
		t.Fatalf("timings = %+v", s.Timings)
	}
	if s.TLS == nil || s.TLS.CertFile != "/etc/orbit/tls/server.crt" || s.Log == nil || s.Log.Format != "json" {
		t.Fatalf("tls = %+v, log = %+v", s.TLS, s.Log)
	}
	again, err := config.Parse([]byte(c.String()), config.FormatTOML, "rendered.toml")
	if err != nil {
		t.Fatalf("parse of the rendering:\n%s\n%v", c.String(), err)
	}
	if !reflect.DeepEqual(again.Server, c.Server) {
		t.Fatalf("TOML round trip:\n%s\ngot %+v", c.String(), again.Server)
	}
	js, err := c.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	fromJSON, err := config.Parse(js, config.FormatJSON, "rendered.json")
	if err != nil {
		t.Fatalf("parse of the JSON rendering %s: %v", js, err)
	}
	if !reflect.DeepEqual(fromJSON.Server, c.Server) {
		t.Fatalf("JSON round trip %s: got %+v", js, fromJSON.Server)
	}
}

// Every bad server setting is an error naming its key.
func TestServerSettingsErrorsNameTheKey(t *testing.T) {
	for _, tc := range []struct{ file, want string }{
		{"[server]\nnamspace = \"x\"\n", `server: unknown key "namspace"`},
		{"[server.timings]\nnode_lease_ttl = 3\n", "server.timings.node_lease_ttl: expected duration"},
		{"[server.timings]\nnode_lease_ttl = \"3\"\n", `server.timings.node_lease_ttl: expected duration (a number with a unit: "500ms", "3s", "1m30s"), got "3"`},
		{"[server.timings]\nsweep_interval = \"-1s\"\n", "server.timings.sweep_interval: is -1s, must be >= 0"},
		{"[server.timings]\nsweep_interval = \"300h\"\n", "server.timings.sweep_interval: is 300h0m0s, more than 24h0m0s"},
		{"[server.timings]\nnode_lease_ttl = \"2s\"\nnode_cache_ttl = \"2s\"\n", "server.timings.node_cache_ttl: is 2s, must be shorter than node_lease_ttl (2s)"},
		{"[server.timings]\nnode_lease_ttl = \"2s\"\nnode_renew_interval = \"3s\"\n", "server.timings.node_renew_interval: is 3s, must be shorter than node_lease_ttl"},
		{"[server.timigns]\n", `did you mean "timings"`},
		{"[server]\nlisten = \"50051\"\n", `server.listen: is "50051", want host:port or :port`},
		{"[server]\nlisten = \":99999\"\n", `server.listen: is ":99999": the port must be a number from 0 to 65535`},
		{"[server]\nadmin_addr = \"localhost\"\n", `server.admin_addr: is "localhost", want host:port`},
		{"[server]\nnamespace = \"a b\"\n", `server.namespace: is "a b"`},
		{"[server]\nshutdown_timeout = \"soon\"\n", `server.shutdown_timeout: expected duration`},
		{"[server.tls]\ncert_file = \"c.pem\"\n", "server.tls: cert_file and key_file must be given together"},
		{"[server.tls]\nclient_ca_file = \"ca.pem\"\n", "server.tls.client_ca_file: needs cert_file and key_file"},
		{"[server.log]\nlevel = \"loud\"\n", `server.log.level: is "loud", want debug, info, warn or error`},
		{"[server.log]\nformat = \"xml\"\n", `server.log.format: is "xml", want text or json`},
	} {
		c, err := config.Parse([]byte(tc.file+serverBase), config.FormatTOML, "f.toml")
		if err == nil {
			err = c.Validate()
		}
		if !errors.Is(err, driver.ErrInvalidArgument) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error = %v, want one containing %q", tc.file, err, tc.want)
		}
	}
}

// ORBIT_SERVER_<KEY> variables override the [server] table, a sub-table's
// keys joined with "__"; an unknown one is an error naming it, and a bad
// value leaves the configuration unchanged.
func TestServerSettingsFromEnv(t *testing.T) {
	c, err := config.Parse([]byte(settingsFile), config.FormatTOML, "f.toml")
	if err != nil {
		t.Fatal(err)
	}
	err = c.ApplyEnv([]string{
		"ORBIT_SERVER_NAMESPACE=staging",
		"ORBIT_SERVER_TIMINGS__NODE_LEASE_TTL=20s",
		"ORBIT_SERVER_TIMINGS__ADDRESSABLE_LEASE_TTL=2m",
		"ORBIT_SERVER_LIMITS__MAX_STREAMS=500",
		"ORBIT_SERVER_LOG__LEVEL=warn",
		"UNRELATED=1",
	})
	if err != nil {
		t.Fatal(err)
	}
	s := c.Server
	if s.Namespace != "staging" || s.Listen != "127.0.0.1:7000" || s.Timings.NodeLeaseTTL != 20*time.Second ||
		s.Timings.AddressableLeaseTTL != 2*time.Minute || s.Timings.NodeCacheTTL != 750*time.Millisecond ||
		s.Limits == nil || s.Limits.MaxStreams != 500 || s.Log.Level != "warn" || s.Log.Format != "json" {
		t.Fatalf("after env: %+v timings %+v limits %+v log %+v", s, s.Timings, s.Limits, s.Log)
	}
	for _, tc := range []struct{ v, want string }{
		{"ORBIT_SERVER_NAMSPACE=x", `ORBIT_SERVER_NAMSPACE: unknown variable: no key of the [server] table is named "NAMSPACE"`},
		{"ORBIT_SERVER_TIMINGS__NODE_LEASE_TTL=3", `ORBIT_SERVER_TIMINGS__NODE_LEASE_TTL: expected duration`},
	} {
		before := c.Server.Namespace
		err := c.ApplyEnv([]string{"ORBIT_SERVER_NAMESPACE=changed", tc.v})
		if !errors.Is(err, driver.ErrInvalidArgument) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error = %v, want one containing %q", tc.v, err, tc.want)
		}
		if c.Server.Namespace != before {
			t.Errorf("%s: a failed ApplyEnv changed the namespace to %q", tc.v, c.Server.Namespace)
		}
	}
}
