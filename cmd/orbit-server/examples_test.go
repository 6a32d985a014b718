package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/orbit-go/orbit/client"
	"github.com/orbit-go/orbit/persistence"
)

// exampleFiles are the configurations under examples/: the specification's
// five deployment scenarios and one per provider type.
func exampleFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("../../examples/*.toml")
	if err != nil {
		t.Fatal(err)
	}
	more, err := filepath.Glob("../../examples/providers/*.toml")
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, more...)
	if len(files) < 15 {
		t.Fatalf("examples: %d files (%v), want the 5 scenarios and the 10 provider types", len(files), files)
	}
	return files
}

// secretKey matches a key that holds a secret written in a file; examples
// pass secrets through ORBIT_PROVIDER_* variables instead.
var secretKey = regexp.MustCompile(`(?m)^\s*(password|secret_access_key|secret_key|account_key|sas_token|connection_string)\s*=`)

// shownSecret matches a secret key with its value in config show's output.
var shownSecret = regexp.MustCompile(`(?m)^\s*(password|secret_access_key|secret_key|account_key|sas_token|connection_string)\s*=\s*"([^"]*)"`)

// Every example validates offline, and none writes a secret in the file.
func TestExamplesValidate(t *testing.T) {
	for _, f := range exampleFiles(t) {
		code, out, errOut := runCLI(t, "config", "validate", f)
		if code != 0 || !strings.Contains(out, "valid") {
			t.Errorf("config validate %s: exit %d\n%s%s", f, code, out, errOut)
		}
		code, out, _ = runCLI(t, "config", "show", f)
		if code != 0 {
			t.Errorf("config show %s: exit %d", f, code)
		}
		for _, m := range shownSecret.FindAllStringSubmatch(out, -1) {
			if m[2] != "" && !strings.Contains(m[2], "REDACTED") {
				t.Errorf("%s: config show prints %s unredacted", f, m[1])
			}
		}
		if m := secretKey.FindString(readFile(t, f)); m != "" {
			t.Errorf("%s writes a secret in the file (%q): pass it as ORBIT_PROVIDER_<NAME>_<KEY>", f, strings.TrimSpace(m))
		}
	}
}

// The development example runs as written (but for its ports): a node
// joins and an addressable is placed.
func TestDevelopmentExampleServes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs orbit-server")
	}
	bin := buildServer(t)
	example, err := filepath.Abs("../../examples/development.toml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	addr := freeAddr(t)
	p := startServerProcessIn(t, dir, bin, "development", "serve", "--config", example, "--listen", addr, "--admin-addr", "off")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := dialRetry(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	n, err := c.Join(ctx, client.NodeOptions{URL: "grpc://127.0.0.1:9000", Capabilities: persistence.NodeCapabilities{AddressableTypes: []string{"Greeter"}}})
	if err != nil {
		t.Fatal(err)
	}
	ref := persistence.AddressableReference{Namespace: "default", Type: "Greeter", Key: persistence.StringKey("alice")}
	if lease, _, err := c.LocateOrPlace(ctx, ref); err != nil || lease.Node != n.ID() {
		t.Fatalf("placement on the development example: %+v, %v", lease, err)
	}
	_ = n.Leave(ctx)
	stopProcess(t, p)
	if fi, err := os.Stat(filepath.Join(dir, "data", "orbit-backup.orbit")); err != nil || fi.Size() == 0 {
		t.Fatalf("no backup in the example's data/ folder after SIGTERM: %v", err)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
