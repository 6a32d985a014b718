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
