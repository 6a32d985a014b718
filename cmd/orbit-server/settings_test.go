package main

import (
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/orbit-go/orbit/persistence/config"
)

// serveSettings parses args with serve's flags and resolves them over the
// [server] table of file (TOML, with a memory provider appended).
func serveSettings(t *testing.T, file string, args ...string) settings {
	t.Helper()
	cfg, err := config.Parse([]byte(file+"\n[providers.mem]\ntype = \"Memory\"\n"), config.FormatTOML, "f.toml")
	if err != nil {
		t.Fatal(err)
	}
	cmd := newServeCmd()
	if err := cmd.ParseFlags(args); err != nil {
		t.Fatal(err)
	}
	st, err := resolveSettings(cmd.Flags(), cfg.Server)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// Defaults, then the file, then the flags given on the command line: a flag
// left at its default does not undo the file.
func TestServeSettingsPrecedence(t *testing.T) {
	def := serveSettings(t, "")
	if def.namespace != "default" || def.listen != ":50051" || def.admin != "127.0.0.1:9464" ||
		def.timings.NodeLeaseTTL != 3*time.Second || def.shutdownTimeout != 15*time.Second || def.logLevel != "info" {
		t.Fatalf("defaults = %+v", def)
	}
	file := `
[server]
namespace = "prod"
listen = "127.0.0.1:7000"
admin_addr = "off"
[server.timings]
node_lease_ttl = "10s"
sweep_interval = "1m"
[server.log]
format = "json"
`
	st := serveSettings(t, file)
	if st.namespace != "prod" || st.listen != "127.0.0.1:7000" || st.admin != "" || st.timings.NodeLeaseTTL != 10*time.Second ||
		st.timings.SweepInterval != time.Minute || st.timings.NodeCacheTTL != 500*time.Millisecond || st.logFormat != "json" || st.logLevel != "info" {
		t.Fatalf("from the file = %+v", st)
	}
	st = serveSettings(t, file, "--namespace", "cli", "--port", "7001", "--node-lease-ttl", "4s", "--admin-addr", "127.0.0.1:9999", "--log-level", "debug")
	if st.namespace != "cli" || st.listen != "127.0.0.1:7001" || st.admin != "127.0.0.1:9999" || st.timings.NodeLeaseTTL != 4*time.Second ||
		st.timings.SweepInterval != time.Minute || st.logFormat != "json" || st.logLevel != "debug" {
		t.Fatalf("flags over the file = %+v", st)
	}
	if st := serveSettings(t, file, "--listen", "[::1]:7002", "--admin-addr", ""); st.listen != "[::1]:7002" || st.admin != "" {
		t.Fatalf("--listen and --admin-addr \"\" = %+v", st)
	}
}

// config show prints every server setting at the value serve would use,
// environment overrides included.
func TestConfigShowPrintsEffectiveServerSettings(t *testing.T) {
	path := filepath.Join(t.TempDir(), "orbit.toml")
	writeFile(t, path, "[server.timings]\nnode_lease_ttl = \"12s\"\n\n[providers.mem]\ntype = \"Memory\"\n")
	t.Setenv("ORBIT_SERVER_NAMESPACE", "from-env")
	code, out, errOut := runCLI(t, "config", "show", path)
	if code != 0 {
		t.Fatalf("config show: exit %d\n%s", code, errOut)
	}
	for _, want := range []string{
		"[server]", `namespace = "from-env"`, `listen = ":50051"`, `admin_addr = "127.0.0.1:9464"`, `shutdown_timeout = "15s"`,
		"[server.timings]", `node_lease_ttl = "12s"`, `node_renew_interval = "2s"`, `node_cache_ttl = "500ms"`,
		"[server.log]", `level = "info"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("config show lacks %q:\n%s", want, out)
		}
	}
	t.Setenv("ORBIT_SERVER_NAMESPACE", "")
	t.Setenv("ORBIT_SERVER_TIMINGS__NODE_LEASE_TTL", "soon")
	code, _, errOut = runCLI(t, "config", "validate", path)
	if code != 1 || !strings.Contains(errOut, "ORBIT_SERVER_TIMINGS__NODE_LEASE_TTL") {
		t.Fatalf("bad env value: exit %d, %q", code, errOut)
	}
}

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}} {
		code, out, errOut := runCLI(t, args...)
		if code != 0 {
			t.Fatalf("%v: exit %d, %s", args, code, errOut)
		}
		for _, want := range []string{"orbit-server ", "revision:", runtime.Version(), runtime.GOOS + "/" + runtime.GOARCH, "providers:", "Memory"} {
			if !strings.Contains(out, want) {
				t.Errorf("%v lacks %q:\n%s", args, want, out)
			}
		}
	}
}

// Usage errors exit 2 and point at --help; a command that ran and failed
// exits 1.
func TestExitCodes(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"serve", "--bogus"}, 2, "unknown flag: --bogus"},
		{[]string{"frob"}, 2, `unknown command "frob"`},
		{[]string{"config", "validate"}, 2, "accepts 1 arg(s)"},
		{[]string{"check"}, 2, "--config FILE is required"},
		{[]string{"serve", "--port", "70000", "--admin-addr", ""}, 2, "--port 70000"},
		{[]string{"serve", "--log-level", "loud", "--admin-addr", ""}, 2, `log level "loud"`},
		{[]string{"serve", "--node-lease-ttl", "soon"}, 2, "invalid argument"},
		{[]string{"migrate", "--config", "x.toml", "--from", "a"}, 2, "--to NAME are required"},
		{[]string{"config", "validate", filepath.Join(t.TempDir(), "missing.toml")}, 1, "missing.toml"},
	} {
		code, _, errOut := runCLI(t, tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d mentioning %q", tc.args, code, errOut, tc.code, tc.want)
		}
		if tc.code == 2 && !strings.Contains(errOut, "--help") && !strings.HasPrefix(tc.args[0], "migrate") {
			t.Errorf("%v: a usage error should point at --help: %q", tc.args, errOut)
		}
	}
}
