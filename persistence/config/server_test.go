package config_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/orbit-go/orbit/persistence/config"
	"github.com/orbit-go/orbit/persistence/driver"
)

const serverBase = `
[providers.mem]
type = "Memory"
`

// The [server] table decodes strictly: an unknown key at either level is
// an error naming its path; a set sub-table survives rendering (TOML and
// JSON) and parsing again.
func TestServerTable(t *testing.T) {
	for _, tc := range []struct{ file, want string }{
		{"[server]\nbogus = 1\n", `server: unknown key "bogus"`},
		{"[server.limits]\nbogus = 1\n", `server.limits: unknown key "bogus"`},
		{"[server.auht]\n", `did you mean "auth"`},
		{"server = 3\n", "server: expected table, got integer"},
	} {
		_, err := config.Parse([]byte(tc.file+serverBase), config.FormatTOML, "f.toml")
		if !errors.Is(err, driver.ErrInvalidArgument) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error = %v, want one containing %q", tc.file, err, tc.want)
		}
	}

	c, err := config.Parse([]byte("[server.limits]\n[server.audit]\n"+serverBase), config.FormatTOML, "f.toml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Server.Limits == nil || c.Server.Audit == nil || c.Server.Auth != nil {
		t.Fatalf("server = %+v", c.Server)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	again, err := config.Parse([]byte(c.String()), config.FormatTOML, "rendered.toml")
	if err != nil {
		t.Fatalf("parse of the rendering:\n%s\n%v", c.String(), err)
	}
	if again.Server.Limits == nil || again.Server.Audit == nil || again.Server.Auth != nil {
		t.Fatalf("TOML round trip: server = %+v\n%s", again.Server, c.String())
	}
	js, err := c.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	fromJSON, err := config.Parse(js, config.FormatJSON, "rendered.json")
	if err != nil {
		t.Fatalf("parse of the JSON rendering %s: %v", js, err)
	}
	if fromJSON.Server.Limits == nil || fromJSON.Server.Audit == nil {
		t.Fatalf("JSON round trip: %s", js)
	}

	plain, err := config.Parse([]byte(serverBase), config.FormatTOML, "f.toml")
	if err != nil {
		t.Fatal(err)
	}
	if !plain.Server.IsZero() || strings.Contains(plain.String(), "server") {
		t.Fatalf("a file without [server] renders one:\n%s", plain)
	}
}

// [server.limits] keys decode, render and survive a round trip; a negative
// value, an oversized message limit or a per-caller watch limit above the
// total are refused, each naming server.limits.KEY.
func TestServerLimitsTable(t *testing.T) {
	c, err := config.Parse([]byte("[server.limits]\nmax_nodes_per_namespace = 50\nbackend_timeout = 3\nrate_per_second = 10\n"+serverBase), config.FormatTOML, "f.toml")
	if err != nil {
		t.Fatal(err)
	}
	if l := c.Server.Limits; l.MaxNodesPerNamespace != 50 || l.BackendTimeout != 3 || l.RatePerSecond != 10 || l.MaxNamespaces != 0 {
		t.Fatalf("limits = %+v", l)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	again, err := config.Parse([]byte(c.String()), config.FormatTOML, "rendered.toml")
	if err != nil || *again.Server.Limits != *c.Server.Limits {
		t.Fatalf("round trip: %+v, %v\n%s", again.Server.Limits, err, c.String())
	}
	for _, tc := range []struct{ body, want string }{
		{"max_namespaces = -1", "server.limits.max_namespaces: is -1, must be >= 0"},
		{"max_recv_message_bytes = 2000000000", "server.limits.max_recv_message_bytes: is 2000000000, must be at most"},
		{"max_watches = 4\nmax_watches_per_caller = 5", "server.limits.max_watches_per_caller: is 5, more than max_watches (4)"},
		{"max_streams = 4\nmax_streams_per_connection = 5", "server.limits.max_streams_per_connection"},
		{"rate_burst = \"x\"", "server.limits.rate_burst"},
	} {
		c, err := config.Parse([]byte("[server.limits]\n"+tc.body+"\n"+serverBase), config.FormatTOML, "f.toml")
		if err == nil {
			err = c.Validate()
		}
		if !errors.Is(err, driver.ErrInvalidArgument) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error = %v, want one containing %q", tc.body, err, tc.want)
		}
	}
}
