package config_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/orbit-go/orbit/persistence/config"
	"github.com/orbit-go/orbit/persistence/driver"
)

const goodDigest = "ops:sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

// [server.auth] decodes, renders and parses back; every bad entry is
// named by key and index; a token written in clear is refused without
// being shown and the message points to `orbit-server token hash`.
func TestServerAuthTable(t *testing.T) {
	good := `[server.auth]
mode = "on"
tokens = ["` + goodDigest + `"]
token_files = ["/etc/orbit/tokens"]
grants = ["ops=admin@*", "spiffe://example.org/ns/prod/*=node@prod", "token:ci=client@default", "*=reader@default"]
` + serverBase
	c, err := config.Parse([]byte(good), config.FormatTOML, "f.toml")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	a := c.Server.Auth
	if !a.Enabled() || len(a.Tokens) != 1 || len(a.Grants) != 4 || a.TokenFiles[0] != "/etc/orbit/tokens" {
		t.Fatalf("auth = %+v", a)
	}
	again, err := config.Parse([]byte(c.String()), config.FormatTOML, "rendered.toml")
	if err != nil || len(again.Server.Auth.Grants) != 4 || len(again.Server.Auth.Tokens) != 1 {
		t.Fatalf("round trip: %v\n%s", err, c.String())
	}

	const clear = "s3cr3t-t0ken-in-clear"
	bad := `[server.auth]
mode = "maybe"
tokens = ["` + clear + `", "ops:` + clear + `", "ops:sha256:abc", "` + goodDigest + `", "` + goodDigest + `"]
token_files = [""]
grants = ["ops=admin@*", "ops=nod@x", "ops=admin", "a*b=reader@x", "=reader@x", "x=reader@"]
` + serverBase
	c, err = config.Parse([]byte(bad), config.FormatTOML, "f.toml")
	if err != nil {
		t.Fatal(err)
	}
	err = c.Validate()
	if !errors.Is(err, driver.ErrInvalidArgument) {
		t.Fatalf("Validate = %v", err)
	}
	msg := err.Error()
	for _, want := range []string{
		`server.auth.mode: must be "off" or "on", got "maybe"`,
		"server.auth.tokens[0]: not NAME:sha256:HEX",
		"orbit-server token hash",
		"server.auth.tokens[1]: not NAME:sha256:HEX",
		`server.auth.tokens[2]: token "ops": the SHA-256 must be 64 hexadecimal digits`,
		`server.auth.tokens[4]: token name "ops" is also tokens[3]`,
		"server.auth.token_files[0]: must not be empty",
		`server.auth.grants[1]: unknown role "nod"`,
		"server.auth.grants[2]:",
		"server.auth.grants[3]: \"a*b=reader@x\": '*' may only end",
		"server.auth.grants[4]:",
		`server.auth.grants[5]: namespace ""`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("missing %q in:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, clear) || strings.Contains(c.String(), clear) {
		t.Errorf("a token in clear is shown:\n%s", msg)
	}

	on := "[server.auth]\nmode = \"on\"\n" + serverBase
	c, _ = config.Parse([]byte(on), config.FormatTOML, "f.toml")
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "server.auth.grants: must not be empty") {
		t.Errorf("mode on without grants: %v", err)
	}
}
